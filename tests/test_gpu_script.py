"""benchmarks/gpu/run.sh and benchmarks/gpu/resnet50_gpu.py (issue 29): the dry run on the CPU end to end, bad
input, the report logic, and `train --amp`; the tests marked cuda run on the GPU machine (run.sh's tests step)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from conftest import requires_cuda
from helpers import one_line_error
from resnet_opt.cli import app

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "benchmarks" / "gpu"
RUN_SH = GPU / "run.sh"
SCRIPT = GPU / "resnet50_gpu.py"
STEPS = ["install", "tests", "smoke-train", "smoke-export", "smoke-bench", "benchmark"]
OUT_FILES = {"resnet50_gpu.md", "resnet50_gpu.json", "resnet50_gpu.png", "tests.log", "smoke_bench.md", "steps.tsv",
             "run.log"}


def _bench_module():
    spec = importlib.util.spec_from_file_location("resnet50_gpu", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["resnet50_gpu"] = mod
    spec.loader.exec_module(mod)
    return mod


def _wheels() -> Path:
    """benchmarks/gpu/wheels as fetch-wheels.sh fills it (from PyPI when it is empty; skipped without a network)."""
    d = GPU / "wheels"
    if not list(d.glob("*.whl")):
        r = subprocess.run(["bash", str(GPU / "fetch-wheels.sh")], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.skip(f"fetch-wheels.sh could not download the wheel set: {r.stderr.strip()[-300:]}")
    return d


def _one_error_line(r: subprocess.CompletedProcess, needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr + r.stdout


# ------------------------------------------------------------------------------------------------ the dry run
@pytest.mark.gpu_dry_run
@pytest.mark.skipif(torch.cuda.is_available(), reason="the dry run is the CPU's; on a GPU run.sh itself is the test")
def test_dry_run_runs_every_step_and_writes_the_result_files(tmp_path):
    _wheels()
    out = tmp_path / "out"
    r = subprocess.run(["bash", str(RUN_SH), "--dry-run", "--out", str(out)], capture_output=True, text=True,
                       timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    text = r.stdout
    # the plan, with each step's budget, comes first
    plan = text[:text.index("== step install")]
    assert "DRY RUN on the CPU" in plan and "total limit 900 s" in plan
    for step in STEPS + ["report"]:
        assert re.search(rf"^\s+{step}\s+(\d+ s|the rest)\s+\S", plan, re.M), (step, plan)
    assert "torch untouched" in text and "torch-pruning 1.6.1 (carried)" in text and "torchao 0.18.0 (carried)" in text
    # every step ran, ok, and the files came out (at most 8, names the device tool brings back)
    rows = [ln.split("\t") for ln in (out / "steps.tsv").read_text().splitlines()[1:]]
    assert [row[0] for row in rows] == STEPS and all(row[3] == "ok" for row in rows), rows
    assert all(0 < int(row[2]) <= int(row[1]) for row in rows if row[0] != "tests"), rows
    files = {p.name for p in out.iterdir()}
    assert files == OUT_FILES and len(files) <= 8
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f) for f in files)
    assert "2 skipped" in (out / "tests.log").read_text() or "skipped" in (out / "tests.log").read_text()
    assert "deselected" in (out / "tests.log").read_text()
    assert (out / "resnet50_gpu.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "torch-cpu" in (out / "smoke_bench.md").read_text()
    data = json.loads((out / "resnet50_gpu.json").read_text())
    assert data["dry_run"] is True and data["command"].startswith("bash benchmarks/gpu/run.sh --dry-run")
    names = [s.name for s in _bench_module().variant_specs()]
    assert sorted(data["variants"]) == sorted(names)
    for name, rec in data["variants"].items():
        assert rec["status"] == "ok", (name, rec.get("reason"), rec.get("traceback"))
        assert rec["cells"] and all(c["p50_ms"] > 0 and c["throughput_ips"] > 0 for c in rec["cells"]), name
        assert rec["cells"][0]["batch"] == 1 and rec["cells"][0]["first_call_s"] > 0
        assert rec["accuracy"]["images"] == 60 and rec["accuracy"]["top1"] is not None, name
        assert rec["accuracy"]["agreement_with_eager_fp32"] >= 90.0, (name, rec["accuracy"])
    assert [c["batch"] for c in data["variants"]["eager-fp32"]["cells"]] == [1, 2]
    assert data["variants"]["pt2-fp32"]["load_ms"] > 0
    md = (out / "resnet50_gpu.md").read_text()
    assert md.startswith("# DRY RUN on the CPU") and "## Steps of run.sh" in md
    assert re.search(r"`\d+ skipped, \d+ deselected in [\d.]+s`", md), md[:2000]
    for step in STEPS:
        assert f"| {step} |" in md


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("args,env,needle", [
    (["--total", "abc"], {}, "--total must be whole seconds"),
    (["--bogus"], {}, "unknown option '--bogus'"),
    (["--fresh-venv"], {}, "--fresh-venv belongs to --dry-run"),
    (["--dry-run", "--epochs", "0"], {}, "--epochs must be a positive whole number"),
    (["--dry-run"], {"WHEELS_DIR": "/nonexistent/wheels"}, "run 'bash benchmarks/gpu/fetch-wheels.sh' first"),
])
def test_run_sh_bad_input_is_one_error_line(tmp_path, args, env, needle):
    import os

    r = subprocess.run(["bash", str(RUN_SH), *args, "--out", str(tmp_path / "out")], capture_output=True, text=True,
                       timeout=60, env={**os.environ, **env})
    _one_error_line(r, needle)
    assert not (tmp_path / "out").exists()  # refused before anything is written


@pytest.mark.parametrize("args,needle", [
    (["--dry-run", "--batches", "1,x"], "comma-separated integers"),
    (["--dry-run", "--batches", "0,2"], "between 1 and 4096"),
    (["--dry-run", "--batches", "1,2", "--compile-batches", "4"], "subset of --batches"),
    (["--dry-run", "--variants", "eager-fp64"], "unknown row in --variants"),
    (["--dry-run", "--budget", "-1"], "--budget must be positive"),
    (["--rerender"], "nothing to re-render"),
])
def test_benchmark_script_bad_input_is_one_error_line(tmp_path, args, needle):
    r = subprocess.run([sys.executable, str(SCRIPT), *args, "--out", str(tmp_path / "o")], capture_output=True,
                       text=True, timeout=120)
    _one_error_line(r, needle)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_benchmark_script_refuses_cuda_without_a_gpu(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "o")], capture_output=True, text=True,
                       timeout=120)
    _one_error_line(r, "torch sees no CUDA GPU here; use --dry-run")


# ------------------------------------------------------------------------------------------------ report logic
def _cell(batch: int, p50: float) -> dict:
    return {"batch": batch, "p50_ms": p50, "p90_ms": p50 * 1.1, "throughput_ips": batch * 1e3 / p50,
            "first_call_s": 0.5, "runs": 10, "timer": "cuda-events"}


def _gpu_data(b1_best: float, b256_best: float) -> dict:
    cells = {"eager-fp32": [_cell(1, 3.0), _cell(256, 60.0)],
             "compile-cudagraphs": [_cell(1, b1_best), _cell(256, b256_best)],
             "pt2-fp32": [_cell(1, 1.5), _cell(256, 40.0)]}
    return {"dry_run": False, "command": "bash benchmarks/gpu/run.sh --out /x", "created": "now",
            "args": {"compile_dtype": "fp16", "batches": "1,256", "warmup": 10, "iterations": 300,
                     "cell_seconds": 1.0, "min_runs": 10, "freezing": True},
            "environment": {"gpu_detail": {"name": "NVIDIA H200", "driver": "580", "tf32": None}},
            "model": {"source": "m", "input_size": 224, "gmacs": 4.1}, "val": {"images": 360, "data": "digits:224"},
            "variants": {n: {"variant": n, "status": "ok", "cells": c, "skipped": []} for n, c in cells.items()}}


def test_targets_are_judged_on_the_best_row_of_the_run(tmp_path):
    m = _bench_module()
    met = {t["target"]: t for t in m.targets(_gpu_data(0.4, 10.0))}  # 0.4 ms; 25,600 img/s at batch 256
    assert met["batch-1 latency <= 0.5 ms"]["met"] is True and "compile-cudagraphs 0.400 ms" in \
        met["batch-1 latency <= 0.5 ms"]["detail"]
    assert met[">= 25,000 img/s"]["met"] is True and "25,600 img/s at batch 256" in met[">= 25,000 img/s"]["detail"]
    assert "pt2-fp32: 6,400 img/s" in met["the shipped artifact (.pt2 package)"]["detail"]
    missed = {t["target"]: t["met"] for t in m.targets(_gpu_data(0.8, 20.0))}
    assert missed["batch-1 latency <= 0.5 ms"] is False and missed[">= 25,000 img/s"] is False
    md = m.render(_gpu_data(0.8, 20.0), tmp_path)
    assert "| batch-1 latency <= 0.5 ms | **no** |" in md and "NVIDIA H200" in md
    assert "| compile-cudagraphs: " in md and "3.75×" in md  # 3.0 ms eager / 0.8 ms at batch 1
    dry = _gpu_data(0.4, 10.0)
    dry["dry_run"] = True
    assert all(t["met"] is None for t in m.targets(dry))  # a CPU dry run judges no GPU target


def test_compiled_rows_measure_batch_1_then_the_largest():
    m = _bench_module()
    specs = {s.name: s for s in m.variant_specs()}
    assert m._order(specs["compile-max-autotune"], [1, 8, 32, 64, 128, 256], None) == [1, 256, 128, 64, 32, 8]
    assert m._order(specs["eager-fp32"], [8, 1, 256], None) == [1, 8, 256]
    assert m._order(specs["compile-cudagraphs"], [1, 2], [1]) == [1]


def test_test_summary_is_pytest_closing_line(tmp_path):
    m = _bench_module()
    (tmp_path / "tests.log").write_text("ss..F\n===== short test summary info =====\nFAILED tests/x.py::t\n"
                                        "1 failed, 3 passed, 2 skipped, 600 deselected in 41.20s\n")
    assert m.test_summary(tmp_path) == "1 failed, 3 passed, 2 skipped, 600 deselected in 41.20s"
    (tmp_path / "tests.log").write_text("==== 3 passed, 606 deselected in 9.1s ====\n")
    assert m.test_summary(tmp_path) == "3 passed, 606 deselected in 9.1s"


# ------------------------------------------------------------------------------------------------ train --amp
def test_train_amp_bad_values_are_refused(tmp_path):
    runner = CliRunner()
    one_line_error(runner.invoke(app, ["train", "--amp", "fp8", "--out", str(tmp_path / "a")]),
                   "Invalid value for '--amp'", "'off', 'bf16', 'fp16'", code=2)
    one_line_error(runner.invoke(app, ["train", "--amp", "fp16", "--device", "cpu", "--out", str(tmp_path / "b")]),
                   "--amp fp16 needs a CUDA device", code=2)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@requires_cuda
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_train_amp_on_cuda(tmp_path, amp):
    out = tmp_path / f"run-{amp}"
    r = CliRunner().invoke(app, ["train", "--depth", "18", "--data", "digits", "--epochs", "2", "--amp", amp,
                                 "--device", "cuda", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["epochs_run"] == 2 and res["best_top1"] > 50.0, res
    state = torch.load(out / "train_state.pt", weights_only=True)
    assert state["config"]["amp"] == amp and (("scaler" in state) == (amp == "fp16"))


@requires_cuda
def test_benchmark_eager_rows_time_with_cuda_events(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "--device", "cuda", "--depth", "18", "--size", "64",
                        "--variants", "eager-fp32,eager-fp16-cl", "--batches", "1,4", "--budget", "120",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads((tmp_path / "resnet50_gpu.json").read_text())
    assert data["dry_run"] is False and data["environment"]["gpu_detail"]["name"]
    for name in ("eager-fp32", "eager-fp16-cl"):
        rec = data["variants"][name]
        assert rec["status"] == "ok" and [c["batch"] for c in rec["cells"]] == [1, 4], rec
        assert all(c["timer"] == "cuda-events" and c["p50_ms"] > 0 for c in rec["cells"])
        assert rec["peak_memory_mib"] > 0
