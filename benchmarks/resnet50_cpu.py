#!/usr/bin/env python
"""ResNet-50 on the CPU: resnet-opt's artifacts against what a user would otherwise run, in ONE process.

Rows (224×224, batch 1 and 8, 2 threads; random weights — latency does not depend on them):

reference paths (what a user would pick without resnet-opt)
  * torch eager FP32 (the baseline every ratio is against), and with channels_last
  * onnxruntime FP32: plain ``torch.onnx.export`` + a default onnxruntime session
  * onnxruntime ``quantize_static`` with its DEFAULT settings, calibrated on the same synthetic images
  * torchvision's quantizable resnet50 (``weights=None, quantize=False``, then fuse / prepare / calibrate / convert
    with the x86 backend — no download), loaded with the same weights
resnet-opt artifacts
  * export stage: ONNX FP32 and TorchScript (validated artifact folders)
  * quantize stage: INT8 ONNX (and the PyTorch-target INT8 TorchScript when that stage provides it)

Every row derives from the same random ResNet-50, so top-1 agreement with torch eager FP32 on the synthetic images is
also reported. Timing goes through resnet_opt.bench (warm-up, then interleaved rounds; p50 reported).

    flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/resnet50_cpu.py
    .venv/bin/python benchmarks/resnet50_cpu.py --quick     # smoke run: 64 px, few runs, nothing written to results/
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resnet_opt.bench import BenchConfig, TimingConfig, run_benchmark  # noqa: E402
from resnet_opt.bench.report import environment_lines, plot, speedup  # noqa: E402
from resnet_opt.bench.variants import Variant, variant_from_model, variant_from_path  # noqa: E402
from resnet_opt.core.artifact import atomic_write_text, to_json  # noqa: E402
from resnet_opt.core.manifest import write_manifest  # noqa: E402
from resnet_opt.core.env import environment  # noqa: E402

warnings.filterwarnings("ignore")

# REFERENCE.md (2 cores with AVX-512 VNNI and AMX; batch 1; median of 20): for context only, another CPU
REFERENCE_MS = {
    "torch-eager-fp32": 85.8, "torch-eager-fp32-cl": 70.7, "ort-fp32-plain": 50.9, "tv-quant-int8": 17.3,
    "ours-ts-fp32": 71.0, "ours-ts-int8-fx": 9.8,
}

LABELS = {
    "torch-eager-fp32": ("reference", "torch eager FP32"),
    "torch-eager-fp32-cl": ("reference", "torch eager FP32, channels_last"),
    "ort-fp32-plain": ("reference", "onnxruntime FP32 (torch.onnx.export + default session)"),
    "ort-qstatic-default": ("reference", "onnxruntime quantize_static, default settings (QDQ, MinMax, per-tensor)"),
    "tv-quant-int8": ("reference", "torchvision quantizable resnet50, x86 INT8 (eager)"),
    "ours-onnx-fp32": ("resnet-opt", "export stage: ONNX FP32 artifact"),
    "ours-ts-fp32": ("resnet-opt", "export stage: TorchScript FP32 artifact"),
    "ours-onnx-int8": ("resnet-opt", "quantize stage: INT8 ONNX artifact"),
    "ours-ts-int8-fx": ("resnet-opt", "quantize stage: PyTorch INT8 TorchScript artifact"),
}


class ChannelsLast(nn.Module):
    """What a user does for channels_last: the model and its input in NHWC memory format."""

    def __init__(self, m: nn.Module):
        super().__init__()
        self.m = m.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m(x.contiguous(memory_format=torch.channels_last))


def calib_batches(size: int, n: int) -> list[torch.Tensor]:
    from resnet_opt.data import build_loader

    return [x for x, _ in build_loader(f"synthetic:{size}", "calib", batch_size=8, limit=n)]


def plain_onnx(model: nn.Module, folder: Path, size: int) -> Path:
    """What a user writes: torch.onnx.export(..., dynamo=False) with a dynamic batch axis, opset 17."""
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "model.onnx"
    torch.onnx.export(model.eval(), (torch.randn(1, 3, size, size),), str(f), input_names=["input"],
                      output_names=["logits"], opset_version=17, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      dynamo=False)
    write_manifest(folder, {"kind": "onnx", "file": f.name, "precision": "fp32", "stage": "reference",
                            "input": {"name": "input", "shape": [-1, 3, size, size]},
                            "source": {"trained": False, "num_classes": 1000}})
    return folder


def ort_quantize_static_default(fp32: Path, folder: Path, calib: list[torch.Tensor]) -> Path:
    """onnxruntime.quantization.quantize_static with every setting left at its default."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"input": x.numpy()} for x in calib])

        def get_next(self):
            return next(self.it, None)

    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "model_int8.onnx"
    quantize_static(str(fp32 / "model.onnx"), str(out), Reader())
    write_manifest(folder, {"kind": "onnx", "file": out.name, "precision": "int8", "stage": "reference",
                            "input": {"name": "input", "shape": [-1, 3, int(calib[0].shape[-1]), int(calib[0].shape[-1])]},
                            "source": {"trained": False, "num_classes": 1000}})
    return folder


