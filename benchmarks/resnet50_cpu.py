#!/usr/bin/env python
"""ResNet-50 on the CPU: resnet-opt's artifacts against what a user would otherwise run, in ONE process.

Rows (224×224, batch 1 and 8, 2 threads; random weights — latency does not depend on them):

reference paths (what a user would pick without resnet-opt)
  * torch eager FP32 (the baseline every ratio is against), and with channels_last
  * onnxruntime FP32: plain ``torch.onnx.export`` + a default onnxruntime session
  * onnxruntime ``quantize_static`` with its DEFAULT settings, calibrated on the same synthetic images
  * torchvision's quantizable resnet50 (``weights=None, quantize=False``, then fuse / prepare / calibrate / convert
    with the x86 backend — no download), loaded with the same weights
  * OpenVINO (optional extra) running the FP32 ONNX model and the quantize_static QDQ model
  * NNCF, OpenVINO's own quantizer (optional extra): ``nncf.quantize`` with every setting at its default on the plain
    ONNX export converted by ``openvino.convert_model``, calibrated on the same synthetic images, run by OpenVINO
resnet-opt artifacts
  * export stage: ONNX FP32 and TorchScript (validated artifact folders); the ONNX FP32 model also on OpenVINO, with
    an explicit f32 precision hint, and with the bf16 hint (skipped with the reason on CPUs without BF16)
  * export stage: the .pt2 FP32 package (AOTInductor)
  * quantize stage: INT8 ONNX on onnxruntime and on OpenVINO, the default PyTorch target (PT2E INT8 .pt2) and the
    legacy FX INT8 TorchScript (``--target torchscript-fx``)
  * prune stage 0.5 (l2, no fine-tune: latency only) -> quantize stage: INT8 ONNX on onnxruntime and OpenVINO

Every row also gets the roofline figures (resnet_opt.bench.roofline): achieved GMAC/s = MACs x batch / p50 and the
fraction of this CPU's measured GEMM peak (U8S8 for INT8 rows, FP32 otherwise); the report checks issue 15's targets.

Every row derives from the same random ResNet-50, so top-1 agreement with torch eager FP32 on the synthetic images is
also reported. Timing goes through resnet_opt.bench (warm-up, then interleaved rounds; p50 reported).

    flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/resnet50_cpu.py
    .venv/bin/python benchmarks/resnet50_cpu.py --quick     # smoke run: 64 px, few runs, nothing written to results/
    flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/resnet50_cpu.py --tag auto   # another CPU: its own files
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
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

from common import roofline_sentence, torchvision_quantized  # noqa: E402
from resnet_opt.bench import BenchConfig, TimingConfig, run_benchmark  # noqa: E402
from resnet_opt.bench.report import environment_lines, plot, speedup  # noqa: E402
from resnet_opt.bench.roofline import share_cell  # noqa: E402
from resnet_opt.bench.timing import paired_verdict, verdict_word  # noqa: E402
from resnet_opt.bench.variants import Variant, variant_from_model, variant_from_path  # noqa: E402
from resnet_opt.core.artifact import atomic_write_text, to_json  # noqa: E402
from resnet_opt.core.manifest import MANIFEST_FORMAT, Manifest, write_manifest  # noqa: E402
from resnet_opt.core.env import environment  # noqa: E402
from resnet_opt.resnet import ModelSpec  # noqa: E402
from resnet_opt.pipeline.export import ExportConfig  # noqa: E402
from resnet_opt.pipeline.prune import PruneConfig  # noqa: E402

warnings.filterwarnings("ignore")

# docs/reference-figures.md (2 cores with AVX-512 VNNI and AMX; batch 1; median of 20): for context only, another CPU
REFERENCE_MS = {
    "torch-eager-fp32": 85.8, "torch-eager-fp32-cl": 70.7, "ort-fp32-plain": 50.9, "tv-quant-int8": 17.3,
    "ours-ts-fp32": 71.0, "ours-ts-int8-fx": 9.8,
}

LABELS = {
    ("torch-eager-fp32", "torch-cpu"): ("reference", "torch eager FP32"),
    ("torch-eager-fp32-cl", "torch-cpu"): ("reference", "torch eager FP32, channels_last"),
    ("ort-fp32-plain", "ort-cpu"): ("reference", "onnxruntime FP32 (torch.onnx.export + default session)"),
    ("ours-onnx-fp32", "openvino-cpu"): ("reference", "OpenVINO FP32 ONNX model (f32 hint)"),
    ("ours-onnx-fp32-bf16", "openvino-cpu"): ("reference", "OpenVINO FP32 ONNX model, bf16 hint"),
    ("ort-qstatic-default", "ort-cpu"): ("reference", "onnxruntime quantize_static, default settings (QDQ, MinMax, per-tensor)"),
    ("ort-qstatic-default", "openvino-cpu"): ("reference", "OpenVINO running that quantize_static QDQ model"),
    ("nncf-ptq", "openvino-cpu"): ("reference", "NNCF PTQ (nncf.quantize defaults) on OpenVINO"),
    ("tv-quant-int8", "torch-cpu"): ("reference", "torchvision quantizable resnet50, x86 INT8 (eager)"),
    ("ours-onnx-fp32", "ort-cpu"): ("resnet-opt", "export stage: ONNX FP32 artifact"),
    ("ours-ts-fp32", "torchscript-cpu"): ("resnet-opt", "export stage: TorchScript FP32 artifact"),
    ("ours-onnx-int8", "ort-cpu"): ("resnet-opt", "quantize stage: INT8 ONNX artifact (onnxruntime)"),
    ("ours-onnx-int8", "openvino-cpu"): ("resnet-opt", "quantize stage: INT8 ONNX artifact on OpenVINO"),
    ("ours-pt2-fp32", "pt2-cpu"): ("resnet-opt", "export stage: .pt2 FP32 package (AOTInductor)"),
    ("ours-pt2-int8", "pt2-cpu"): ("resnet-opt", "quantize stage: PT2E INT8 .pt2 package (default torch target)"),
    ("ours-ov-int8", "openvino-cpu"): ("resnet-opt", "quantize stage: --target openvino (NNCF) IR on OpenVINO"),
    ("ours-ts-int8-fx", "torchscript-cpu"): ("resnet-opt", "quantize stage: legacy FX INT8 TorchScript (torchscript-fx)"),
    ("ours-pruned50-int8", "ort-cpu"): ("resnet-opt", "prune 0.5 -> quantize: INT8 ONNX (onnxruntime)"),
    ("ours-pruned50-int8", "openvino-cpu"): ("resnet-opt", "prune 0.5 -> quantize: INT8 ONNX on OpenVINO"),
}
# issue 15's peers for "our fastest INT8 row is no slower than every peer row" (unpruned, like ours)
PEER_INT8 = [("tv-quant-int8", "torch-cpu"), ("ort-qstatic-default", "ort-cpu"), ("ort-qstatic-default", "openvino-cpu"),
             ("nncf-ptq", "openvino-cpu")]
OURS_INT8 = [("ours-onnx-int8", "ort-cpu"), ("ours-onnx-int8", "openvino-cpu"), ("ours-pt2-int8", "pt2-cpu"),
             ("ours-ts-int8-fx", "torchscript-cpu"), ("ours-ov-int8", "openvino-cpu")]
PRUNED_INT8 = [("ours-pruned50-int8", "ort-cpu"), ("ours-pruned50-int8", "openvino-cpu")]


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
    _write_manifest(folder, {"kind": "onnx", "file": f.name, "precision": "fp32", "stage": "reference",
                            "input": {"name": "input", "shape": [-1, 3, size, size]},
                            "source": {"trained": False, "num_classes": 1000}})
    return folder


def _write_manifest(folder: Path, fields: dict[str, Any]) -> None:
    """The manifest of a peer row's folder (written by this script, as a user's files would be wrapped)."""
    write_manifest(folder, Manifest.from_dict({"format": MANIFEST_FORMAT, **fields}, where=f"manifest for {folder}"))


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
    _write_manifest(folder, {"kind": "onnx", "file": out.name, "precision": "int8", "stage": "reference",
                            "input": {"name": "input", "shape": [-1, 3, int(calib[0].shape[-1]), int(calib[0].shape[-1])]},
                            "source": {"trained": False, "num_classes": 1000}})
    return folder


def nncf_ptq_default(fp32: Path, folder: Path, calib: list[torch.Tensor]) -> Path:
    """What a user of OpenVINO's own quantizer writes: ``openvino.convert_model`` on the plain ONNX export, then
    ``nncf.quantize`` with every setting at its default (preset, fast bias correction, subset size), calibrated on
    the same synthetic images; saved with ``openvino.save_model``'s defaults."""
    import nncf
    import openvino as ov

    q = nncf.quantize(ov.convert_model(str(fp32 / "model.onnx")), nncf.Dataset(
        [x[i:i + 1].numpy() for x in calib for i in range(len(x))]))  # one image per item, as a user feeds it
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(q, str(folder / "model.xml"))
    size = int(calib[0].shape[-1])
    _write_manifest(folder, {"kind": "openvino", "file": "model.xml", "precision": "int8", "stage": "reference",
                            "files": [{"path": "model.xml", "role": "model"}, {"path": "model.bin", "role": "weights"}],
                            "input": {"name": "input", "shape": [-1, 3, size, size]},
                            "source": {"trained": False, "num_classes": 1000},
                            "openvino": {"inference_precision_hint": "f32", "version": ov.__version__.split("-")[0]},
                            "quantization": {"tool": "nncf.quantize (defaults)", "nncf": nncf.__version__}})
    return folder


