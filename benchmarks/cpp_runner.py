#!/usr/bin/env python
"""C++ runner (libtorch) vs the Python runtime: ResNet-50, batch 1, 224 px, the same artifact, one run.

Artifacts (random-init ResNet-50: latency does not depend on the weights; synthetic calibration for INT8):
TorchScript FP32 (`export torchscript`), the `.pt2` FP32 package (`export pt2`), the PT2E INT8 `.pt2` package
(`quantize --target torch`, the default PyTorch target) and the legacy FX INT8 TorchScript
(`quantize --target torchscript-fx`). Each is timed by the runner's own
``--bench`` (warm-up, then timed runs inside the C++ process) and by the Python runtime (``resnet_opt.runtime.load``
+ ``predictor.logits`` on the same random batch), in alternating rounds so drift of a shared machine hits both.

    .venv/bin/python benchmarks/cpp_runner.py --work /tmp/cpp-bench --prepare-only   # exports, outside the lock
    flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/cpp_runner.py --work /tmp/cpp-bench

Writes benchmarks/results/cpp_runner.md and .json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from common import command, cpu_line, roofline_cells, roofline_sentence, write_results

from resnet_opt.bench.timing import timed_runs
from resnet_opt.core.env import cpu_info, library_versions
from resnet_opt.resnet import ModelSpec  # noqa: E402
from resnet_opt.pipeline.export import ExportConfig  # noqa: E402

warnings.filterwarnings("ignore")


def pct(a: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(a), q))


def python_samples(pred, x: torch.Tensor, warmup: int, iters: int) -> list[float]:
    for _ in range(warmup):
        pred.logits(x)
    return [s * 1e3 for s in timed_runs(lambda: pred.logits(x), iters)[0]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--no-pt2", action="store_true", help="TorchScript artifacts only (no AOTInductor compile)")
    ap.add_argument("--work", type=Path, default=None,
                    help="folder for the artifacts; existing ones are reused (prepare them outside the CPU lock "
                         "with --prepare-only, then time under it)")
    ap.add_argument("--prepare-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from resnet_opt.pipeline.export import export_artifact
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model
    from resnet_opt.runtime import load
    from resnet_opt.runtime.cpp_runner import build_runner, run_runner

    t0 = time.perf_counter()
    binary = build_runner()
    build_s = time.perf_counter() - t0
    work = args.work or Path(tempfile.mkdtemp(prefix="cpp-runner-bench-"))
    arts = {}
    exports = [("ts-fp32", "torchscript", "TorchScript FP32")]
    exports += [] if args.no_pt2 else [("pt2-fp32", "pt2", ".pt2 FP32")]
    for folder, fmt, name in exports:
        if not (work / folder / "manifest.json").is_file():
            print(f"exporting {name} ...", flush=True)
            export_artifact(ExportConfig(fmt, out=work / folder, input_size=args.size, count=4,
                                         source=ModelSpec(depth=args.depth)))
        arts[name] = work / folder
    if not args.no_int8:
        targets = ([] if args.no_pt2 else [("pt2-int8", "torch", "PT2E INT8 .pt2")]) + \
            [("ts-int8-fx", "torchscript-fx", "FX INT8 TorchScript (legacy)")]
        for folder, target, name in targets:
            if not (work / folder / "manifest.json").is_file():
                print(f"quantizing ({name}) ...", flush=True)
                quantize_model(QuantizeConfig(out=work / folder, source=ModelSpec(depth=args.depth), target=target,
                               data=f"synthetic:{args.size}", calib_size=16, eval_size=8, latency_runs=1,
                               threads=args.threads))
            arts[name] = work / folder
    if args.prepare_only:
        print(f"artifacts ready in {work}")
        return

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, args.size, args.size, generator=g)
    from resnet_opt.bench.roofline import PeakProbe
    from resnet_opt.resnet import ResNet, count_macs

    probe = PeakProbe(args.threads)  # the GEMM peaks, measured at the start of every timing round
    rows = []
    for name, art in arts.items():
        pred = load(art)
        cpp: list[float] = []
        py: list[float] = []
        info = {}
        for rnd in range(args.rounds):
            print(f"{name}: round {rnd + 1}/{args.rounds}", flush=True)
            probe()
            info = run_runner(binary, art, bench=True, batch=1, warmup=args.warmup, iters=args.iters,
                              threads=args.threads)
            cpp += info["bench"]["samples_ms"]
            time.sleep(0.25)
            py += python_samples(pred, x, args.warmup, args.iters)
            time.sleep(0.25)
        r = {"artifact": name, "optimized_for_inference_on_load": bool(info.get("optimized_for_inference")),
             "cpp": {q: pct(cpp, v) for q, v in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99))},
             "python": {q: pct(py, v) for q, v in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99))},
             "cpp_load_ms": info.get("load_ms"), "iterations_each": len(cpp)}
        r["cpp"]["mean_ms"], r["python"]["mean_ms"] = statistics.fmean(cpp), statistics.fmean(py)
        r["python_over_cpp_p50"] = r["python"]["p50_ms"] / r["cpp"]["p50_ms"]
        rows.append(r)
        del pred

    result = {"command": command(), "cpu": cpu_info(), "versions": library_versions(), "depth": args.depth,
              "input": [1, 3, args.size, args.size], "threads": args.threads, "warmup": args.warmup,
              "iters_per_round": args.iters, "rounds": args.rounds, "runner_build_or_cache_s": build_s,
              "runner_binary": str(binary), "rows": rows,
              "roofline": {"peaks": probe.peaks().to_dict(), "macs_per_image": count_macs(ResNet(args.depth), args.size)}, "load_average_1min_at_end": os.getloadavg()[0],
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_results("cpp_runner", result, render(result))


def render(r: dict) -> str:
    lines = [
        f"# C++ runner (libtorch) vs Python runtime — ResNet-{r['depth']}, batch 1, {r['input'][-1]} px",
        "",
        f"Command: `{r['command']}`  ",
        f"Created {r['created']}; CPU: {cpu_line(r['cpu'])}; torch {r['versions'].get('torch', '?')}; "
        f"{r['threads']} threads each.  ",
        f"Each artifact: {r['rounds']} alternating rounds × ({r['warmup']} warm-up + {r['iters_per_round']} timed runs) "
        "for the C++ runner (its own `--bench`, timed inside the C++ process) and for the Python runtime "
        "(`resnet_opt.runtime.load(...).logits(x)`, same random input), one process each, same artifact file.",
        "",
        "| artifact | C++ p50 ms | C++ p90 | C++ p99 | Python p50 ms | Python p90 | Python p99 | Python / C++ (p50) "
        "| C++ GMAC/s | % of peak |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rf = r.get("roofline") or {}
    for row in r["rows"]:
        c, p = row["cpp"], row["python"]
        rc = roofline_cells(rf.get("macs_per_image"), 1, c["p50_ms"], "int8" if "INT8" in row["artifact"] else "fp32",
                            rf.get("peaks"))
        lines.append(f"| {row['artifact']}{' (optimize_for_inference on load)' if row['optimized_for_inference_on_load'] else ''} "
                     f"| {c['p50_ms']:.2f} | {c['p90_ms']:.2f} | {c['p99_ms']:.2f} | {p['p50_ms']:.2f} | "
                     f"{p['p90_ms']:.2f} | {p['p99_ms']:.2f} | {row['python_over_cpp_p50']:.2f} | {' | '.join(rc)} |")
    lines += [
        "",
        *([roofline_sentence(rf["peaks"]), ""] if rf.get("peaks") else []),
        "Both sides run the same libtorch kernels on the same graph: `torch::jit::load` / `torch.jit.load` for "
        "TorchScript (the runner applies `optimize_for_inference` exactly when the manifest records it, as the "
        "Python runtime does), `AOTIModelPackageLoader` / `aoti_load_package` for `.pt2` (the same compiled "
        "kernels in the package). Python's extra cost is the interpreter and the runtime's input checks around "
        "each call.",
        "",
        f"1-minute load average when the run ended: {r.get('load_average_1min_at_end', float('nan')):.2f} "
        "(2 cores; timing ran under the CPU lock).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