def torchvision_quantized(state_dict: dict[str, torch.Tensor], calib: list[torch.Tensor]) -> nn.Module:
    """torchvision's quantizable resnet50 with our weights: fuse, prepare, calibrate, convert (x86 backend)."""
    import torch.ao.quantization as tq
    from torchvision.models.quantization import resnet50 as qresnet50

    torch.backends.quantized.engine = "x86"
    m = qresnet50(weights=None, quantize=False).eval()
    missing, unexpected = m.load_state_dict(state_dict, strict=False)
    if [k for k in missing if not k.endswith("num_batches_tracked")] or unexpected:
        raise RuntimeError(f"state dict mismatch: missing {missing[:3]}, unexpected {unexpected[:3]}")
    m.fuse_model(is_qat=False)
    m.qconfig = tq.get_default_qconfig("x86")
    tq.prepare(m, inplace=True)
    with torch.inference_mode():
        for x in calib:
            m(x)
    tq.convert(m, inplace=True)
    return m.eval()


# ------------------------------------------------------------------ resnet-opt stages (composed, not re-implemented)
def ours_export(source: Any, folder: Path, fmt: str) -> Path:
    from resnet_opt.pipeline.export import export_artifact

    export_artifact(fmt, out=folder, source=source)
    return folder


def ours_quantize(folder: Path, size: int, calib_n: int, target: str, threads: int) -> Path:
    """The quantize stage on the same random ResNet-50 (``--depth 50`` re-seeded exactly as the other rows were
    built), calibrated on the same synthetic images (the ``synthetic`` data spec's calib split)."""
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

    torch.manual_seed(0)  # the stage builds ResNet(50) itself: same seed, same constructor -> same weights
    quantize_model(out=folder, depth=50, config=QuantizeConfig(target=target, data=f"synthetic:{size}",
                                                              calib_size=calib_n, latency_runs=3, threads=threads))
    return folder


def build_variants(size: int, calib_n: int, work: Path, log: Callable[[str], None],
                   threads: int = 2) -> tuple[list[Variant], dict[str, str]]:
    from resnet_opt.resnet import ModelSource, ResNet
    from resnet_opt.data import PRESETS, Preprocessing

    missing: dict[str, str] = {}
    variants: list[Variant] = []
    pre = Preprocessing(resize=round(size * 256 / 224), crop=size, name=f"imagenet-v1@{size}").to_dict() \
        if size != 224 else PRESETS["v1"].to_dict()
    torch.manual_seed(0)
    model = ResNet(50, num_classes=1000).eval()
    src = ModelSource(model, "random", None, None, size, pre, None, False)
    calib = calib_batches(size, calib_n)

    def add(name: str, make: Callable[[], Variant]) -> None:
        t0 = time.perf_counter()
        try:
            v = make()
            v.name = name
            variants.append(v)
            log(f"built {name} in {time.perf_counter() - t0:.1f}s")
        except Exception as e:  # noqa: BLE001 - a row that cannot be built is reported, the others go on
            why = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            missing[name] = why
            log(f"could not build {name}: {why}")
            if os.environ.get("RESNET_OPT_DEBUG"):
                traceback.print_exc()

    def eager(m: nn.Module, prec: str = "fp32") -> Variant:
        return variant_from_model(m, "x", input_size=size, num_classes=1000, trained=False, precision=prec)

    add("torch-eager-fp32", lambda: eager(model))
    add("torch-eager-fp32-cl", lambda: eager(ChannelsLast(_clone(model))))
    add("ort-fp32-plain", lambda: variant_from_path(plain_onnx(model, work / "ort-fp32-plain", size)))
    add("ort-qstatic-default",
        lambda: variant_from_path(ort_quantize_static_default(work / "ort-fp32-plain", work / "ort-qstatic", calib)))
    add("tv-quant-int8", lambda: eager(torchvision_quantized(model.state_dict(), calib), "int8"))
    add("ours-onnx-fp32", lambda: variant_from_path(ours_export(src, work / "ours-onnx-fp32", "onnx")))
    add("ours-ts-fp32", lambda: variant_from_path(ours_export(src, work / "ours-ts-fp32", "torchscript")))
    add("ours-onnx-int8", lambda: variant_from_path(ours_quantize(work / "ours-onnx-int8", size, calib_n, "onnx", threads)))
    add("ours-ts-int8-fx", lambda: variant_from_path(ours_quantize(work / "ours-ts-int8", size, calib_n, "torch", threads)))
    for v in variants:
        v.trained = False
    return variants, missing


