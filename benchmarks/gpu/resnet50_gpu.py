#!/usr/bin/env python
"""ResNet-50 on one GPU: torch eager FP32 / FP16 / BF16, torch.compile and resnet-opt's CUDA .pt2 package.

Rows (224×224 on the GPU; the model trained by run.sh's smoke step on the digits data at 224 px, so every row also
gets a digits top-1 on the 360 validation images):

  * eager-fp32            torch eager FP32, NCHW (the baseline every ratio is against, in the same run)
  * eager-fp16-cl         torch eager FP16, channels_last
  * eager-bf16-cl         torch eager BF16, channels_last
  * pt2-fp32              ``resnet-opt export pt2 --device cuda``: the AOTInductor FP32 package (dynamic batch)
  * compile-cudagraphs    ``torch.compile(mode="reduce-overhead")`` (CUDA graphs), FP16 channels_last
  * compile-max-autotune  ``torch.compile(mode="max-autotune-no-cudagraphs")``, FP16 channels_last

Timing: input already on the device in the row's dtype and memory format; per call a CUDA event pair around it
(the host synchronised before each call), after warm-up runs; p50 / p90 of the event times; throughput = batch / p50.
The first call at each batch size is timed on its own (for compiled rows: the compile). Each group of rows runs in a
child process with its own time limit, so a compile that runs long, or a crash, costs that group only; what a child
measured is written after every cell and kept when it is stopped.

    python benchmarks/gpu/resnet50_gpu.py --model RUN_DIR --pt2 PT2_DIR --out OUT --budget 200   # (run.sh does this)
    python benchmarks/gpu/resnet50_gpu.py --dry-run --model RUN_DIR --pt2 PT2_DIR --out OUT     # CPU, tiny sizes
    python benchmarks/gpu/resnet50_gpu.py --rerender --out OUT     # resnet50_gpu.md/.png again from the .json

Files in --out: resnet50_gpu.json (every figure), resnet50_gpu.md (the report) and resnet50_gpu.png (the plot); the
report also shows run.sh's steps.tsv and the test summary of tests.log when they are in --out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAME = "resnet50_gpu"
GPU_BATCHES = "1,8,32,64,128,256"
DRY_BATCHES = "1,2"
TARGET_B1_MS = 0.5
TARGET_IPS = 25_000
MLPERF_H200_IPS = 94_600  # MLPerf Inference v4.1, ResNet-50 offline, per H200, TensorRT INT8 (not run here)


@dataclass(frozen=True)
class VariantSpec:
    name: str
    label: str
    kind: str  # eager | pt2 | compile
    dtype: str  # fp32 | fp16 | bf16
    channels_last: bool
    group: str
    mode: str | None = None  # torch.compile mode
    shipped: bool = False  # an artifact resnet-opt writes (the .pt2 package)


def variant_specs(compile_dtype: str = "fp16") -> list[VariantSpec]:
    cd = compile_dtype.upper()
    return [
        VariantSpec("eager-fp32", "torch eager FP32, NCHW", "eager", "fp32", False, "eager"),
        VariantSpec("eager-fp16-cl", "torch eager FP16, channels_last", "eager", "fp16", True, "eager"),
        VariantSpec("eager-bf16-cl", "torch eager BF16, channels_last", "eager", "bf16", True, "eager"),
        VariantSpec("pt2-fp32", "resnet-opt `export pt2`: AOTInductor FP32 package", "pt2", "fp32", False,
                    "pt2", shipped=True),
        VariantSpec("compile-cudagraphs", f"torch.compile reduce-overhead (CUDA graphs), {cd} channels_last", "compile",
                    compile_dtype, True, "compile-cudagraphs", mode="reduce-overhead"),
        VariantSpec("compile-max-autotune", f"torch.compile max-autotune-no-cudagraphs, {cd} channels_last", "compile",
                    compile_dtype, True, "compile-max-autotune", mode="max-autotune-no-cudagraphs"),
    ]


# group -> (share of the budget it may use at most, seconds kept for it while earlier groups run)
GROUPS = {"eager": (0.35, 20.0), "pt2": (0.15, 10.0), "compile-cudagraphs": (0.45, 25.0),
          "compile-max-autotune": (1.0, 25.0)}


def log(msg: str) -> None:
    print(f"[resnet50_gpu {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return f"{type(e).__name__}: {s.splitlines()[0][:300]}" if s else type(e).__name__


def _write_json(path: Path, data: Any) -> None:
    from resnet_opt.core.artifact import atomic_write_text, to_json

    atomic_write_text(path, to_json(data) + "\n")


# ------------------------------------------------------------------------------------------------ child: measuring
def _dtype(name: str):
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def _prepare_input(x, spec: VariantSpec, device):
    import torch

    x = x.to(device=device, dtype=_dtype(spec.dtype))
    return x.contiguous(memory_format=torch.channels_last) if spec.channels_last else x.contiguous()


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _build(spec: VariantSpec, model, args, device) -> tuple[Callable, dict[str, Any]]:
    """The row's callable (tensor in, logits out) and facts about how it was built."""
    import copy

    import torch

    info: dict[str, Any] = {}
    if spec.kind == "pt2":
        if not args.pt2:
            raise RuntimeError("no .pt2 package (run.sh's smoke export step did not write one)")
        from resnet_opt.export.pt2_export import PT2_FILE, load_package

        folder = Path(args.pt2)
        man = json.loads((folder / "manifest.json").read_text())
        dev = str((man.get("compile") or {}).get("device") or "cpu")  # manifest.json's top-level compile section
        if dev != device.type:
            raise RuntimeError(f"the package was compiled for {dev}, this run measures on {device.type}")
        t0 = time.perf_counter()
        pkg = load_package(folder / PT2_FILE, device.type)
        info["load_ms"] = (time.perf_counter() - t0) * 1e3
        info["package"] = {"file": str(folder / PT2_FILE), "bytes": (folder / PT2_FILE).stat().st_size,
                           "compile": man.get("compile")}

        def run_pt2(x):
            y = pkg(x)
            return y[0] if isinstance(y, (list, tuple)) else y

        return run_pt2, info
    m = copy.deepcopy(model).eval().to(device=device, dtype=_dtype(spec.dtype))
    if spec.channels_last:
        m = m.to(memory_format=torch.channels_last)
    if spec.kind == "eager":
        return m, info
    import torch._inductor.config as ic

    ic.freezing = bool(args.freezing)  # fold BatchNorm and constant weights into the graph (inference)
    info["inductor"] = {"freezing": ic.freezing, "mode": spec.mode, "dynamic": False}
    compiled = torch.compile(m, mode=spec.mode, dynamic=False)
    if spec.mode == "reduce-overhead":
        mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)

        def run_graphs(x):
            if mark is not None:
                mark()  # a new iteration: the graph may reuse the previous call's output memory
            return compiled(x)

        return run_graphs, info
    return compiled, info


