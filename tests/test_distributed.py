"""Multi-process training and evaluation under torchrun (gloo, CPU): one artifact, rank 0 prints, accuracy like one
process, a dead rank ends the run with one error and no artifact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import one_line_error
from resnet_opt.cli import app
from resnet_opt.data import build_loader
from resnet_opt.engine import evaluate
from resnet_opt.resnet import load_model

ROOT = Path(__file__).resolve().parents[1]
RUN_FILES = {"config.json", "model.safetensors", "train_state.pt", "history.json"}


def _recipe(trained_digits_dir: Path) -> list[str]:
    # fine-tune the session's trained R18 briefly: both runs stay near its accuracy, so 1 point is a stable bound
    return ["train", "--data", "digits", "--weights", str(trained_digits_dir / "model.safetensors"), "--epochs", "1",
            "--limit", "512", "--batch-size", "64", "--lr", "1e-4", "--warmup-epochs", "0", "--seed", "0",
            "--threads", "1", "--json"]


def _run(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"):
        e.pop(k, None)
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=e, timeout=600)


@pytest.fixture(scope="module")
def runs(trained_digits_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("dist")
    recipe = _recipe(trained_digits_dir)
    two = _run(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "resnet_opt", *recipe,
                "--out", str(base / "two" / "run")])
    one = _run(["-m", "resnet_opt", *recipe, "--out", str(base / "one" / "run")])
    return base, two, one


def test_torchrun_two_processes_write_one_artifact_like_one_process(runs):
    base, two, one = runs
    assert two.returncode == 0, two.stderr[-3000:]
    assert one.returncode == 0, one.stderr[-3000:]
    res2 = json.loads(two.stdout)  # exactly one JSON document: only rank 0 printed
    res1 = json.loads(one.stdout)
    assert res2["distributed"] == {"world_size": 2, "backend": "gloo", "launcher": "torchrun"}
    assert "distributed" not in res1
    # one artifact, nothing else beside it (no second rank's copy, no temporary leftovers)
    assert [p.name for p in (base / "two").iterdir()] == ["run"]
    assert {p.name for p in (base / "two" / "run").iterdir()} == RUN_FILES
    val = build_loader("digits", "val", batch_size=256)
    acc2 = evaluate(load_model(base / "two" / "run"), val)
    acc1 = evaluate(load_model(base / "one" / "run"), val)
    assert acc2.count == acc1.count == 360
    # the metric summed over ranks is the saved model's accuracy on the whole val split
    assert abs(res2["best_top1"] - acc2.top1) < 1e-9
    assert acc2.top1 > 90.0 and abs(acc2.top1 - acc1.top1) <= 1.0, (acc1.top1, acc2.top1)


def test_eval_with_nproc_sums_the_shards(runs):
    base, two, _ = runs
    model = base / "two" / "run"
    r = _run(["-m", "resnet_opt", "eval", "--model", str(model), "--nproc", "2", "--threads", "1", "--json"])
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    ref = evaluate(load_model(model), build_loader("digits", "val", batch_size=64))
    assert res["count"] == 360 and abs(res["top1"] - ref.top1) < 1e-9 and res["distributed"]["world_size"] == 2


def test_a_dead_rank_ends_the_run_with_one_error_and_no_artifact(trained_digits_dir, tmp_path):
    out = tmp_path / "run"
    r = _run(["-m", "resnet_opt", *_recipe(trained_digits_dir), "--out", str(out), "--nproc", "2"],
             env={"RESNET_OPT_TEST_FAIL": "1:2"})  # rank 1 dies (exit 17) at its third step
    assert r.returncode != 0
    text = r.stdout + r.stderr
    assert "Traceback" not in text, text[-3000:]
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, text[-3000:]
    assert "rank 1" in errors[0] and "exit code 17" in errors[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_nproc_must_be_positive(tmp_path):
    r = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "x"), "--nproc", "0"])
    one_line_error(r, "--nproc")
    assert not (tmp_path / "x").exists()
