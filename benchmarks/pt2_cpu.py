#!/usr/bin/env python
"""PT2 (torch.export + AOTInductor) packages against TorchScript on the CPU, and PT2E INT8 accuracy on digits.

Part 1, ResNet-50 at 224 px, random weights (latency only), 2 threads, ONE process:

* torch eager FP32 (the reference), frozen TorchScript FP32 (trace + freeze; also + optimize_for_inference, which the
  TorchScript artifact applies on load when it is faster), the ``.pt2`` FP32 package as ``export pt2`` builds it
  (dynamic batch, freezing), per-batch-size ``.pt2`` packages (static batch 1 and 8), a ``.pt2`` without freezing;
* PT2E INT8 ``.pt2`` (as ``quantize --target torch`` builds it) against the legacy FX INT8 traced + frozen TorchScript;
* compile / build seconds and load milliseconds of each; batch 1 and 8; the timing phase holds
  /tmp/resnet-opt-cpu.lock, runs interleaved rounds and reports medians.

Part 2, digits ResNet-18 (trained here, 8 epochs, seed 0, or --model DIR): ``export pt2`` and ``quantize --target
torch`` through the library stages; FP32 and INT8 top-1 on the whole val split and every package's agreement with
PyTorch.

    python benchmarks/pt2_cpu.py            # writes benchmarks/results/pt2_cpu.md and .json

Compiled packages are cached in --cache (default /tmp/resnet-opt-pt2-bench) with their compile seconds, so a rerun
only times.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import block_timings, command, cpu_line, roofline_cells, roofline_sentence, write_results  # noqa: E402
from resnet_opt.core.env import cpu_info, library_versions  # noqa: E402
from resnet_opt.resnet import ModelSpec  # noqa: E402
from resnet_opt.pipeline.evaluate import EvalConfig  # noqa: E402
from resnet_opt.pipeline.export import ExportConfig  # noqa: E402
from resnet_opt.pipeline.train import TrainStageConfig  # noqa: E402

LOCK = "/tmp/resnet-opt-cpu.lock"


@contextlib.contextmanager
def cpu_lock():
    with open(LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached_package(cache: Path, name: str, build) -> tuple[Path, dict]:
    """(package path, compile record); ``build(path) -> dict`` compiles when the cache lacks it."""
    pkg, rec = cache / f"{name}.pt2", cache / f"{name}.json"
    if pkg.is_file() and rec.is_file():
        info = json.loads(rec.read_text())
        info["reused_from_cache"] = True
        return pkg, info
    info = build(pkg)
    info["load_average_1min_at_compile"] = os.getloadavg()[0]
    info["compiled_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rec.write_text(json.dumps(info, default=str))
    return pkg, info


def load_ms(fn):
    t0 = time.perf_counter()
    obj = fn()
    return obj, (time.perf_counter() - t0) * 1e3


def part1(args, cache: Path) -> dict:
    from resnet_opt.export.pt2_export import Pt2Settings, compile_package, export_program
    from resnet_opt.optimize import fuse_bn
    from resnet_opt.optimize.quantize_pt2e import quantize_pt2e
    from resnet_opt.optimize.quantize_torch import quantize_torch, to_torchscript
    from resnet_opt.resnet import ResNet

    torch.manual_seed(0)
    model = ResNet(50).eval()
    fused = fuse_bn(model)
    g = torch.Generator().manual_seed(0)
    calib = [torch.randn(4, 3, 224, 224, generator=g) for _ in range(4)]
    res: dict = {"compile_s": {}, "load_ms": {}, "latency_ms": {}, "agreement": {}}

    def pt2_build(m, settings, dynamic=True, batch=2):
        def build(path):
            t0 = time.perf_counter()
            prog = export_program(m, input_size=224, dynamic_batch=dynamic, example_batch=batch)
            info = compile_package(prog, path, settings)
            info["export_seconds"] = time.perf_counter() - t0 - info["compile_seconds"]
            return info
        return build

    print("compiling .pt2 packages (cached in", cache, ") ...", flush=True)
    pk = {}
    pk[".pt2 FP32 (export pt2: dynamic batch, freezing)"] = cached_package(cache, "r50_fp32_dyn", pt2_build(model, Pt2Settings()))
    if not args.quick:
        pk[".pt2 FP32 static batch 1"] = cached_package(cache, "r50_fp32_s1", pt2_build(model, Pt2Settings(), False, 1))
        pk[".pt2 FP32 static batch 8"] = cached_package(cache, "r50_fp32_s8", pt2_build(model, Pt2Settings(), False, 8))
        pk[".pt2 FP32 dynamic, no freezing"] = cached_package(cache, "r50_fp32_nofreeze",
                                                             pt2_build(model, Pt2Settings(freezing=False)))

    def int8_build(path):
        t0 = time.perf_counter()
        q, facts = quantize_pt2e(fused, calib, input_size=224)
        quant_s = time.perf_counter() - t0
        info = compile_package(export_program(q, input_size=224), path, Pt2Settings())
        info["quantize_seconds"] = quant_s
        return info

    pk[".pt2 PT2E INT8 (quantize --target torch)"] = cached_package(cache, "r50_int8_pt2e", int8_build)
    for k, (_, info) in pk.items():
        res["compile_s"][k] = info["compile_seconds"]
        if info.get("reused_from_cache"):
            res.setdefault("packages_reused_from_cache", []).append(k)
        res.setdefault("load_average_at_compile", {})[k] = info.get("load_average_1min_at_compile", float("nan"))

    # TorchScript builds (the "compile" of TorchScript: trace + freeze; FX: prepare/calibrate/convert + trace + freeze)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        td = Path(tempfile.mkdtemp(prefix="pt2bench-"))
        t0 = time.perf_counter()
        ts = torch.jit.freeze(torch.jit.trace(model, torch.zeros(1, 3, 224, 224)).eval())
        torch.jit.save(ts, str(td / "fp32.ts"))
        res["compile_s"]["TorchScript FP32 (trace + freeze)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        fx = to_torchscript(quantize_torch(fuse_bn(model), [torch.cat(calib)], method="histogram"), td / "int8.ts")
        res["compile_s"]["FX INT8 TorchScript (legacy torchscript-fx)"] = time.perf_counter() - t0
        del ts, fx

    torch.set_num_threads(args.threads)
    runners = {"torch eager FP32": model}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importlib.import_module("torch._inductor.package")  # import once, outside the load timings

        ts, res["load_ms"]["TorchScript FP32 (trace + freeze)"] = load_ms(lambda: torch.jit.load(str(td / "fp32.ts")).eval())
        runners["TorchScript FP32 (trace + freeze)"] = ts
        tso, ms = load_ms(lambda: torch.jit.optimize_for_inference(torch.jit.load(str(td / "fp32.ts")).eval()))
        res["load_ms"]["TorchScript FP32 + optimize_for_inference"] = ms
        runners["TorchScript FP32 + optimize_for_inference"] = tso
        fx, res["load_ms"]["FX INT8 TorchScript (legacy torchscript-fx)"] = load_ms(lambda: torch.jit.load(str(td / "int8.ts")).eval())
        runners["FX INT8 TorchScript (legacy torchscript-fx)"] = fx
    for k, (path, _) in pk.items():
        runners[k], res["load_ms"][k] = load_ms(lambda path=path: torch._inductor.aoti_load_package(str(path)))

    # agreement with PyTorch eager (random weights and inputs: agreement, not accuracy)
    xa = torch.randn(8, 3, 224, 224, generator=g)
    with torch.no_grad():
        ref = model(xa)
        for k, r in runners.items():
            if "static batch 1" in k:
                out = torch.cat([r(xa[i:i + 1]) for i in range(8)])
            else:
                out = r(xa)
            res["agreement"][k] = {"max_abs_diff": float((out - ref).abs().max()),
                                   "top1_agreement": 100.0 * float((out.argmax(1) == ref.argmax(1)).float().mean())}

    print("timing (waiting for, then holding", LOCK, ") ...", flush=True)
    from resnet_opt.bench.roofline import PeakProbe
    from resnet_opt.resnet import count_macs

    probe = PeakProbe(args.threads)  # the GEMM peaks, measured at the start of every timing round
    with cpu_lock(), torch.no_grad():
        res["load_average_1min_at_timing_start"] = os.getloadavg()[0]
        for bs in args.batch_sizes:
            x = torch.randn(bs, 3, 224, 224, generator=g)
            fns = {k: (lambda r=r: r(x)) for k, r in runners.items()
                   if not (("static batch 1" in k and bs != 1) or ("static batch 8" in k and bs != 8))}
            t = block_timings(fns, runs=args.runs * args.rounds, warmup=1, rounds=args.rounds, each_round=probe)
            res["latency_ms"][str(bs)] = {k: v["median_ms"] for k, v in t.items()}
            res.setdefault("round_medians_ms", {})[str(bs)] = {k: v["round_medians_ms"] for k, v in t.items()}
        res["load_average_1min_at_timing_end"] = os.getloadavg()[0]
    res["roofline"] = {"peaks": probe.peaks().to_dict(), "macs_per_image": count_macs(model, 224)}
    return res


def part2(args) -> dict:
    from resnet_opt.pipeline.evaluate import evaluate_path
    from resnet_opt.pipeline.export import export_artifact
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

    work = Path(tempfile.mkdtemp(prefix="pt2bench-digits-"))
    model_dir = args.model
    if model_dir is None:
        from resnet_opt.engine import TrainConfig
        from resnet_opt.pipeline.train import train_model

        model_dir = work / "model"
        train_model(
            TrainStageConfig(
                data="digits", out=model_dir, train=TrainConfig(epochs=8, seed=0), source=ModelSpec(depth=18)
            )
        )
    fp = export_artifact(
        ExportConfig("pt2", out=work / "pt2-fp32", data="digits", count=64, source=ModelSpec(model_dir=model_dir))
    )
    q = quantize_model(QuantizeConfig(out=work / "pt2-int8", source=ModelSpec(model_dir=model_dir), target="torch",
                       data="digits", calib_size=128, latency_runs=5))
    ev = {
        name: evaluate_path(EvalConfig(p, "digits"))
        for name, p in (
            ("PyTorch FP32", model_dir),
            (".pt2 FP32", work / "pt2-fp32"),
            (".pt2 PT2E INT8", work / "pt2-int8"),
        )
    }
    v = q.manifest.validation
    return {
        "model": str(model_dir),
        "eval_top1": {k: e.top1 for k, e in ev.items()},
        "val_images": ev[".pt2 FP32"].count,
        "fp32_pt2_validation": fp.manifest.validation,
        "fp32_pt2_compile_s": fp.manifest.compile["compile_seconds"],
        "int8": {
            "fp32_top1": v["fp32_top1"],
            "int8_top1": v["int8_top1"],
            "top1_drop": v["top1_drop"],
            "top1_agreement_with_fp32": v["top1_agreement"],
            "eval_images": v["eval"]["images"],
            "pt2e_reference": q.manifest.quantization["pt2e_reference"],
            "reduce_range": q.manifest.quantization["reduce_range"],
            "compile_s": q.manifest.compile["compile_seconds"],
            "load_ms": q.manifest.compile["load_ms"],
        },
    }


def render(res: dict) -> str:
    L = ["# PT2 (AOTInductor) packages vs TorchScript on the CPU, and PT2E INT8 on digits", "", "Command:", "", "```",
         res["command"], "```", ""]
    cpu = res["cpu"]
    L += [f"CPU: {cpu_line(cpu)}; torch {res['versions']['torch']}, torchao {res['versions']['torchao']}; "
          f"{res['threads']} threads.", "",
          f"1-minute load average {res['part1'].get('load_average_1min_at_timing_start', float('nan')):.1f} when "
          f"timing started, {res['part1'].get('load_average_1min_at_timing_end', float('nan')):.1f} when it ended "
          f"(compile: {', '.join(sorted({f'{v:.1f}' for v in res['part1'].get('load_average_at_compile', {}).values()})) or 'cached'}); "
          "each timing is the median of interleaved rounds of blocks (bench.timing.block_timings) in one process.", ""]
    p1 = res["part1"]
    L += ["## ResNet-50, 224 px, random weights: latency (median ms, interleaved rounds, one process)", "",
          "| path | " + " | ".join(f"batch {b} ms" for b in p1["latency_ms"]) + " | × eager @1 | GMAC/s @1 | % peak @1 | "
          "compile / build s | load ms | max abs diff vs eager | top-1 agree % |",
          "|---|" + "---|" * (len(p1["latency_ms"]) + 7)]
    rf = p1.get("roofline") or {}
    eager1 = p1["latency_ms"].get("1", {}).get("torch eager FP32")
    for k in p1["agreement"]:
        cells = [f"{p1['latency_ms'][b].get(k, float('nan')):.1f}" if k in p1["latency_ms"][b] else "—"
                 for b in p1["latency_ms"]]
        l1 = p1["latency_ms"].get("1", {}).get(k)
        sp = f"{eager1 / l1:.2f}" if eager1 and l1 else "—"
        cs = p1["compile_s"].get(k)
        lm = p1["load_ms"].get(k)
        a = p1["agreement"][k]
        rc = roofline_cells(rf.get("macs_per_image"), 1, l1, "int8" if "INT8" in k else "fp32", rf.get("peaks"))
        L.append(f"| {k} | " + " | ".join(cells) + f" | {sp} | {' | '.join(rc)} | {'—' if cs is None else f'{cs:.1f}'} | "
                 f"{'—' if lm is None else f'{lm:.0f}'} | {a['max_abs_diff']:.2g} | {a['top1_agreement']:.0f} |")
    L += ["", "INT8 rows differ from FP32 eager by quantization (random weights: agreement is not accuracy).", ""]
    if p1.get("packages_reused_from_cache"):
        L += [f"{len(p1['packages_reused_from_cache'])} of the .pt2 packages were reused from `--cache` (same torch, "
              "same model and settings): their compile seconds are the ones recorded when they were compiled, not "
              "measured in this run.", ""]
    if rf.get("peaks"):
        L += [roofline_sentence(rf["peaks"]), ""]
    p2 = res.get("part2")
    if p2:
        i8 = p2["int8"]
        L += ["## Digits ResNet-18 (32 px): accuracy on the val split", "",
              f"- top-1 on all {p2['val_images']} val images: " +
              ", ".join(f"{k} {v:.2f}%" for k, v in p2["eval_top1"].items()),
              f"- PT2E INT8 .pt2 vs FP32 (quantize stage, {i8['eval_images']} val images): FP32 {i8['fp32_top1']:.2f}% -> "
              f"INT8 {i8['int8_top1']:.2f}% (drop {i8['top1_drop']:.2f} points; target <= 0.3: "
              f"{'met' if i8['top1_drop'] <= 0.3 + 1e-9 else 'NOT met'}); top-1 agreement with FP32 "
              f"{i8['top1_agreement_with_fp32']:.2f}%; reduce_range {i8['reduce_range']}",
              f"- INT8 package vs the PT2E graph it was compiled from: top-1 agreement "
              f"{i8['pt2e_reference']['top1_agreement']:.1f}%, max abs logit diff {i8['pt2e_reference']['max_abs_diff']:.3g} "
              f"({i8['pt2e_reference']['images']} images)",
              f"- FP32 .pt2 vs PyTorch (export validation, {p2['fp32_pt2_validation']['inputs']}): max abs diff "
              f"{p2['fp32_pt2_validation']['max_abs_diff']:.3g} (allowed {p2['fp32_pt2_validation']['allowed_abs_diff']:.3g}), "
              f"top-1 agreement {p2['fp32_pt2_validation']['top1_agreement']:.1f}%",
              f"- compile: FP32 {p2['fp32_pt2_compile_s']:.0f} s, INT8 {i8['compile_s']:.0f} s; INT8 package load "
              f"{i8['load_ms']:.0f} ms", ""]
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/resnet-opt-pt2-bench"))
    ap.add_argument("--model", type=Path, default=None, help="a trained digits R18 model folder (default: train one)")
    ap.add_argument("--quick", action="store_true", help="skip the per-batch-size and no-freezing packages")
    ap.add_argument("--skip-digits", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    res = {"command": command(lock=False), "cpu": cpu_info(), "versions": library_versions(), "threads": args.threads}

    res["part1"] = part1(args, args.cache)
    write_results("pt2_cpu", res, render(res))  # part 1 is kept even if part 2 is interrupted
    if not args.skip_digits:
        res["part2"] = part2(args)
        write_results("pt2_cpu", res, render(res))


if __name__ == "__main__":
    main()