def _order(spec: VariantSpec, batches: list[int], compile_batches: list[int] | None) -> list[int]:
    """Eager rows: ascending. Compiled rows recompile per batch size: batch 1 (latency) first, then the largest
    (throughput), then the rest from large to small, so a time limit cuts the least telling ones."""
    if spec.kind != "compile":
        return sorted(batches)
    bs = sorted(compile_batches if compile_batches else batches)
    return bs[:1] + sorted(bs[1:], reverse=True)


def _stats(dev_ms: list[float], wall_s: list[float], batch: int) -> dict[str, Any]:
    import numpy as np

    a = np.asarray(dev_ms if dev_ms else [s * 1e3 for s in wall_s], dtype=np.float64)
    w = np.asarray(wall_s, dtype=np.float64) * 1e3
    p50, p90 = (float(v) for v in np.percentile(a, [50, 90]))
    return {"batch": batch, "runs": int(a.size), "timer": "cuda-events" if dev_ms else "wall-clock",
            "p50_ms": p50, "p90_ms": p90, "mean_ms": float(a.mean()), "min_ms": float(a.min()),
            "max_ms": float(a.max()), "wall_p50_ms": float(np.median(w)),
            "throughput_ips": batch * 1e3 / p50 if p50 > 0 else None}


def _accuracy(fn: Callable, spec: VariantSpec, x_val, y_val, batch: int, device) -> tuple[dict[str, Any], Any]:
    import torch

    from resnet_opt.engine.evaluate import run_in_fixed_batches

    def call(chunk):
        with torch.no_grad():
            return fn(_prepare_input(chunk, spec, device)).float().cpu()

    t0 = time.perf_counter()
    logits = run_in_fixed_batches(call, x_val, batch)
    top1 = float((logits.argmax(1) == y_val).float().mean() * 100) if y_val is not None else None
    return {"top1": top1, "images": int(x_val.shape[0]), "batch": batch,
            "seconds": time.perf_counter() - t0}, logits