# ------------------------------------------------------------------ resnet-opt stages (composed, not re-implemented)
def ours_export(source: Any, folder: Path, fmt: str) -> Path:
    from resnet_opt.pipeline.export import export_artifact

    export_artifact(ExportConfig(fmt, out=folder), loaded=source)
    return folder


def ours_quantize(folder: Path, size: int, calib_n: int, target: str, threads: int) -> Path:
    """The quantize stage on the same random ResNet-50 (``--depth 50`` re-seeded exactly as the other rows were
    built), calibrated on the same synthetic images (the ``synthetic`` data spec's calib split)."""
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

    torch.manual_seed(0)  # the stage builds ResNet(50) itself: same seed, same constructor -> same weights
    quantize_model(QuantizeConfig(out=folder, source=ModelSpec(depth=50), target=target, data=f"synthetic:{size}",
                   calib_size=calib_n, latency_runs=3, threads=threads))
    return folder


def ours_pruned_int8(folder: Path, size: int, calib_n: int, threads: int) -> Path:
    """The prune stage (ratio 0.5, l2 importance, no data: latency only) on the same random ResNet-50, then the
    quantize stage on the pruned model folder, calibrated on the same synthetic images."""
    from resnet_opt.pipeline.prune import prune_model
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

    torch.manual_seed(0)
    prune_model(
        PruneConfig(out=folder / "pruned", ratio=0.5, input_size=size, latency_runs=1, source=ModelSpec(depth=50))
    )
    quantize_model(QuantizeConfig(out=folder / "int8", source=ModelSpec(model_dir=folder / "pruned"), target="onnx",
                   data=f"synthetic:{size}", calib_size=calib_n, latency_runs=3, threads=threads))
    return folder / "int8"


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

    def on(v: Variant, *backends: str, hint: str | None = None) -> Variant:
        v.backends = list(backends)
        v.inference_precision = hint
        return v

    add("torch-eager-fp32", lambda: eager(model))
    add("torch-eager-fp32-cl", lambda: eager(ChannelsLast(_clone(model))))
    add("ort-fp32-plain", lambda: on(variant_from_path(plain_onnx(model, work / "ort-fp32-plain", size)), "ort-cpu"))
    add("ort-qstatic-default", lambda: on(variant_from_path(
        ort_quantize_static_default(work / "ort-fp32-plain", work / "ort-qstatic", calib)), "ort-cpu", "openvino-cpu"))
    add("nncf-ptq", lambda: on(variant_from_path(nncf_ptq_default(work / "ort-fp32-plain", work / "nncf-ptq", calib)),
                               "openvino-cpu"))
    add("tv-quant-int8", lambda: eager(torchvision_quantized(model.state_dict(), calib), "int8"))
    add("ours-onnx-fp32", lambda: on(variant_from_path(ours_export(src, work / "ours-onnx-fp32", "onnx")),
                                     "ort-cpu", "openvino-cpu"))
    if (work / "ours-onnx-fp32").is_dir():
        add("ours-onnx-fp32-bf16", lambda: on(variant_from_path(work / "ours-onnx-fp32"), "openvino-cpu", hint="bf16"))
    add("ours-ts-fp32", lambda: variant_from_path(ours_export(src, work / "ours-ts-fp32", "torchscript")))
    add("ours-onnx-int8", lambda: on(variant_from_path(ours_quantize(work / "ours-onnx-int8", size, calib_n, "onnx",
                                                                     threads)), "ort-cpu", "openvino-cpu"))
    add("ours-pt2-fp32", lambda: variant_from_path(ours_export(src, work / "ours-pt2-fp32", "pt2")))
    add("ours-pt2-int8", lambda: variant_from_path(ours_quantize(work / "ours-pt2-int8", size, calib_n, "torch", threads)))
    add("ours-ts-int8-fx", lambda: variant_from_path(ours_quantize(work / "ours-ts-int8", size, calib_n, "torchscript-fx",
                                                                   threads)))
    add("ours-ov-int8", lambda: on(variant_from_path(ours_quantize(work / "ours-ov-int8", size, calib_n, "openvino",
                                                                   threads)), "openvino-cpu"))
    add("ours-pruned50-int8", lambda: on(variant_from_path(ours_pruned_int8(work / "ours-pruned50", size, calib_n,
                                                                            threads)), "ort-cpu", "openvino-cpu"))
    from resnet_opt.resnet import count_macs

    full_macs = count_macs(model, size)
    for v in variants:
        v.trained = False
        if v.name != "ours-pruned50-int8":
            v.macs = full_macs  # every other row is the same ResNet-50 (quantized modules cannot be traced)
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
           "The pruned rows are another model (half the channels removed from the random weights, no fine-tune), so "
           "they have no agreement figure. A random-weight ResNet-50 predicts the same class for "
           "almost every input, so top-1 agreement here only catches a broken model; the logit difference is the "
           "finer check. Accuracy on real data is measured by the quantize stage (its own results file) and by "
           "`resnet-opt pipeline` on digits.",
           ""]
    rf = result.extra.get("roofline") or {}
    peaks = rf.get("peaks") or {}
    rf_rows = {(r["variant"], r["backend"], r["batch_size"]): r for r in rf.get("rows") or []}
    if peaks:
        md += [roofline_sentence(peaks), ""]
    md += ["## Results", ""]
    head = ["row", "by", "backend", "ran as"]
    for bs in bss:
        head += [f"b{bs} ms", f"× eager @{bs}"]
    pb = bss[:1] + bss[-1:] if len(bss) > 1 else bss[:1]  # share of the peak at batch 1 and the largest batch
    head += [f"GMAC/s @{b}" for b in bss[:1]] + [f"% peak @{b}" for b in pb]
    head += ["agree %", "max Δ logit (rel.)", "ref. ms (VNNI/AMX CPU, b1)"]
    md.append("| " + " | ".join(head) + " |")
    md.append("|" + "---|" * len(head))
    rows_by = {(r.variant, r.backend): r for r in result.rows if r.status == "ok"}
    for key, (by, label) in LABELS.items():
        r = rows_by.get(key)
        if r is None:
            continue
        cells = [label, by, key[1], r.precision or ""]
        for bs in bss:
            st = r.timing(bs)
            sp = speedup(result, r, bs)
            cells += [f"{st.p50_ms:.1f}" if st else "—", f"{sp:.2f}×" if sp else "—"]
        q = rf_rows.get((key[0], key[1], bss[0])) or {}
        cells += [f"{q['gmacs_per_s']:.0f}" if q.get("gmacs_per_s") is not None else "—"]
        cells += [share_cell(rf_rows.get((key[0], key[1], b)) or {}) for b in pb]
        if key in PRUNED_INT8:  # half the channels removed without fine-tuning: another model, nothing to agree with
            cells += ["n/a (pruned)", "n/a (pruned)"]
        else:
            cells += [f"{r.agreement:.1f}" if r.agreement is not None else "—",
                      (f"{r.max_abs_diff:.2g}" + (f" ({100 * r.max_rel_diff:.2g}%)" if r.max_rel_diff is not None else ""))
                      if r.max_abs_diff is not None else "—"]
        cells.append(f"{REFERENCE_MS[key[0]]}" if key[0] in REFERENCE_MS and key[1] != "openvino-cpu" else "")
        md.append("| " + " | ".join(cells) + " |")
    md += targets_markdown(result, rows_by, rf_rows, bss)
    problems = [(r.variant, r.backend, f"{r.status} — {r.reason}") for r in result.rows if r.status != "ok"
                and r.backend != "-" and not (result.backends or {}).get(r.backend)]
    unavailable = {b: why for b, why in (result.backends or {}).items() if why and b in ("openvino-cpu",)}
    if missing or problems or unavailable:
        md += ["", "## Rows not measured", ""]
        for name, why in missing.items():
            md.append(f"- {name}: could not be built — {why}")
        for name, backend, why in problems:
            md.append(f"- {LABELS.get((name, backend), ('', name + ' on ' + backend))[1]}: {why}")
        for b, why in unavailable.items():
            md.append(f"- every {b} row: {why}")
    from resnet_opt.bench import unavailable_reason

    gpu_why = {b: unavailable_reason(b) for b in ("torch-cuda", "ort-cuda", "ort-tensorrt")}
    md += ["", "## Not measured on this machine", ""]
    if any(gpu_why.values()):
        md.append("- CUDA / TensorRT rows: this machine has no usable GPU, so they could not be measured "
                  "(`resnet-opt bench --backends cuda,tensorrt` reports them as skipped: "
                  + "; ".join(f"{b}: {w}" for b, w in gpu_why.items() if w) + ").")
    else:
        md.append("- A GPU is present; run `resnet-opt bench ARTIFACTS --backends cuda,tensorrt` for the GPU rows.")
    from resnet_opt.bench.cpu_notes import reading_notes

    cpu = result.environment.get("cpu") or {}
    md += ["", "## Reading these numbers", ""] + reading_notes(cpu, peaks or None)
    md += ["", "The right-hand column (ref. ms) quotes docs/reference-figures.md for context only: another CPU, not a "
               "measurement of this run."]
    png = "resnet50_cpu" + (f"-{args.tag}" if getattr(args, "tag", None) else "") + ".png"
    md += ["", f"![agreement vs latency]({png})"]
    md += ["", "Full per-row statistics (p90/p99/min/max, first inference, load time) are in the JSON file."]
    return "\n".join(md) + "\n"


