#!/usr/bin/env python
"""The quantize issue's targets, measured on this machine in one run:

1. ``resnet-opt quantize --depth 50`` end to end (wall clock of the CLI process; target <= 90 s on 2 cores);
2. ResNet-50, 224x224, batch 1, 2 threads: the INT8 ONNX artifact that command wrote against torch eager FP32 and the
   references (onnxruntime ``quantize_static`` with its defaults, torchvision's quantizable resnet50), plus the QDQ
   variants tried while choosing the settings (activation/weight types, reduce_range, per-channel, quant_pre_process,
   stem kept FP32, onnxruntime graph optimization level) and the PyTorch INT8 target;
3. ResNet-18 trained on digits (``runs/digits-r18``): INT8 top-1 drop and agreement with FP32 for each calibration
   method (target: drop <= 0.3 points, agreement >= 99 %).

Latency: one process; each row's runs back to back (warm-up, then ``--runs`` timed runs), two rounds over all rows,
median of all timed runs. Rows are NOT interleaved run by run: torch's OpenMP threads and onnxruntime's thread pool
both spin after a call, so alternating them run by run makes each wait on the other (measured: onnxruntime rows
~2x slower interleaved with torch).

Prerequisite for (3): ``resnet-opt train --depth 18 --data digits --epochs 8 --out runs/digits-r18``.

    flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/quantize_targets.py
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from common import ROOT, RESULTS, block_timings, ort_cpu_session, roofline_cells, roofline_sentence  # noqa: E402
from resnet_opt.core.artifact import atomic_write_text, to_json  # noqa: E402
from resnet_opt.core.env import cpu_info, library_versions  # noqa: E402
from resnet_opt.resnet import ModelSpec  # noqa: E402

warnings.filterwarnings("ignore")
import logging  # noqa: E402

logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization logs per-tensor warnings on the root logger
ort_session = ort_cpu_session


FP32_ROWS = ("torch-eager-fp32", "torch-eager-fp32-cl", "ort-fp32")  # every other latency row is INT8


def time_rows(rows: dict[str, Callable[[], Any]], runs: int, rounds: int = 2, warmup: int = 5,
              each_round: Callable[[], Any] | None = None) -> dict[str, dict]:
    return block_timings(rows, runs=runs * rounds, warmup=warmup, rounds=rounds, pause_s=0.3, each_round=each_round)


# ---------------------------------------------------------------- 1. end to end
def end_to_end(work: Path, threads: int) -> dict[str, Any]:
    out = work / "r50-int8"
    cmd = [str(ROOT / ".venv" / "bin" / "resnet-opt"), "quantize", "--depth", "50", "--out", str(out)]
    env = dict(os.environ)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"resnet-opt quantize --depth 50 failed:\n{p.stdout}\n{p.stderr}")
    man = json.loads((out / "manifest.json").read_text())
    return {"command": "resnet-opt quantize --depth 50 --out DIR", "wall_s": wall, "stage_seconds": man["seconds"],
            "target_s": 90.0, "met": wall <= 90.0, "artifact": str(out), "manifest": man,
            "stdout": p.stdout.strip().splitlines()}


# ---------------------------------------------------------------- 2. ResNet-50 latency
def r50_latency(work: Path, artifact: Path, threads: int, runs: int, calib_n: int) -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    from resnet_opt.export import export_onnx
    from resnet_opt.optimize import fuse_bn
    from resnet_opt.optimize.quantize_onnx import (
        ImageDataReader, calibrate, choose_quant_types, preprocess, quantize_from_cache,
    )
    from resnet_opt.optimize.quantize_torch import quantize_torch, to_torchscript
    from resnet_opt.resnet import ResNet

    torch.manual_seed(0)
    model = ResNet(50).eval()
    # BN statistics as a trained model has them (random, distinct per channel). With the all-default BN of a fresh
    # init, every folded conv bias is zero, the exporter de-duplicates those identical tensors behind Identity nodes,
    # and onnxruntime's quantizer then cannot treat them as biases - an artifact of random init, not of real models.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.2, 0.6)
                m.bias.uniform_(-0.1, 0.1)
    fused = fuse_bn(model)
    g = torch.Generator().manual_seed(2)
    calib_t = [torch.randn(1, 3, 224, 224, generator=g) for _ in range(calib_n)]
    raw = export_onnx(model, work / "raw.onnx", input_size=224)  # what a user exports (BN folded by the exporter)
    fp32 = export_onnx(fused, work / "fp32.onnx", input_size=224)
    pre = preprocess(fp32, work / "fp32_pre.onnx")
    data = ImageDataReader(calib_t)
    cache = calibrate(pre, data, work / "cache.json", method="minmax", chunk=16)
    auto = choose_quant_types()
    T = type(auto)

    def qdq(name: str, act: str, wt: str, rr: bool, per_channel: bool = True, src: Path = pre,
            excl: list[str] | None = None, cache_path: Path = cache) -> Path:
        t = T(activation_type=act, weight_type=wt, reduce_range=rr, reason="benchmark variant")
        return quantize_from_cache(src, work / f"{name}.onnx", cache_path, method="minmax", types=t,
                                   per_channel=per_channel, nodes_to_exclude=excl)

    variants: dict[str, tuple[str, Path]] = {}
    # onnxruntime quantize_static with every setting at its default (QDQ, MinMax, per-tensor, S8 activations, S8
    # weights), on the plain export, calibrated on the same images
    items = [{"input": t.numpy()} for t in calib_t]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(items)

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(raw), str(work / "ort_default.onnx"), Reader())
    variants["ort-quantize-static-defaults"] = ("onnxruntime quantize_static, all defaults (QDQ, MinMax, per-tensor, "
                                                "S8 activations, S8 weights), on the plain export", work / "ort_default.onnx")
    quantize_static(str(pre), str(work / "ort_default_pre.onnx"), Reader())
    variants["ort-quantize-static-defaults-pre"] = ("onnxruntime quantize_static, all defaults, after quant_pre_process",
                                                    work / "ort_default_pre.onnx")
    variants["qdq-u8s8-pc-rr"] = ("QDQ U8 act / S8 weights, per-channel, reduce_range (resnet-opt's choice here)",
                                  qdq("u8s8_pc_rr", "uint8", "int8", True))
    variants["qdq-u8s8-pc"] = ("QDQ U8/S8, per-channel, no reduce_range", qdq("u8s8_pc", "uint8", "int8", False))
    variants["qdq-s8s8-pc"] = ("QDQ S8/S8, per-channel", qdq("s8s8_pc", "int8", "int8", False))
    variants["qdq-u8u8-pc"] = ("QDQ U8/U8, per-channel", qdq("u8u8_pc", "uint8", "uint8", False))
    variants["qdq-u8s8-pt-rr"] = ("QDQ U8/S8, per-tensor, reduce_range", qdq("u8s8_pt_rr", "uint8", "int8", True, False))
    nopre_cache = calibrate(fp32, data, work / "cache_nopre.json", method="minmax", chunk=16)
    variants["qdq-u8s8-pc-rr-nopre"] = ("QDQ U8/S8, per-channel, reduce_range, without quant_pre_process",
                                        qdq("u8s8_pc_rr_nopre", "uint8", "int8", True, src=fp32, cache_path=nopre_cache))
    variants["qdq-u8s8-pc-rr-stem-fp32"] = ("QDQ U8/S8, per-channel, reduce_range, stem conv kept FP32",
                                            qdq("u8s8_pc_rr_stem", "uint8", "int8", True, excl=["/conv1/Conv"]))

    # torch rows
    from common import torchvision_quantized

    tv = torchvision_quantized(model.state_dict(), calib_t)
    x1 = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tv_ts = torch.jit.freeze(torch.jit.trace(tv, x1).eval())
    fx = quantize_torch(fused, [torch.cat(calib_t[i:i + 16]) for i in range(0, len(calib_t), 16)], method="histogram")
    fx_ts = to_torchscript(fx, work / "fx.ts")
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x1_cl = x1.to(memory_format=torch.channels_last)

    def tfn(m, x):
        def run():
            with torch.inference_mode():
                m(x)
        return run

    a = x1.numpy()
    rows: dict[str, Callable[[], Any]] = {}
    labels: dict[str, str] = {}

    def add_onnx(key: str, label: str, path: Path, level: str = "all") -> None:
        s = ort_session(path, threads, level)
        rows[key] = lambda s=s: s.run(None, {"input": a})
        labels[key] = label

    rows["torch-eager-fp32"] = tfn(model, x1)
    labels["torch-eager-fp32"] = "torch eager FP32 (baseline)"
    rows["torch-eager-fp32-cl"] = tfn(cl, x1_cl)
    labels["torch-eager-fp32-cl"] = "torch eager FP32, channels_last"
    add_onnx("ort-fp32", "onnxruntime FP32 (fused export)", fp32)
    add_onnx("resnet-opt-int8-onnx", "resnet-opt INT8 ONNX artifact (`quantize --depth 50`, percentile)",
             artifact / "model_int8.onnx")
    add_onnx("resnet-opt-int8-onnx-extended", "same artifact, onnxruntime ORT_ENABLE_EXTENDED", artifact / "model_int8.onnx",
             "extended")
    add_onnx("resnet-opt-int8-onnx-basic", "same artifact, onnxruntime ORT_ENABLE_BASIC", artifact / "model_int8.onnx",
             "basic")
    for k, (label, p) in variants.items():
        add_onnx(k, label, p)
    rows["torchvision-quantizable-int8"] = tfn(tv, x1)
    labels["torchvision-quantizable-int8"] = "torchvision quantizable resnet50, x86 INT8 (eager)"
    rows["torchvision-quantizable-int8-ts"] = tfn(tv_ts, x1)
    labels["torchvision-quantizable-int8-ts"] = "torchvision quantizable resnet50, x86 INT8, traced + frozen"
    rows["resnet-opt-int8-torch"] = tfn(fx_ts, x1)
    labels["resnet-opt-int8-torch"] = "resnet-opt PyTorch target: torch.ao FX x86 INT8, traced + frozen TorchScript"

    from resnet_opt.bench.roofline import PeakProbe
    from resnet_opt.resnet import count_macs

    probe = PeakProbe(threads)  # the GEMM peaks, measured at the start of every timing round
    timing = time_rows(rows, runs, each_round=probe)
    base = timing["torch-eager-fp32"]["median_ms"]
    for k, r in timing.items():
        r["label"] = labels[k]
        r["x_vs_torch_eager"] = base / r["median_ms"]
    sizes = {k: p.stat().st_size for k, (_, p) in variants.items()}
    sizes["resnet-opt-int8-onnx"] = (artifact / "model_int8.onnx").stat().st_size
    sizes["ort-fp32"] = fp32.stat().st_size
    return {"timing": timing, "sizes_bytes": sizes, "calibration_images_for_variants": calib_n,
            "threads": threads, "runs_per_round": runs, "rounds": 2,
            "roofline": {"peaks": probe.peaks().to_dict(), "macs_per_image": count_macs(model, 224)}}


# ---------------------------------------------------------------- 3. digits accuracy
def digits(work: Path, model_dir: Path) -> dict[str, Any]:
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

    out: dict[str, Any] = {"model": str(model_dir)}
    rows = []
    combos = [("onnx", "percentile", {}), ("onnx", "minmax", {}), ("onnx", "entropy", {}),
              ("onnx", "percentile", {"reduce_range": False}), ("onnx", "percentile", {"activation_type": "int8", "reduce_range": False}),
              ("torch", "histogram", {}), ("torch", "minmax", {})]
    for i, (target, method, over) in enumerate(combos):
        t0 = time.perf_counter()
        m = quantize_model(QuantizeConfig(out=work / f"digits-{i}", source=ModelSpec(model_dir=model_dir),
                           target=target, method=method, latency_runs=20, min_agreement=0, **over))
        v = m.manifest.validation
        q = m.manifest.quantization
        variant = (f"{q.get('activation_type', 'uint8')} act, reduce_range={q.get('reduce_range', q.get('activation_reduce_range'))}"
                   if target == "onnx" else "x86 qconfig")
        rows.append(
            {
                "target": target,
                "method": method,
                "variant": variant,
                "default": not over and method == ("percentile" if target == "onnx" else "histogram"),
                "calibration_images": m.manifest.quantization["calibration"]["images"],
                "eval_images": v["eval"]["images"],
                "fp32_top1": v["fp32_top1"],
                "int8_top1": v["int8_top1"],
                "top1_drop": v["top1_drop"],
                "top1_agreement": v["top1_agreement"],
                "max_abs_diff": v["max_abs_diff"],
                "met": v["top1_drop"] <= 0.3 and v["top1_agreement"] >= 99.0,
                "latency_ms": m.manifest.measurements["latency_ms"],
                "seconds": time.perf_counter() - t0,
            }
        )
    out["rows"] = rows
    return out


def markdown(res: dict[str, Any]) -> str:
    cpu, ver = res["cpu"], res["versions"]
    isa = ", ".join(k for k, v in cpu["flags"].items() if v)
    e2e, lat, dg = res["end_to_end"], res["resnet50_latency"], res["digits"]
    t = lat["timing"]
    art = t["resnet-opt-int8-onnx"]
    L = [
        "# Quantize targets (issue 3)", "",
        f"Measured {res['created']} in one run. Command:", "", "```", res["command"], "```", "",
        "## Machine", "",
        f"- CPU: {cpu['model']} ({cpu['cores']} logical cores), ISA flags present: {isa}; VNNI: "
        f"{'yes' if cpu['vnni'] else 'no'}; AMX: {'yes' if cpu['amx'] else 'no'}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items() if v),
        f"- Threads: torch {lat['threads']}, onnxruntime intra-op {lat['threads']}", "",
        "## Summary", "",
        "| target | measured | met |", "|---|---|---|",
        f"| `resnet-opt quantize --depth 50` end to end <= 90 s (2 cores) | {e2e['wall_s']:.1f} s wall "
        f"(stage {e2e['stage_seconds']:.1f} s) | {'yes' if e2e['met'] else 'no'} |",
        f"| ResNet-50 INT8 ONNX >= 5x torch eager FP32 (batch 1, 224 px, 2 threads) — specified for a CPU **with VNNI** | "
        f"{art['x_vs_torch_eager']:.2f}x ({art['median_ms']:.1f} ms vs {t['torch-eager-fp32']['median_ms']:.1f} ms) on "
        f"this CPU **without VNNI** | {'yes' if art['x_vs_torch_eager'] >= 5 else 'no (not measurable here: no VNNI CPU)'} |",
        f"| beat onnxruntime quantize_static defaults | plain export {t['ort-quantize-static-defaults']['median_ms']:.1f} ms, "
        f"after quant_pre_process {t['ort-quantize-static-defaults-pre']['median_ms']:.1f} ms -> {art['median_ms']:.1f} ms "
        f"({min(t['ort-quantize-static-defaults']['median_ms'], t['ort-quantize-static-defaults-pre']['median_ms']) / art['median_ms']:.2f}x "
        f"faster than the better of the two) | "
        f"{'yes' if art['median_ms'] < min(t['ort-quantize-static-defaults']['median_ms'], t['ort-quantize-static-defaults-pre']['median_ms']) else 'no'} |",
        f"| beat torchvision quantizable resnet50 (x86 INT8) | eager {t['torchvision-quantizable-int8']['median_ms']:.1f} ms, "
        f"traced+frozen {t['torchvision-quantizable-int8-ts']['median_ms']:.1f} ms -> {art['median_ms']:.1f} ms | "
        f"{'yes' if art['median_ms'] < min(t['torchvision-quantizable-int8']['median_ms'], t['torchvision-quantizable-int8-ts']['median_ms']) else 'no'} |",
    ]
    d0 = next(r for r in dg["rows"] if r["default"] and r["target"] == "onnx")
    L.append(f"| digits ResNet-18: INT8 top-1 drop <= 0.3 points and agreement >= 99 % (default: ONNX, percentile) | "
             f"FP32 {d0['fp32_top1']:.2f}% -> INT8 {d0['int8_top1']:.2f}% (drop {d0['top1_drop']:.2f}), agreement "
             f"{d0['top1_agreement']:.2f}% on {d0['eval_images']} val images | {'yes' if d0['met'] else 'no'} |")
    L += ["", "## ResNet-50 latency, batch 1, 224x224", "",
          f"Median of {lat['rounds']} rounds x {lat['runs_per_round']} runs per row (5 warm-up runs per round); each "
          "row's runs back to back; same process. Random weights (latency does not depend on them). The resnet-opt "
          "artifact is the one the end-to-end command above wrote; the QDQ variants share one MinMax calibration "
          f"({lat['calibration_images_for_variants']} synthetic images).", "",
          "| row | median ms | min ms | round medians | x vs torch eager | GMAC/s | % of peak | size MB |",
          "|---|---|---|---|---|---|---|---|"]
    rf = lat.get("roofline") or {}
    for k, r in t.items():
        sz = lat["sizes_bytes"].get(k)
        rc = roofline_cells(rf.get("macs_per_image"), 1, r["median_ms"], "fp32" if k in FP32_ROWS else "int8",
                            rf.get("peaks"))
        L.append(f"| {r['label']} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | "
                 f"{' / '.join(f'{x:.1f}' for x in r['round_medians_ms'])} | {r['x_vs_torch_eager']:.2f}x | "
                 f"{' | '.join(rc)} | " + (f"{sz / 1e6:.1f} |" if sz else "|"))
    if rf.get("peaks"):
        L += ["", roofline_sentence(rf["peaks"])]
    q = e2e["manifest"]["quantization"]
    L += ["", f"Settings chosen for this CPU (recorded in the manifest): {q['activation_type']} activations, "
          f"{q['weight_type']} weights, per-channel={q['per_channel']}, reduce_range={q['reduce_range']} — "
          f"{q['type_choice_reason']}.", "",
          f"## ResNet-18 trained on digits (`{res['digits'].get('model', 'runs/digits-r18')}`, trained by "
          "`resnet-opt train --depth 18 --data digits --epochs 8`): accuracy", "",
          "Calibration: 128 images of the digits TRAINING split; evaluation: the 360 images of the val split (none used "
          "for calibration). Drop = FP32 top-1 - INT8 top-1 in points.", "",
          "| target | method | types | FP32 top-1 | INT8 top-1 | drop | agreement | max abs logit diff | INT8 ms (32 px) | met |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in dg["rows"]:
        L.append(f"| {r['target']} | {r['method']}{' (default)' if r['default'] else ''} | {r['variant']} | {r['fp32_top1']:.2f} | "
                 f"{r['int8_top1']:.2f} | {r['top1_drop']:.2f} | {r['top1_agreement']:.2f} | {r['max_abs_diff']:.3f} | "
                 f"{r['latency_ms']['int8']:.2f} | {'yes' if r['met'] else 'no'} |")
    def ms(k: str) -> str:
        return f"{t[k]['median_ms']:.1f} ms"

    L += ["", "## Reading these numbers", "",
          "- This CPU has AVX2 but no AVX-512, VNNI or AMX. Without VNNI the int8 kernels multiply u8 x s8 pairs into "
          "saturating int16 (vpmaddubsw) and need an extra widening step, so INT8 is only about "
          f"{t['ort-fp32']['median_ms'] / art['median_ms']:.1f}x faster than onnxruntime FP32 here "
          f"({ms('ort-fp32')} -> {ms('resnet-opt-int8-onnx')}) and {art['x_vs_torch_eager']:.1f}x faster than torch "
          "eager. docs/reference-figures.md's 5-6x figures were taken on a VNNI/AMX CPU; the >= 5x target is specified for VNNI "
          "CPUs and could not be checked on this machine.",
          f"- Activation type is what matters for speed here: S8 activations (onnxruntime's default type) "
          f"{ms('qdq-s8s8-pc')} and U8U8 {ms('qdq-u8u8-pc')} against U8S8 {ms('qdq-u8s8-pc-rr')}. Per-channel costs "
          f"nothing over per-tensor ({ms('qdq-u8s8-pc-rr')} vs {ms('qdq-u8s8-pt-rr')}), reduce_range costs nothing "
          f"({ms('qdq-u8s8-pc-rr')} vs {ms('qdq-u8s8-pc')}), keeping the 3-channel stem conv in FP32 is slower "
          f"({ms('qdq-u8s8-pc-rr-stem-fp32')}).",
          f"- onnxruntime must run the QDQ model with ORT_ENABLE_ALL (the default): EXTENDED {ms('resnet-opt-int8-onnx-extended')}, "
          f"BASIC {ms('resnet-opt-int8-onnx-basic')} (the QDQ groups are not turned into QLinearConv / NHWC kernels).",
          f"- quant_pre_process makes no speed difference on a model with trained-like BN statistics "
          f"({ms('qdq-u8s8-pc-rr-nopre')} without it). On a fresh random init it does: every folded bias is zero, "
          "the exporter de-duplicates them behind Identity nodes, and without pre-processing the quantizer leaves those "
          "biases in float (an earlier run of this script, before the BN statistics were randomized, measured 61.7 ms "
          "for that row). The stage always pre-processes.",
          "- The latency rows use random weights and synthetic calibration; on the digits model every calibration "
          "method and type choice keeps top-1 (the model is too easy to separate them). The default calibration is "
          "percentile because docs/reference-figures.md reports MinMax collapsing on ImageNet ResNet-101; that could not be "
          "checked here (no ImageNet data on this machine).",
          "- Full per-row figures, the end-to-end manifest and the command output are in the JSON file."]
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--calib", type=int, default=32, help="calibration images for the QDQ variants")
    ap.add_argument("--digits-model", default=str(ROOT / "runs" / "digits-r18"))
    ap.add_argument("--out", default=str(RESULTS / "quantize_targets"))
    ap.add_argument("--render", metavar="JSON", help="only re-write the Markdown from an existing results JSON")
    args = ap.parse_args()
    if args.render:
        res = json.loads(Path(args.render).read_text())
        atomic_write_text(Path(args.out).with_suffix(".md"), markdown(res))
        return
    torch.set_num_threads(args.threads)
    cmd = "flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/quantize_targets.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="resnet-opt-qbench-") as td:
        work = Path(td)
        print("1/3 end to end: resnet-opt quantize --depth 50 ...", flush=True)
        e2e = end_to_end(work, args.threads)
        print(f"    {e2e['wall_s']:.1f} s", flush=True)
        print("2/3 ResNet-50 latency rows ...", flush=True)
        lat = r50_latency(work, Path(e2e["artifact"]), args.threads, args.runs, args.calib)
        for k, r in lat["timing"].items():
            print(f"    {r['median_ms']:7.1f} ms  {r['x_vs_torch_eager']:5.2f}x  {k}", flush=True)
        print("3/3 digits ResNet-18 accuracy ...", flush=True)
        dg = digits(work, Path(args.digits_model))
        for r in dg["rows"]:
            print(f"    {r['target']:5s} {r['method']:10s} drop {r['top1_drop']:.2f} agreement {r['top1_agreement']:.2f}",
                  flush=True)
    e2e.pop("artifact")
    import datetime as dt

    res = {"command": cmd, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "seconds": time.perf_counter() - t0, "cpu": cpu_info(), "versions": library_versions(),
           "end_to_end": e2e, "resnet50_latency": lat, "digits": dg}
    out = Path(args.out)
    atomic_write_text(out.with_suffix(".json"), to_json(res) + "\n")
    atomic_write_text(out.with_suffix(".md"), markdown(res))
    print(f"wrote {out.with_suffix('.md')} and .json ({res['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