def child_main(args: argparse.Namespace) -> int:
    import torch

    from resnet_opt.bench.timing import timed_runs

    work = Path(args.work)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # pick the fastest convolution algorithm per shape (first call)
    else:
        torch.set_num_threads(args.threads)
    specs = {s.name: s for s in variant_specs(args.compile_dtype)}
    model, meta = _load_model(args, device)
    val = torch.load(work / "val.pt", weights_only=True) if (work / "val.pt").is_file() else None
    x_val, y_val = (val["x"], val["y"]) if val is not None else (None, None)
    batches = [int(b) for b in args.batches.split(",")]
    compile_batches = [int(b) for b in args.compile_batches.split(",")] if args.compile_batches else None
    deadline = float(args.deadline)
    g = torch.Generator().manual_seed(0)
    for name in args.child.split(","):
        spec = specs[name]
        rec: dict[str, Any] = {"variant": name, "status": "running", "cells": [], "skipped": [], "started": time.time()}
        out = work / f"{name}.json"
        _write_json(out, rec)
        fn = None
        try:
            t0 = time.perf_counter()
            fn, info = _build(spec, model, args, device)
            rec.update(info, build_s=time.perf_counter() - t0)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            compile_s: list[float] = []
            for bs in _order(spec, batches, compile_batches):
                need = args.cell_seconds + 1.0 + (max(compile_s) * 1.2 if compile_s else 0.0)
                left = deadline - time.time()
                if left < need:
                    rec["skipped"].append({"batch": bs, "reason": f"time limit: {left:.0f} s left, a cell here needs "
                                                                  f"about {need:.0f} s"})
                    continue
                x = _prepare_input(torch.randn(bs, 3, meta["input_size"], meta["input_size"], generator=g), spec,
                                   device)
                rec["in_progress"] = {"batch": bs, "since": time.time()}
                _write_json(out, rec)
                with torch.no_grad():
                    _sync(device)
                    t1 = time.perf_counter()
                    fn(x)
                    _sync(device)
                    first = time.perf_counter() - t1
                    if spec.kind == "compile":
                        compile_s.append(first)
                    for _ in range(args.warmup):
                        fn(x)
                    _sync(device)
                    wall, dev = timed_runs(lambda: fn(x), args.iterations, budget_s=args.cell_seconds,
                                           min_runs=args.min_runs, cuda_events=device.type == "cuda")
                cell = _stats(dev, wall, bs)
                cell["first_call_s"] = first
                rec["cells"].append(cell)
                rec.pop("in_progress", None)
                log(f"{name} batch {bs}: p50 {cell['p50_ms']:.3f} ms, {cell['throughput_ips']:.0f} img/s "
                    f"(first call {first:.2f} s)")
                if "accuracy" not in rec and x_val is not None:
                    acc_bs = bs if spec.kind == "compile" else min(args.eval_batch, x_val.shape[0])
                    acc, logits = _accuracy(fn, spec, x_val, y_val, acc_bs, device)
                    torch.save(logits, work / f"{name}.logits.pt")
                    rec["accuracy"] = acc
                    log(f"{name}: digits top-1 {acc['top1']:.2f} % on {acc['images']} images (batch {acc_bs})"
                        if acc["top1"] is not None else f"{name}: logits of {acc['images']} images kept")
                _write_json(out, rec)
            if device.type == "cuda":
                rec["peak_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
            rec["status"] = "ok" if rec["cells"] else "skipped"
            if not rec["cells"]:
                rec["reason"] = "no batch size fitted in the time limit"
        except Exception as e:  # noqa: BLE001 - a row that fails is reported, the other rows go on
            rec["status"] = "error"
            rec["reason"] = _first_line(e)
            rec["traceback"] = traceback.format_exc()[-3000:]
            log(f"{name}: {rec['reason']}")
        rec.pop("in_progress", None)
        rec["seconds"] = time.time() - rec["started"]
        _write_json(out, rec)
        del fn
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


def _load_model(args: argparse.Namespace, device) -> tuple[Any, dict[str, Any]]:
    """The trained model folder (run.sh's smoke train step), else a random-init model of --depth (then no accuracy)."""
    import torch

    from resnet_opt.resnet import ResNet, load_model

    if args.model and (Path(args.model) / "config.json").is_file():
        cfg = json.loads((Path(args.model) / "config.json").read_text())
        return load_model(args.model).eval(), {"input_size": int(cfg.get("input_size") or args.size),
                                               "trained": True, "source": str(args.model),
                                               "depth": cfg.get("depth"), "num_classes": cfg.get("num_classes")}
    torch.manual_seed(0)
    return ResNet(int(args.depth), num_classes=1000).eval(), {"input_size": args.size, "trained": False,
                                                              "source": f"random init (seed 0), depth {args.depth}",
                                                              "depth": int(args.depth), "num_classes": 1000}


# ------------------------------------------------------------------------------------------------ parent
def machine(device_type: str) -> dict[str, Any]:
    import warnings

    import torch

    from resnet_opt.core.env import environment

    env = environment()
    g: dict[str, Any] = {"torch_cuda": torch.version.cuda}
    try:
        g["cudnn"] = torch.backends.cudnn.version()
    except Exception:  # noqa: BLE001
        g["cudnn"] = None
    if device_type == "cuda" and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        g.update(name=p.name, capability=f"{p.major}.{p.minor}", memory_gib=round(p.total_memory / 2**30, 1),
                 multiprocessors=p.multi_processor_count)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                g["tf32"] = {"cudnn_conv": bool(torch.backends.cudnn.allow_tf32),
                             "matmul": bool(torch.backends.cuda.matmul.allow_tf32)}
            except Exception:  # noqa: BLE001 - newer torch: fp32_precision settings instead
                g["tf32"] = None
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=15)
        g["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()[:200]
        g["driver"] = smi.stdout.split(",")[1].strip() if smi.returncode == 0 and "," in smi.stdout else None
    except (OSError, subprocess.SubprocessError) as e:
        g["nvidia_smi"] = f"not available ({type(e).__name__})"
        g["driver"] = None
    try:
        import importlib.metadata as md

        g["triton"] = md.version("triton")
    except Exception:  # noqa: BLE001
        g["triton"] = None
    env["gpu_detail"] = g
    return env


def prepare_val(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The digits validation split at the model's input size, once for every child (val.pt in the work folder)."""
    import torch

    from resnet_opt.data import build_loader
    from resnet_opt.engine.evaluate import materialize

    size = args.size
    trained = bool(args.model and (Path(args.model) / "config.json").is_file())
    if trained:
        size = int(json.loads((Path(args.model) / "config.json").read_text()).get("input_size") or size)
    x, y = materialize(build_loader(f"digits:{size}", "val", batch_size=120))
    if args.val_limit:
        x, y = x[:args.val_limit], y[:args.val_limit]
    torch.save({"x": x, "y": y if trained else None}, work / "val.pt")
    return {"data": f"digits:{size}", "split": "val", "images": int(x.shape[0]), "labels_used": trained}


class Stopped(Exception):
    """SIGTERM (run.sh's time limit for this step): collect what the children measured, write it, stop."""


def _on_term(signum: int, frame: Any) -> None:
    raise Stopped()


def _collect(members: list[VariantSpec], work: Path, data: dict[str, Any], why: str | None) -> None:
    for m in members:
        f = work / f"{m.name}.json"
        rec = json.loads(f.read_text()) if f.is_file() else {"variant": m.name, "status": "error", "cells": [],
                                                              "skipped": []}
        if rec.get("status") == "running" or not f.is_file():
            ip = rec.pop("in_progress", None)
            rec["status"] = "partial" if rec.get("cells") else "error"
            rec["reason"] = (why or "the process ended without finishing this row") + (
                f" during batch {ip['batch']} ({time.time() - ip['since']:.0f} s into it)" if ip else "")
        data["variants"][m.name] = rec


def run_children(args: argparse.Namespace, work: Path, data: dict[str, Any], out: Path, deadline: float) -> None:
    specs = variant_specs(args.compile_dtype)
    groups: list[tuple[str, list[VariantSpec]]] = []
    for s in specs:
        if args.variants and s.name not in args.variants.split(","):
            continue
        if not groups or groups[-1][0] != s.group:
            groups.append((s.group, []))
        groups[-1][1].append(s)
    plan = []
    for i, (g, members) in enumerate(groups):
        share, _ = GROUPS[g]
        plan.append(f"{g} ({', '.join(m.name for m in members)}): at most {share * args.budget:.0f} s")
    log(f"budget {args.budget:.0f} s for {len(groups)} groups of rows, each in its own process: " + "; ".join(plan))
    for i, (g, members) in enumerate(groups):
        share, _ = GROUPS[g]
        keep = sum(GROUPS[later][1] for later, _ in groups[i + 1:])
        left = deadline - time.time()
        limit = min(share * args.budget, left - keep)
        if limit < 8:
            for m in members:
                data["variants"][m.name] = {"variant": m.name, "status": "skipped", "cells": [], "skipped": [],
                                            "reason": f"time limit: {left:.0f} s of the budget left, {keep:.0f} s kept "
                                                      "for the rows after it"}
            write_all(data, out)
            continue
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", ",".join(m.name for m in members),
               "--work", str(work), "--deadline", f"{time.time() + limit - 3:.1f}", *child_args(args)]
        log(f"group {g}: up to {limit:.0f} s")
        t0 = time.time()
        stopped = False
        # its own process group (not a new session), so a time limit ends the child together with the compile and
        # autotuning workers Inductor starts
        proc = subprocess.Popen(cmd, process_group=0)
        try:
            rc = proc.wait(timeout=limit)
            why = None if rc == 0 else f"the process exited with {rc}"
        except subprocess.TimeoutExpired:
            rc, why = None, f"stopped at its time limit ({limit:.0f} s)"
        except Stopped:
            rc, why, stopped = None, "stopped by SIGTERM (the time limit of run.sh's benchmark step)", True
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of that group is still running
            except ProcessLookupError:
                pass
            proc.wait()
        _collect(members, work, data, why)
        data["groups"][g] = {"limit_s": limit, "seconds": time.time() - t0, "returncode": rc, "note": why}
        if stopped:
            for later, ms in groups[i + 1:]:
                for m in ms:
                    data["variants"][m.name] = {"variant": m.name, "status": "skipped", "cells": [], "skipped": [],
                                                "reason": "not started: the benchmark step was stopped (SIGTERM)"}
            attach_agreement(data, work)
            write_all(data, out)
            raise Stopped()
        attach_agreement(data, work)
        write_all(data, out)


def child_args(args: argparse.Namespace) -> list[str]:
    out = ["--device", args.device, "--batches", args.batches, "--iterations", str(args.iterations),
           "--warmup", str(args.warmup), "--min-runs", str(args.min_runs), "--cell-seconds", str(args.cell_seconds),
           "--compile-dtype", args.compile_dtype, "--eval-batch", str(args.eval_batch), "--threads", str(args.threads),
           "--size", str(args.size), "--depth", str(args.depth)]
    if not args.freezing:
        out.append("--no-freezing")
    if args.compile_batches:
        out += ["--compile-batches", args.compile_batches]
    if args.model:
        out += ["--model", str(args.model)]
    if args.pt2:
        out += ["--pt2", str(args.pt2)]
    return out


def attach_agreement(data: dict[str, Any], work: Path) -> None:
    """Top-1 agreement with eager FP32 and the largest logit difference, from the logits each child kept."""
    import torch

    ref_f = work / "eager-fp32.logits.pt"
    if not ref_f.is_file():
        return
    ref = torch.load(ref_f, weights_only=True)
    for name, rec in data["variants"].items():
        f = work / f"{name}.logits.pt"
        if not f.is_file() or "accuracy" not in rec:
            continue
        lg = torch.load(f, weights_only=True)
        rec["accuracy"]["agreement_with_eager_fp32"] = float((lg.argmax(1) == ref.argmax(1)).float().mean() * 100)
        rec["accuracy"]["max_abs_logit_diff"] = float((lg - ref).abs().max())
        rec["accuracy"]["max_abs_logit"] = float(ref.abs().max())


def write_all(data: dict[str, Any], out: Path, png: bool = False) -> None:
    from resnet_opt.core.artifact import atomic_write_text

    _write_json(out / f"{NAME}.json", data)
    atomic_write_text(out / f"{NAME}.md", render(data, out))
    if png:
        plot(data, out / f"{NAME}.png")


# ------------------------------------------------------------------------------------------------ report
def _cell(rec: dict[str, Any], bs: int) -> dict[str, Any] | None:
    return next((c for c in rec.get("cells") or [] if c["batch"] == bs), None)


def _best(rec: dict[str, Any]) -> dict[str, Any] | None:
    cells = [c for c in rec.get("cells") or [] if c.get("throughput_ips")]
    return max(cells, key=lambda c: c["throughput_ips"]) if cells else None


def _steps(out: Path) -> list[dict[str, str]]:
    f = out / "steps.tsv"
    if not f.is_file():
        return []
    rows = []
    for line in f.read_text().splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 5:
            rows.append({"step": parts[0], "budget_s": parts[1], "seconds": parts[2], "status": parts[3],
                         "rc": parts[4], "note": parts[5] if len(parts) > 5 else ""})
    return rows


SUMMARY_RE = re.compile(r"^=*\s*((\d+ (passed|failed|skipped|deselected|errors?|xfailed|xpassed|warnings?)(, )?)+"
                        r"( in [\d.]+s( \([\d:]+\))?)?|no tests ran( in [\d.]+s)?)\s*=*$")


def test_summary(out: Path) -> str | None:
    """pytest's closing line in tests.log (e.g. ``3 passed, 2 skipped, 606 deselected in 41.2s``)."""
    f = out / "tests.log"
    if not f.is_file():
        return None
    hits = [m.group(1).strip() for m in (SUMMARY_RE.match(ln.strip()) for ln in f.read_text(errors="replace")
                                         .splitlines()) if m]
    return hits[-1] if hits else None


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    specs = {s.name: s for s in variant_specs(data["args"]["compile_dtype"])}
    recs = [r for r in data["variants"].values() if r.get("cells")]
    b1 = [(r["variant"], _cell(r, 1)) for r in recs if _cell(r, 1)]
    best = [(r["variant"], _best(r)) for r in recs if _best(r)]
    shipped = [(n, c) for n, c in best if specs.get(n) and specs[n].shipped]
    dry = data.get("dry_run")
    out = []
    if b1:
        n, c = min(b1, key=lambda t: t[1]["p50_ms"])
        out.append({"target": f"batch-1 latency <= {TARGET_B1_MS} ms", "met": None if dry else c["p50_ms"] <= TARGET_B1_MS,
                    "detail": f"best: {n} {c['p50_ms']:.3f} ms (p90 {c['p90_ms']:.3f})"})
    if best:
        n, c = max(best, key=lambda t: t[1]["throughput_ips"])
        out.append({"target": f">= {TARGET_IPS:,} img/s", "met": None if dry else c["throughput_ips"] >= TARGET_IPS,
                    "detail": f"best: {n} {c['throughput_ips']:,.0f} img/s at batch {c['batch']}"
                              + (f" = {100 * c['throughput_ips'] / MLPERF_H200_IPS:.0f} % of MLPerf v4.1's "
                                 f"{MLPERF_H200_IPS:,} img/s per H200 (TensorRT INT8, not available here)" if not dry
                                 else "")})
    if shipped:
        n, c = max(shipped, key=lambda t: t[1]["throughput_ips"])
        b = _cell(data["variants"][n], 1)
        out.append({"target": "the shipped artifact (.pt2 package)", "met": None,
                    "detail": f"{n}: {c['throughput_ips']:,.0f} img/s at batch {c['batch']}"
                              + (f", batch 1 {b['p50_ms']:.3f} ms" if b else "")})
    return out


def render(data: dict[str, Any], out: Path) -> str:
    from resnet_opt.bench.report import environment_lines

    env = data.get("environment") or {}
    gd = env.get("gpu_detail") or {}
    dry = bool(data.get("dry_run"))
    specs = {s.name: s for s in variant_specs(data["args"]["compile_dtype"])}
    md = ["# ResNet-50 on a GPU: torch eager, torch.compile and the .pt2 package" if not dry else
          "# DRY RUN on the CPU of benchmarks/gpu/run.sh — not GPU figures", ""]
    if dry:
        md += ["Every step of the GPU run, run on this CPU at tiny sizes to prove the script and its wheel set work "
               "before a GPU is spent on them. The figures below measure nothing about a GPU.", ""]
    md += [f"Measured {data.get('created', '?')} on **{gd.get('name') or 'no GPU (CPU)'}**"
           + (f" (driver {gd.get('driver')}, CUDA {gd.get('torch_cuda')}, cuDNN {gd.get('cudnn')}, compute capability "
              f"{gd.get('capability')}, {gd.get('memory_gib')} GiB)" if gd.get("name") else "") + ". Command:", "",
           "```", data.get("command", "?"), "```", ""]
    steps = _steps(out)
    summary = test_summary(out)
    if steps or summary:
        md += ["## Steps of run.sh", ""]
        if steps:
            md += ["| step | budget s | took s | status | note |", "|---|---|---|---|---|"]
            md += [f"| {s['step']} | {s['budget_s']} | {s['seconds']} | {s['status']} | {s['note']} |" for s in steps]
            md.append("")
        if summary:
            md += [f"CUDA-marked tests (`pytest -m cuda`): `{summary}` (log: tests.log)", ""]
    recs = data.get("variants") or {}
    bss = [int(b) for b in data["args"]["batches"].split(",")]
    base = recs.get("eager-fp32") or {}
    md += ["## Summary", "",
           f"Against torch eager FP32 in the same run. Model: {data.get('model', {}).get('source', '?')}, "
           f"{data.get('model', {}).get('input_size', '?')}×{data.get('model', {}).get('input_size', '?')}"
           + (f", {data['model']['gmacs']:.2f} GMACs per image" if data.get("model", {}).get("gmacs") else "") + ".", "",
           "| row | b1 p50 ms | × eager @1 | best img/s (batch) | × eager there | TFLOP/s there | first call b1 s | "
           "digits top-1 % | agree % | status |", "|---|---|---|---|---|---|---|---|---|---|"]
    gmacs = (data.get("model") or {}).get("gmacs")
    for s in specs.values():
        r = recs.get(s.name)
        if r is None:
            continue
        c1, best = _cell(r, 1), _best(r)
        e1 = _cell(base, 1)
        eb = _cell(base, best["batch"]) if best else None
        acc = r.get("accuracy") or {}
        cells = [f"{s.name}: {s.label}",
                 f"{c1['p50_ms']:.3f}" if c1 else "—",
                 f"{e1['p50_ms'] / c1['p50_ms']:.2f}×" if c1 and e1 else "—",
                 f"{best['throughput_ips']:,.0f} ({best['batch']})" if best else "—",
                 f"{best['throughput_ips'] / eb['throughput_ips']:.2f}×" if best and eb else "—",
                 f"{2 * gmacs * best['throughput_ips'] / 1e3:.1f}" if best and gmacs else "—",
                 f"{c1['first_call_s']:.2f}" if c1 else "—",
                 f"{acc['top1']:.2f}" if acc.get("top1") is not None else "—",
                 f"{acc['agreement_with_eager_fp32']:.1f}" if acc.get("agreement_with_eager_fp32") is not None else "—",
                 r.get("status", "?") + (f": {r['reason']}" if r.get("reason") else "")]
        md.append("| " + " | ".join(cells) + " |")
    md += ["", "## Targets", "", "| target | met | measured |", "|---|---|---|"]
    for t in targets(data):
        md.append(f"| {t['target']} | {'—' if t['met'] is None else ('yes' if t['met'] else '**no**')} | {t['detail']} |")
    md += ["", "## Every batch size", "", "p50 ms (p90) and images/s; first call in seconds (compiled rows: the compile).",
           "", "| row | " + " | ".join(f"b{b}" for b in bss) + " |", "|---|" + "---|" * len(bss)]
    for s in specs.values():
        r = recs.get(s.name)
        if r is None:
            continue
        row = []
        for b in bss:
            c = _cell(r, b)
            row.append(f"{c['p50_ms']:.3f} ({c['p90_ms']:.3f}); {c['throughput_ips']:,.0f}/s; 1st {c['first_call_s']:.1f}"
                       if c else "—")
        md.append(f"| {s.name} | " + " | ".join(row) + " |")
    missing = []
    for s in specs.values():
        r = recs.get(s.name)
        if r is None:
            continue
        for sk in r.get("skipped") or []:
            missing.append(f"- {s.name} batch {sk['batch']}: {sk['reason']}")
        if r.get("status") not in ("ok",) and r.get("reason"):
            missing.append(f"- {s.name}: {r['status']} — {r['reason']}")
    if missing:
        md += ["", "## Not measured", ""] + missing
    md += ["", "## Method", "",
           f"- Timing: {data['args']['warmup']} warm-up calls after the first, then up to {data['args']['iterations']} "
           f"timed calls per cell (at most {data['args']['cell_seconds']} s, at least {data['args']['min_runs']}), "
           + ("each between two CUDA events with the host synchronised before it (device-resident input in the row's "
              "dtype and memory format, logits left on the device)" if not dry else "wall-clock (CPU)")
           + "; p50 and p90 of those times; throughput = batch / p50.",
           "- `torch.backends.cudnn.benchmark = True` for every row; FP32 convolutions use cuDNN's TF32 unless "
           f"torch's defaults were changed (here: {gd.get('tf32')}).",
           f"- Compiled rows: `torch.compile(model, mode=..., dynamic=False)`, Inductor freezing "
           f"{'on' if data['args']['freezing'] else 'off'}; a static graph per batch size, so each batch size is "
           "compiled anew (its first call); batch 1 first, then the largest.",
           "- The .pt2 row is the package `resnet-opt export pt2 --device cuda` wrote in run.sh's smoke step (FP32, "
           "dynamic batch 1..4096), loaded with `torch._inductor.aoti_load_package`.",
           f"- Accuracy: top-1 on the {data.get('val', {}).get('images', '?')} digits validation images "
           f"({data.get('val', {}).get('data', '?')}), each row run in its own dtype and layout; agreement = same "
           "top-1 as eager FP32.",
           "- Each group of rows (eager, pt2, each compile mode) ran in its own process with its own time limit; "
           "JSON: every cell, the build and load times, peak memory and the group limits."]
    md += ["", "## Machine", ""] + environment_lines(env)
    if gd.get("nvidia_smi"):
        md.append(f"- nvidia-smi: {gd['nvidia_smi']}")
    md += ["", f"![throughput and batch-1 latency]({NAME}.png)", ""]
    return "\n".join(md)


def plot(data: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # noqa: BLE001 - a report without its plot is still a report
        return None
    recs = [r for r in (data.get("variants") or {}).values() if r.get("cells")]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in recs:
        cs = sorted(r["cells"], key=lambda c: c["batch"])
        a.plot([c["batch"] for c in cs], [c["throughput_ips"] for c in cs], marker="o", label=r["variant"])
    a.set_xscale("log", base=2)
    a.set_yscale("log")
    bss = sorted({c["batch"] for r in recs for c in r["cells"]})
    if bss:
        a.set_xticks(bss)
        a.set_xticklabels([str(b) for b in bss])
    a.set_xlabel("batch size")
    a.set_ylabel("images / s (batch / p50)")
    a.grid(True, which="both", alpha=0.3)
    if recs:
        a.legend(fontsize=8)
    b1 = [(r["variant"], _cell(r, 1)["p50_ms"]) for r in recs if _cell(r, 1)]
    if b1:
        b.barh([n for n, _ in b1], [v for _, v in b1])
        if not data.get("dry_run"):
            b.axvline(TARGET_B1_MS, color="red", linestyle="--", label=f"target {TARGET_B1_MS} ms")
            b.legend(fontsize=8)
    b.set_xlabel("batch-1 latency, p50 ms")
    title = (data.get("environment") or {}).get("gpu_detail", {}).get("name") or "CPU (dry run)"
    fig.suptitle(f"ResNet-50 — {title}" if not data.get("dry_run") else "DRY RUN on the CPU (not GPU figures)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------ main
def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "gpu" / "out"), help="folder for the three result files")
    ap.add_argument("--model", default=None, help="model folder (run.sh's smoke train step); none: random init")
    ap.add_argument("--pt2", default=None, help="folder of `export pt2 --device cuda` (run.sh's smoke export step)")
    ap.add_argument("--budget", type=float, default=200.0, help="seconds for every row together")
    ap.add_argument("--batches", default=None, help=f"batch sizes (GPU default {GPU_BATCHES}; dry run {DRY_BATCHES})")
    ap.add_argument("--compile-batches", default=None, help="batch sizes for the compiled rows (default: --batches)")
    ap.add_argument("--variants", default=None, help="comma-separated subset of the rows")
    ap.add_argument("--iterations", type=int, default=None, help="timed calls per cell at most")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--min-runs", type=int, default=None)
    ap.add_argument("--cell-seconds", type=float, default=None, help="timing seconds per cell at most")
    ap.add_argument("--compile-dtype", default="fp16", choices=("fp16", "bf16", "fp32"))
    ap.add_argument("--no-freezing", dest="freezing", action="store_false", help="Inductor freezing off")
    ap.add_argument("--eval-batch", type=int, default=120, help="batch for the accuracy pass of eager/pt2 rows")
    ap.add_argument("--val-limit", type=int, default=None, help="digits validation images for accuracy (default: "
                    "all 360; dry run 60)")
    ap.add_argument("--size", type=int, default=224, help="input size when there is no model folder")
    ap.add_argument("--depth", default="50", help="depth when there is no model folder")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (dry run)")
    ap.add_argument("--device", default=None, help="cuda (default) or cpu (the dry run)")
    ap.add_argument("--dry-run", action="store_true", help="on the CPU, tiny sizes: proves the script, measures no GPU")
    ap.add_argument("--command", default=None, help="the command line to record (run.sh passes its own)")
    ap.add_argument("--rerender", action="store_true", help="rewrite the .md and .png from the .json in --out")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--deadline", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    dry = args.dry_run or args.device == "cpu"
    args.device = args.device or ("cpu" if args.dry_run else "cuda")
    defaults = {"batches": DRY_BATCHES if dry else GPU_BATCHES, "iterations": 5 if dry else 300,
                "warmup": 1 if dry else 10, "min_runs": 2 if dry else 10, "cell_seconds": 0.5 if dry else 1.0,
                "val_limit": 60 if dry else None}
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if dry and args.compile_batches is None and args.child is None:
        args.compile_batches = args.batches.split(",")[0]  # a CPU compile costs 20-30 s: one batch size only
    return args


def _error(msg: str) -> SystemExit:
    print(f"error: {msg}", file=sys.stderr)
    return SystemExit(2)


def check_args(args: argparse.Namespace) -> None:
    try:
        bs = [int(b) for b in args.batches.split(",")]
        cbs = [int(b) for b in args.compile_batches.split(",")] if args.compile_batches else []
    except ValueError:
        raise _error(f"--batches / --compile-batches must be comma-separated integers, got {args.batches!r} / "
                     f"{args.compile_batches!r}") from None
    if not bs or min(bs + cbs) < 1 or max(bs + cbs) > 4096:
        raise _error("batch sizes must be between 1 and 4096")
    if cbs and not set(cbs) <= set(bs):
        raise _error("--compile-batches must be a subset of --batches")
    if args.budget <= 0:
        raise _error(f"--budget must be positive, got {args.budget}")
    names = {s.name for s in variant_specs()}
    if args.variants and not set(args.variants.split(",")) <= names:
        raise _error(f"unknown row in --variants; valid: {', '.join(sorted(names))}")
    if args.device not in ("cuda", "cpu"):
        raise _error(f"--device must be cuda or cpu, got {args.device!r}")
    for name in ("model", "pt2"):
        p = getattr(args, name)
        if p and not Path(p).is_dir():
            log(f"--{name} {p} is not a folder: the rows that need it are reported as not measured")
            setattr(args, name, None)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    out = Path(args.out)
    if args.child:
        return child_main(args)
    if args.rerender:
        f = out / f"{NAME}.json"
        if not f.is_file():
            print(f"error: {f} does not exist (nothing to re-render)", file=sys.stderr)
            return 2
        data = json.loads(f.read_text())
        write_all(data, out, png=True)
        log(f"re-rendered {out / (NAME + '.md')} and .png from the JSON")
        return 0
    check_args(args)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: torch sees no CUDA GPU here; use --dry-run (CPU, tiny sizes) to check the script",
                  file=sys.stderr)
            return 2
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    command = args.command or ("python benchmarks/gpu/resnet50_gpu.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])))
    data: dict[str, Any] = {"name": NAME, "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": command,
                            "dry_run": args.dry_run or args.device == "cpu", "args": vars(args).copy(),
                            "variants": {}, "groups": {}}
    with tempfile.TemporaryDirectory(prefix="resnet50-gpu-") as d:
        work = Path(d)
        try:
            data["environment"] = machine(args.device)
        except Exception as e:  # noqa: BLE001 - the rows matter more than the machine description
            data["environment"] = {"error": _first_line(e)}
        try:
            data["val"] = prepare_val(args, work)
        except Exception as e:  # noqa: BLE001
            data["val"] = {"error": _first_line(e)}
            log(f"no digits data for accuracy: {_first_line(e)}")
        data["model"] = model_facts(args)
        write_all(data, out)
        signal.signal(signal.SIGTERM, _on_term)
        try:
            run_children(args, work, data, out, deadline=t0 + args.budget - 5)
        except Stopped:
            data["stopped"] = "SIGTERM"
    data["seconds"] = time.time() - t0
    write_all(data, out, png=True)
    print(render(data, out))
    log(f"wrote {out / (NAME + '.md')}, .json and .png in {data['seconds']:.0f} s")
    ok = [r for r in data["variants"].values() if r.get("cells")]
    return 0 if ok and all(r.get("status") == "ok" for r in data["variants"].values()) else 1


def model_facts(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from resnet_opt.resnet import count_macs

    try:
        model, meta = _load_model(args, torch.device("cpu"))
        meta["gmacs"] = count_macs(model, meta["input_size"]) / 1e9
        meta["parameters"] = sum(p.numel() for p in model.parameters())
        return meta
    except Exception as e:  # noqa: BLE001
        return {"error": _first_line(e)}


if __name__ == "__main__":
    raise SystemExit(main())