def _stats(rows_by: dict, key: tuple[str, str], bs: int) -> Any:
    r = rows_by.get(key)
    return r.timing(bs) if r is not None else None


def _p50(rows_by: dict, key: tuple[str, str], bs: int) -> float | None:
    st = _stats(rows_by, key, bs)
    return st.p50_ms if st else None


def paired(rows_by: dict, a: tuple[str, str], b: tuple[str, str], bs: int) -> list[float] | None:
    """Round-by-round ratios a / b of two rows (the harness interleaves the rows round by round, so each round's two
    medians were taken minutes apart at most); None without per-round data for both."""
    sa, sb = _stats(rows_by, a, bs), _stats(rows_by, b, bs)
    ra, rb = (sa.round_p50_ms if sa else None), (sb.round_p50_ms if sb else None)
    if not ra or not rb or len(ra) != len(rb):
        return None
    return [x / y for x, y in zip(ra, rb) if y > 0]


def _paired_text(ratios: list[float] | None, what: str, invert: bool = False) -> str:
    if not ratios:
        return ""
    shown = [1 / x for x in ratios] if invert else ratios
    return (f"; paired over {len(ratios)} rounds: {what} {statistics.median(shown):.3f} (rounds "
            f"{min(shown):.3f}-{max(shown):.3f})")


