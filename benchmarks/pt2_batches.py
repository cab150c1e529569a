#!/usr/bin/env python
"""Are the default PyTorch packages fast at every batch size? ResNet-50 (random weights: latency only) at 224 px.

Builds, through the CLI as a user would (into --work, reused when present):

* ``quantize --depth 50 --target torch``: the default PyTorch INT8 artifact (PT2E, a ``.pt2`` holding a static
  batch-1 and a static batch-8 model);
* the same PT2E graph compiled with a DYNAMIC batch (what ``quantize --target torch`` wrote before; built here with
  the library, as no command writes it any more);
* ``quantize --depth 50 --target torchscript-fx`` (legacy FX INT8 TorchScript) and ``quantize --depth 50`` (INT8
  ONNX, run by onnxruntime);
* ``export pt2 --depth 50`` (FP32, static 1 and 8) and ``export pt2 --depth 50 --batch dynamic``;

then times all of them with ``resnet-opt bench`` in ONE run (interleaved rounds, batch 1 and 8, 2 threads, torch
eager FP32 as the reference) and judges the targets of the issue: the default INT8 ``.pt2`` no slower than the FX
INT8 TorchScript and no slower than 1.25x the INT8 ONNX on onnxruntime, at batch 1 and 8.

    python benchmarks/pt2_batches.py [--work DIR] [--rounds 3]    # -> benchmarks/results/pt2_batches[-TAG].md/.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import command, cpu_line, write_results  # noqa: E402

CLI = str(ROOT / ".venv" / "bin" / "resnet-opt")


def run(*args: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: resnet-opt {' '.join(args)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def build(work: Path) -> dict[str, float]:
    secs: dict[str, float] = {}
    jobs = {
        "int8-pt2": ["quantize", "--depth", "50", "--target", "torch"],
        "int8-fx-torchscript": ["quantize", "--depth", "50", "--target", "torchscript-fx"],
        "int8-onnx": ["quantize", "--depth", "50"],
        "fp32-pt2": ["export", "pt2", "--depth", "50"],
        "fp32-pt2-dynamic": ["export", "pt2", "--depth", "50", "--batch", "dynamic"],
    }
    for name, args in jobs.items():
        if not (work / name / "manifest.json").exists():
            print(f"building {name}: resnet-opt {' '.join(args)} ...", flush=True)
            secs[name] = run(*args, "--out", str(work / name))
    dyn = work / "int8-pt2-dynamic"
    if not (dyn / "manifest.json").exists():
        print("building int8-pt2-dynamic (the same kind of PT2E graph, one dynamic-batch model) ...", flush=True)
        t0 = time.perf_counter()
        secs["int8-pt2-dynamic"] = dynamic_int8(work / "int8-pt2", dyn)
        secs["int8-pt2-dynamic"] = time.perf_counter() - t0
    return secs


def dynamic_int8(src: Path, dst: Path) -> float:
    """A copy of the default INT8 artifact whose package holds one dynamic-batch model of a PT2E graph quantized
    the same way (random ResNet-50 weights, synthetic calibration: latency only)."""
    import torch

    from resnet_opt.core.artifact import sha256_file
    from resnet_opt.core.manifest import Manifest, write_manifest
    from resnet_opt.export.pt2_export import Pt2Settings, build_package
    from resnet_opt.optimize.quantize_pt2e import quantize_pt2e
    from resnet_opt.resnet import resnet50

    torch.manual_seed(0)
    q, _ = quantize_pt2e(resnet50(num_classes=1000).eval(), [torch.randn(8, 3, 224, 224) for _ in range(4)])
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    details = build_package(q, tmp / "model.pt2", input_size=224, settings=Pt2Settings(dynamic=True))
    m = json.loads((tmp / "manifest.json").read_text())  # (read_manifest would check the replaced file's hash)
    m["compile"] = {**m.get("compile", {}), **details}
    for f in m.get("files", []):
        if f["path"] == "model.pt2":
            f["sha256"], f["size"] = sha256_file(tmp / "model.pt2"), (tmp / "model.pt2").stat().st_size
    m["file_sha256"], m["file_size"] = sha256_file(tmp / "model.pt2"), (tmp / "model.pt2").stat().st_size
    m["stage"] = "benchmark (dynamic-batch INT8 package, for comparison)"
    write_manifest(tmp, Manifest.from_dict(m))
    tmp.rename(dst)
    return details["compile_seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/resnet-opt-pt2-batches"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time-budget", type=float, default=4.0)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    secs = build(a.work)
    names = ["int8-pt2", "int8-pt2-dynamic", "int8-fx-torchscript", "int8-onnx", "fp32-pt2", "fp32-pt2-dynamic"]
    print("timing (resnet-opt bench, interleaved) ...", flush=True)
    rep = a.work / "report"
    shutil.rmtree(rep, ignore_errors=True)
    t0 = time.perf_counter()
    r = subprocess.run([CLI, "bench", *[str(a.work / n) for n in names], "--depth", "50", "--backends",
                        "torch-cpu,torchscript-cpu,ort-cpu,pt2-cpu", "--batch-sizes", "1,8", "--threads", "2",
                        "--rounds", str(a.rounds), "--time-budget", str(a.time_budget), "--data", "synthetic",
                        "--fresh-peaks", "--report", str(rep), "--json"], capture_output=True, text=True)
    bench_s = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"bench failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    res = json.loads(r.stdout)
    (a.work / "bench.json").write_text(json.dumps({"bench": res, "secs": secs, "bench_s": bench_s}))
    write(a, res, secs, bench_s, names)


def write(a: argparse.Namespace, res: dict, secs: dict, bench_s: float, names: list[str]) -> None:
    p50: dict[tuple[str, int], dict] = {}
    eager: dict[int, float] = {}
    folder_names = {str(v.get("path") or ""): v.get("name") for v in res.get("variants", [])}
    for row in res.get("rows", []):
        for t in row.get("timings") or []:
            st = t.get("stats")
            if t.get("status", "ok") != "ok" or not st:
                continue
            name = Path(str(next((k for k, v in folder_names.items() if v == row["variant"] and k), row["variant"]))
                        ).name or row["variant"]
            cell = {"p50_ms": st["p50_ms"], "p90_ms": st["p90_ms"], "backend": row["backend"],
                    "precision": row.get("precision"), "variant": row["variant"]}
            if row.get("kind") in (None, "model", "torch") and name not in names:
                eager[int(t["batch_size"])] = st["p50_ms"]
                name = "torch eager FP32"
            p50[(name, int(t["batch_size"]))] = cell
    for (v, b), cell in p50.items():
        cell["speedup"] = eager[b] / cell["p50_ms"] if b in eager and cell["p50_ms"] else None
    env = res.get("environment") or {}
    cpu = env.get("cpu") or {}
    lines = ["# Default PyTorch packages at batch 1 and 8 (ResNet-50, 224 px, random weights: latency only)", "",
             f"Command: `{command()}`", "", f"CPU: {cpu_line(cpu)}; 2 threads; one `resnet-opt bench` run, "
             f"{a.rounds} interleaved rounds ({bench_s:.0f} s); "
             + ("build seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in secs.items()) if secs else
                "artifacts built by an earlier run of the same command (reused from --work)"), "",
             "| variant | backend | batch | p50 ms | p90 ms | vs eager FP32 |", "|---|---|---|---|---|---|"]
    for (v, b), row in sorted(p50.items(), key=lambda kv: (kv[0][1], kv[1]["p50_ms"])):
        sp = row.get("speedup")
        lines.append(f"| {v} | {row.get('backend')} | {b} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | "
                     f"{'x%.2f' % sp if sp else '—'} |")
    checks = []

    def ms(v: str, b: int) -> float | None:
        return p50[(v, b)]["p50_ms"] if (v, b) in p50 else None

    for b in (1, 8):
        d, fx, ort = ms("int8-pt2", b), ms("int8-fx-torchscript", b), ms("int8-onnx", b)
        checks.append({"what": f"default INT8 .pt2 no slower than FX INT8 TorchScript, batch {b}", "pt2_ms": d,
                       "other_ms": fx, "ratio": d / fx if d and fx else None, "limit": 1.0})
        checks.append({"what": f"default INT8 .pt2 no slower than 1.25x INT8 ONNX on onnxruntime, batch {b}",
                       "pt2_ms": d, "other_ms": ort, "ratio": d / ort if d and ort else None, "limit": 1.25})
        dy = ms("int8-pt2-dynamic", b)
        checks.append({"what": f"default INT8 .pt2 vs the dynamic-batch INT8 package (before), batch {b}",
                       "pt2_ms": d, "other_ms": dy, "ratio": d / dy if d and dy else None, "limit": None})
        f, fd = ms("fp32-pt2", b), ms("fp32-pt2-dynamic", b)
        checks.append({"what": f"default FP32 .pt2 vs --batch dynamic, batch {b}", "pt2_ms": f, "other_ms": fd,
                       "ratio": f / fd if f and fd else None, "limit": None})
    lines += ["", "| check | .pt2 ms | other ms | ratio | target | met |", "|---|---|---|---|---|---|"]
    for c in checks:
        met = "—" if c["limit"] is None or c["ratio"] is None else ("yes" if c["ratio"] <= c["limit"] else "**no**")
        c["met"] = None if met == "—" else met == "yes"
        fmt = lambda x: "—" if x is None else f"{x:.2f}"  # noqa: E731
        lines.append(f"| {c['what']} | {fmt(c['pt2_ms'])} | {fmt(c['other_ms'])} | {fmt(c['ratio'])} | "
                     f"{'≤ %.2f' % c['limit'] if c['limit'] else '—'} | {met} |")
    lines += ["", "The % of each CPU GEMM peak (the roofline) of every row is in the bench report's table "
              "(`resnet-opt bench ... --report`), reproduced by the command above."]
    write_results("pt2_batches", {"checks": checks, "cells": {f"{v}@{b}": c for (v, b), c in p50.items()}, "build_seconds": secs, "bench_seconds": bench_s,
                                  "bench": res}, "\n".join(lines))


if __name__ == "__main__":
    main()