def _clone(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).eval()


def render(result: Any, missing: dict[str, str], args: argparse.Namespace, command: str) -> str:
    bss = result.config["batch_sizes"]
    md = ["# ResNet-50 on the CPU: resnet-opt artifacts vs what a user would otherwise run", ""]
    md += [f"Measured {result.created} in one process ({result.seconds:.0f} s of measurement). Command:", "",
           "```", command, "```", "", "## Machine", ""]
    md += environment_lines(result.environment)
    md += ["", "## Method", "",
           f"- ResNet-50, {args.size}×{args.size}, random weights (seed 0; latency does not depend on them), 1000 classes; "
           f"torch.set_num_threads({args.threads}) and onnxruntime intra_op_num_threads={args.threads}.",
           f"- Every row comes from the same model; INT8 rows are calibrated on the same {args.calib} synthetic N(0,1) "
           "images (the `synthetic` data spec, calib split).",
           f"- Timing: resnet_opt.bench — {result.config['timing']['warmup']} warm-up runs, then up to "
           f"{result.config['timing']['iterations']} timed runs per batch size in {result.config['timing']['rounds']} "
           f"rounds interleaved across rows (≤ {result.config['timing']['time_budget_s']} s per row and batch size), "
           "host tensor in, logits out. p50 reported; ratios are torch eager FP32 p50 / row p50 at the same batch size, "
           "in this same run.",
           f"- Agreement: top-1 agreement with torch eager FP32 on {result.config['agreement_images']} other synthetic "
           "images, and the largest absolute logit difference (relative to the largest FP32 logit). "
           "A random-weight ResNet-50 predicts the same class for "
           "almost every input, so top-1 agreement here only catches a broken model; the logit difference is the "
           "finer check. Accuracy on real data is measured by the quantize stage (its own results file) and by "
           "`resnet-opt pipeline` on digits.",
           ""]
    md += ["## Results", ""]
    head = ["row", "by", "precision"]
    for bs in bss:
        head += [f"batch {bs} p50 ms", f"× vs eager @{bs}"]
    head += [f"img/s @{max(bss)}", "agree %", "max Δ logit (rel.)", "ref. ms (VNNI/AMX CPU, batch 1)"]
    md.append("| " + " | ".join(head) + " |")
    md.append("|" + "---|" * len(head))
    rows_by = {r.variant: r for r in result.rows if r.status == "ok"}
    out_rows = []
    for name, (by, label) in LABELS.items():
        r = rows_by.get(name)
        if r is None:
            continue
        cells = [label, by, r.precision or ""]
        for bs in bss:
            st = r.timing(bs)
            sp = speedup(result, r, bs)
            cells += [f"{st.p50_ms:.1f}" if st else "—", f"{sp:.2f}×" if sp else "—"]
        st = r.timing(max(bss))
        cells += [f"{st.throughput_ips:.1f}" if st else "—",
                  f"{r.agreement:.1f}" if r.agreement is not None else "—",
                  (f"{r.max_abs_diff:.2g}" + (f" ({100 * r.max_rel_diff:.2g}%)" if r.max_rel_diff is not None else ""))
                  if r.max_abs_diff is not None else "—",
                  f"{REFERENCE_MS[name]}" if name in REFERENCE_MS else ""]
        md.append("| " + " | ".join(cells) + " |")
        out_rows.append(name)
    problems = [(r.variant, f"{r.backend}: {r.status} — {r.reason}") for r in result.rows if r.status != "ok"
                and r.backend != "-" and not (result.backends or {}).get(r.backend)]
    if missing or problems:
        md += ["", "## Rows not measured", ""]
        for name, why in missing.items():
            md.append(f"- {LABELS.get(name, ('', name))[1]}: could not be built — {why}")
        for name, why in problems:
            md.append(f"- {LABELS.get(name, ('', name))[1]}: {why}")
    from resnet_opt.bench import unavailable_reason

    gpu_why = {b: unavailable_reason(b) for b in ("torch-cuda", "ort-cuda", "ort-tensorrt")}
    md += ["", "## Not measured on this machine", ""]
    if any(gpu_why.values()):
        md.append("- CUDA / TensorRT rows: this machine has no usable GPU, so they could not be measured "
                  "(`resnet-opt bench --backends cuda,tensorrt` reports them as skipped: "
                  + "; ".join(f"{b}: {w}" for b, w in gpu_why.items() if w) + ").")
    else:
        md.append("- A GPU is present; run `resnet-opt bench ARTIFACTS --backends cuda,tensorrt` for the GPU rows.")
    md.append("- Pruned ResNet-50 rows (REFERENCE.md's Torch-Pruning lines) belong to the prune stage's own "
              "benchmark (benchmarks/results/prune_r50_latency.md).")
    cpu = result.environment.get("cpu") or {}
    if not cpu.get("vnni"):
        md += ["", "## Reading these numbers", "",
               f"This CPU ({cpu.get('model')}) has AVX2 but no AVX-512, VNNI or AMX. INT8 convolutions then run "
               "without the dot-product instructions that make them 4–8× faster than FP32 on VNNI/AMX machines, "
               "so INT8 speed-ups here are far below the REFERENCE.md figures (taken on a VNNI/AMX CPU), and "
               "onnxruntime's U8S8 path needs `reduce_range` to avoid saturation. The right-hand column quotes "
               "REFERENCE.md for context only: it is another CPU, not a measurement of this run."]
    md += ["", "![agreement vs latency](resnet50_cpu.png)"]
    md += ["", "Full per-row statistics (p90/p99/min/max, first inference, load time) are in the JSON file."]
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--iterations", type=int, default=30, help="timed runs per row and batch size (at most)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time-budget", type=float, default=12.0, help="seconds per row and batch size")
    ap.add_argument("--calib", type=int, default=32, help="synthetic calibration images")
    ap.add_argument("--agreement-images", type=int, default=16)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for resnet50_cpu.md/.json")
    ap.add_argument("--quick", action="store_true", help="smoke run: 64 px, 2 runs, results in a temp folder")
    ap.add_argument("--rerender", action="store_true",
                    help="re-write the .md and .png from the existing .json in --out (no measurement)")
    args = ap.parse_args(argv)
    if args.rerender:
        from resnet_opt.bench.harness import result_from_dict

        out = Path(args.out)
        data = json.loads((out / "resnet50_cpu.json").read_text())
        result = result_from_dict(data["result"])
        for k in ("size", "threads", "calib"):
            setattr(args, k, data.get("args", {}).get(k, getattr(args, k)))
        atomic_write_text(out / "resnet50_cpu.md", render(result, data.get("missing") or {}, args, data["command"]))
        plot(result, out / "resnet50_cpu.png")
        return 0
    if args.quick:
        args.size, args.iterations, args.warmup, args.rounds, args.time_budget = 64, 2, 1, 1, 2.0
        args.calib, args.agreement_images = 8, 8
        args.out = tempfile.mkdtemp(prefix="resnet50-cpu-quick-")
    command = "flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/resnet50_cpu.py " + \
        " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    torch.set_num_threads(args.threads)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="resnet50-cpu-") as d:
        variants, missing = build_variants(args.size, args.calib, Path(d), log, args.threads)
        log(f"built {len(variants)} rows in {time.perf_counter() - t0:.0f}s; measuring ...")
        cfg = BenchConfig(backends=["cpu"], batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
                          threads=args.threads, data=f"synthetic:{args.size}", agreement_images=args.agreement_images,
                          eval_batch_size=8, reference="torch-eager-fp32",
                          timing=TimingConfig(warmup=args.warmup, iterations=args.iterations, rounds=args.rounds,
                                              time_budget_s=args.time_budget))
        result = run_benchmark(variants, cfg, log=log, command=command,
                               title=f"ResNet-50 {args.size}px CPU, {args.threads} threads")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = render(result, missing, args, command)
    data = {"command": command, "args": vars(args), "environment": environment(), "labels": LABELS, "missing": missing,
            "reference_ms_vnni_amx_cpu": REFERENCE_MS, "total_seconds": time.perf_counter() - t0,
            "result": result}
    atomic_write_text(out / "resnet50_cpu.json", to_json(data) + "\n")
    atomic_write_text(out / "resnet50_cpu.md", md)
    plot(result, out / "resnet50_cpu.png")
    print(md)
    log(f"wrote {out / 'resnet50_cpu.md'} and .json ({time.perf_counter() - t0:.0f}s total)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