def check_targets(result: Any, rows_by: dict, rf_rows: dict, bss: list[int]) -> list[dict[str, Any]]:
    """Issue 15's targets, judged on this run: a list of {target, met (True/False/None: not measurable), detail}."""
    out: list[dict[str, Any]] = []
    for bs in bss:
        ours = {k: _p50(rows_by, k, bs) for k in OURS_INT8}
        peers = {k: _p50(rows_by, k, bs) for k in PEER_INT8}
        ours = {k: v for k, v in ours.items() if v is not None}
        peers_ok = {k: v for k, v in peers.items() if v is not None}
        if not ours or not peers_ok:
            out.append({"target": f"fastest INT8 row of ours no slower than every peer (batch {bs})", "met": None,
                        "detail": "rows missing"})
            continue
        best_k = min(ours, key=ours.get)
        peer_k = min(peers_ok, key=peers_ok.get)
        missing = [f"{LABELS[k][1]}" for k, v in peers.items() if v is None]
        ratios = paired(rows_by, best_k, peer_k, bs)
        met = paired_verdict(ratios) if ratios else ours[best_k] <= peers_ok[peer_k]
        out.append({"target": f"fastest INT8 row of ours no slower than every peer (batch {bs})",
                    # a peer that was not measured leaves the target unjudged, whatever the others show
                    "met": met if not missing else None, "tie": met is None and not missing,
                    "detail": f"ours: {LABELS[best_k][1]} {ours[best_k]:.1f} ms; fastest peer: {LABELS[peer_k][1]} "
                              f"{peers_ok[peer_k]:.1f} ms ({100 * (ours[best_k] / peers_ok[peer_k] - 1):+.1f} %)"
                              + _paired_text(ratios, "ours / peer")
                              + (f"; peers not measured: {', '.join(missing)}" if missing else ""),
                    "ours_ms": ours[best_k], "peer_ms": peers_ok[peer_k], "paired_ratios": ratios})
    b1 = bss[0]
    eager = _p50(rows_by, ("torch-eager-fp32", "torch-cpu"), b1)
    pr = {k: _p50(rows_by, k, b1) for k in PRUNED_INT8}
    pr = {k: v for k, v in pr.items() if v is not None}
    if eager and pr:
        k = min(pr, key=pr.get)
        x = eager / pr[k]
        q = rf_rows.get((k[0], k[1], b1)) or {}
        # the most this CPU allows: the pruned model's MACs at 100 % of the run's U8S8 peak
        bound = (eager / (q["macs_per_image"] / (q["peak_gmacs_per_s"] * 1e9) * 1e3)
                 if q.get("macs_per_image") and q.get("peak_gmacs_per_s") else None)
        ratios = paired(rows_by, k, ("torch-eager-fp32", "torch-cpu"), b1)  # pruned / eager, round by round
        met = paired_verdict(ratios, limit=1 / 20.0) if ratios else x >= 20.0
        out.append({"target": f"pruned 0.5 + INT8 on its best runtime >= 20x torch eager FP32 (batch {b1})",
                    "met": met, "tie": met is None,
                    "detail": f"{LABELS[k][1]}: {pr[k]:.2f} ms vs eager {eager:.1f} ms = {x:.1f}x"
                    + _paired_text(ratios, "speed-up", invert=True)
                    + (f"; at 100 % of this run's U8S8 peak it would be {bound:.1f}x" if bound else ""),
                    "speedup": x, "bound_at_peak": bound, "pruned_macs": q.get("macs_per_image"),
                    "paired_ratios": ratios})
        from resnet_opt.bench.cpu_notes import efficiency_targets

        def frac_of(key: tuple[str, str] | None, bs: int = b1) -> float | None:
            r = (rf_rows.get((key[0], key[1], bs)) or {}) if key else {}
            return None if r.get("suspect") else r.get("fraction_of_peak")

        unp = {k: _p50(rows_by, k, b1) for k in OURS_INT8 if k[1] in ("ort-cpu", "openvino-cpu")}
        unp = {k: v for k, v in unp.items() if v is not None}
        best_unp = min(unp, key=unp.get) if unp else None
        bn = bss[-1]  # the same rows at the largest batch size, quoted beside the batch-1 judgement
        out += efficiency_targets(result.environment.get("cpu") or {}, frac_of(best_unp), frac_of(k), b1,
                                  other=(bn, frac_of(best_unp, bn), frac_of(k, bn)) if bn != b1 else None)
    else:
        out.append({"target": "pruned 0.5 + INT8 >= 20x torch eager FP32 and its share of the peak", "met": None,
                    "detail": "rows missing"})
    return out


def target_word(t: dict[str, Any]) -> str:
    """yes / **no** / tie within the run's noise (:func:`verdict_word`), or — where the target was not judged."""
    return "—" if t["met"] is None and not t.get("tie") else verdict_word(t["met"])


def targets_markdown(result: Any, rows_by: dict, rf_rows: dict, bss: list[int]) -> list[str]:
    cpu = result.environment.get("cpu") or {}
    flags = cpu.get("flags") or {}
    vnni, amx = bool(cpu.get("vnni")), bool(cpu.get("amx"))
    md = ["", "## Targets on this CPU (issues 15 and 23)", "", "| target | met here | measured |", "|---|---|---|"]
    res = check_targets(result, rows_by, rf_rows, bss)
    result.extra["targets"] = res
    for t in res:
        md.append(f"| {t['target']} | {target_word(t)} | {t['detail']} |")
    unmet = [t for t in res if t["met"] is False]
    if unmet:
        from resnet_opt.bench.cpu_notes import unmet_need

        md += ["", "What the unmet ones need:", ""] + [unmet_need(t, cpu) for t in unmet]
    isa = ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
                    if flags.get(f)) or "none"
    md += ["", f"ISA of this CPU: {isa}. VNNI: {'yes' if vnni else 'no'}; AMX: {'yes' if amx else 'no'}; BF16: "
               f"{'yes' if flags.get('avx512_bf16') or flags.get('amx_bf16') else 'no'}."]
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="1,8")
    # 6 rounds of up to 15 runs: on a VM whose speed drifts by tens of % within minutes, 3 rounds of 10 flipped the
    # same-kernel peer comparisons from run to run (2026-12-07, Zen 5: +8.9 % / -1.4 %); 6 of 15 settled them (~7 min)
    ap.add_argument("--iterations", type=int, default=90, help="timed runs per row and batch size (at most)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--time-budget", type=float, default=20.0, help="seconds per row and batch size")
    ap.add_argument("--calib", type=int, default=32, help="synthetic calibration images")
    ap.add_argument("--agreement-images", type=int, default=16)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for resnet50_cpu.md/.json")
    ap.add_argument("--quick", action="store_true", help="smoke run: 64 px, 2 runs, results in a temp folder")
    ap.add_argument("--tag", default=None,
                    help="suffix of the results files, to add a row for another CPU beside the published ones: "
                         "'auto' = this CPU's tag (e.g. amd-epyc-2c-avx2), or any name; writes resnet50_cpu-TAG.md/.json")
    ap.add_argument("--rerender", action="store_true",
                    help="re-write the .md and .png from the existing .json in --out (no measurement)")
    args = ap.parse_args(argv)
    if args.tag == "auto":
        from resnet_opt.core.env import cpu_tag

        args.tag = cpu_tag()
    name = "resnet50_cpu" + (f"-{args.tag}" if args.tag else "")
    if args.rerender:
        from resnet_opt.bench.harness import result_from_dict

        out = Path(args.out)
        data = json.loads((out / f"{name}.json").read_text())
        result = result_from_dict(data["result"])
        for k in ("size", "threads", "calib"):
            setattr(args, k, data.get("args", {}).get(k, getattr(args, k)))
        atomic_write_text(out / f"{name}.md", render(result, data.get("missing") or {}, args, data["command"]))
        plot(result, out / f"{name}.png")
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
        cfg = BenchConfig(backends=["cpu", "openvino"], batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
                          threads=args.threads, data=f"synthetic:{args.size}", agreement_images=args.agreement_images,
                          eval_batch_size=8, reference="torch-eager-fp32", roofline_refresh=True,
                          timing=TimingConfig(warmup=args.warmup, iterations=args.iterations, rounds=args.rounds,
                                              time_budget_s=args.time_budget))
        result = run_benchmark(variants, cfg, log=log, command=command,
                               title=f"ResNet-50 {args.size}px CPU, {args.threads} threads")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        md = render(result, missing, args, command)  # also records the target checks in result.extra
    except Exception:  # noqa: BLE001 - keep the measurement: write the JSON, re-render later with --rerender
        traceback.print_exc()
        md = None
    data = {"command": command, "args": vars(args), "environment": environment(),
            "labels": {f"{v} @ {b}": lab for (v, b), lab in LABELS.items()}, "missing": missing,
            "reference_ms_vnni_amx_cpu": REFERENCE_MS, "total_seconds": time.perf_counter() - t0,
            "result": result}
    atomic_write_text(out / f"{name}.json", to_json(data) + "\n")
    if md is None:
        return 1
    atomic_write_text(out / f"{name}.md", md)
    plot(result, out / f"{name}.png")
    print(md)
    log(f"wrote {out / (name + '.md')} and .json ({time.perf_counter() - t0:.0f}s total)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
