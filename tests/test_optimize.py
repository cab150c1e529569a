"""resnet-opt optimize: a small search end to end on digits (tiny budget, then resumed with a larger one), the
Pareto front and the choice, best/ loads with runtime.load, no qualifying candidate exits 1 naming the closest, and
bad input is one error line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from resnet_opt.cli import app
from resnet_opt.pipeline.optimize import Candidate, pareto_front

SMALL = ["--data", "digits", "--max-drop", "5", "--runtimes", "onnxruntime,torch", "--precisions", "int8,fp32",
         "--ratios", "0.5", "--refine-steps", "0", "--finetune-epochs", "1", "--limit", "256", "--eval-limit", "200",
         "--calib-size", "32", "--iterations", "10", "--importance", "l2", "--round-to", "8"]


def _run(args: list[str]):
    return CliRunner().invoke(app, args)


def _check_front(d: dict) -> None:
    timed = [c for c in d["candidates"] if c["status"] == "timed"]
    front = [c for c in timed if c["id"] in d["front"]]
    assert front, d["front"]
    for c in front:  # nobody beats a front member on both axes
        assert not any(o["val_top1"] >= c["val_top1"] and o["latency_ms"] <= c["latency_ms"]
                       and (o["val_top1"] > c["val_top1"] or o["latency_ms"] < c["latency_ms"]) for o in timed)
    for c in timed:  # and every other timed candidate is beaten by one
        if c["id"] not in d["front"]:
            assert any(o["val_top1"] >= c["val_top1"] and o["latency_ms"] <= c["latency_ms"] for o in front)
    ok = [c for c in timed if c["within_budget"] and c["within_target"]]
    assert d["chosen"] == min(ok, key=lambda c: c["latency_ms"])["id"]
    assert d["chosen"] in d["front"]


def test_pareto_front_keeps_only_undominated():
    def c(i, acc, ms):
        return Candidate(id=i, ratio=0, artifact="a", path="p", runtime="onnxruntime", backend="ort-cpu",
                         precision="int8", val_top1=acc, latency_ms=ms, status="timed")

    cands = [c("a", 99.0, 2.0), c("b", 98.0, 1.0), c("c", 97.0, 1.5), c("d", 99.0, 3.0),
             Candidate(id="e", ratio=0, artifact="a", path=None, runtime="torch", backend="torch-cpu",
                       precision="fp32", val_top1=100.0, status="rejected")]
    assert [x.id for x in pareto_front(cands)] == ["b", "a"]


def test_optimize_search_resume_and_no_candidate(trained_digits_dir, tmp_path):
    from resnet_opt.core.manifest import open_artifact
    from resnet_opt.runtime import load

    out = tmp_path / "opt"
    base = ["optimize", "--model", str(trained_digits_dir), *SMALL, "--out", str(out)]

    # 1. a budget so small that only the source level (level 0 always runs) is searched
    r1 = _run(base + ["--budget-minutes", "0.001", "--json"])
    assert r1.exit_code == 0, r1.output
    d1 = json.loads(r1.stdout)
    assert {c["id"] for c in d1["candidates"]} == {"r0/model/torch", "r0/onnx-fp32/onnxruntime",
                                                   "r0/onnx-int8/onnxruntime"}
    assert d1["budget"]["stopped"] and "budget" in d1["budget"]["stopped"]
    saved1 = json.loads((out / "candidates.json").read_text())
    _check_front(saved1)
    first = {p: p.stat().st_mtime_ns for p in (out / "levels").rglob("manifest.json")}
    assert len(first) == 2  # the ONNX FP32 and INT8 artifacts of level 0 (the source folder is the given one)

    # 2. the same search with a larger budget resumes: level 0 is reused, the 0.5 level is added
    r2 = _run(base + ["--budget-minutes", "20"])
    assert r2.exit_code == 0, r2.output
    assert "resuming the search" in r2.output and "chosen " in r2.output, r2.output
    d2 = json.loads((out / "candidates.json").read_text())
    ids = {c["id"] for c in d2["candidates"]}
    assert {"r0.5/model/torch", "r0.5/onnx-fp32/onnxruntime", "r0.5/onnx-int8/onnxruntime"} <= ids
    assert all(first[p] == p.stat().st_mtime_ns for p in first), "level-0 artifacts were rebuilt, not reused"
    _check_front(d2)
    assert (out / "candidates.md").read_text().count("**chosen**") >= 1
    assert (out / "pareto.png").stat().st_size > 1000
    best = open_artifact(out / "best")
    sec = best.manifest.details["optimize"]
    assert sec["candidate"]["id"] == d2["chosen"] and sec["report"]["split"] == "val"  # digits: no test split
    assert sec["report"]["speedup_vs_fp32_eager"] > 0
    pred = load(out / "best")
    import torch

    logits = pred.logits(torch.zeros(2, 3, 32, 32))
    assert tuple(logits.shape) == (2, 10)

    # 3. a latency target nothing meets: exit 1, the closest named, figures still written, no stale best/
    r3 = _run(base + ["--budget-minutes", "20", "--target-latency-ms", "0.00001"])
    assert r3.exit_code == 1, r3.output
    assert "no candidate" in r3.output and "the fastest:" in r3.output, r3.output
    assert not (out / "best").exists()
    assert json.loads((out / "optimize.json").read_text())["status"] == "no-candidate"


@pytest.mark.parametrize("extra, needle", [
    (["--max-drop", "-1"], "--max-drop"),
    (["--runtimes", "tensorflow"], "unknown runtime"),
    (["--precisions", "int4"], "unknown precision"),
    (["--ratios", "0.5,abc"], "--ratios"),
    (["--ratios", "1.5"], "--ratios"),
    (["--batch", "0"], "--batch"),
])
def test_bad_input_is_one_line(trained_digits_dir, tmp_path, extra, needle):
    r = _run(["optimize", "--model", str(trained_digits_dir), "--data", "digits", "--out", str(tmp_path / "o"),
              *extra])
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.output
    assert not (tmp_path / "o").exists()


def test_refuses_random_model_and_foreign_out(trained_digits_dir, tmp_path):
    r = _run(["optimize", "--depth", "18", "--data", "digits", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "trained model" in r.output, r.output
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    for extra in ([], ["--overwrite"]):
        r = _run(["optimize", "--model", str(trained_digits_dir), "--data", "digits", "--out", str(foreign), *extra])
        assert r.exit_code == 2 and "not an optimize work folder" in r.output, r.output
    assert (foreign / "notes.txt").read_text() == "keep me"
    other = tmp_path / "other-search"  # an optimize work folder of other settings: refused, nothing touched
    other.mkdir()
    (other / "optimize.json").write_text(json.dumps({"format": "resnet-opt-optimize", "version": 1, "status": "done",
                                                     "fingerprint": {"data": "fashion-mnist"}}))
    r = _run(["optimize", "--model", str(trained_digits_dir), "--data", "digits", "--out", str(other)])
    assert r.exit_code == 2 and "other settings" in r.output and "--overwrite" in r.output, r.output
    assert sorted(p.name for p in other.iterdir()) == ["optimize.json"]
    r = _run(["optimize", "--model", str(trained_digits_dir), "--data", "fashion-mnist:64", "--out",
              str(tmp_path / "o2")])
    assert r.exit_code == 2 and r.output.startswith("error: "), r.output


def _no_gpu(monkeypatch, gpu_backends=()):
    """The backend probe as on a machine without a GPU (``gpu_backends`` still run: a CPU-only torch wheel beside a
    working onnxruntime-gpu)."""
    import resnet_opt.bench.backends as backends

    real = backends.unavailable_reason
    monkeypatch.setattr(backends, "unavailable_reason",
                        lambda name: None if name in gpu_backends else
                        "no CUDA GPU here (stub)" if name in ("ort-cuda", "ort-tensorrt", "torch-cuda") else real(name))


def test_cuda_runtimes_are_left_out_with_the_reason_without_a_gpu(monkeypatch, trained_digits_dir, tmp_path):
    from resnet_opt.pipeline.optimize import CUDA_RUNTIMES, resolve_runtimes

    _no_gpu(monkeypatch)
    want, skipped = resolve_runtimes("auto")
    assert not set(want) & set(CUDA_RUNTIMES) and "onnxruntime" in want and "torch" in want
    assert all("no CUDA GPU" in skipped[r] for r in CUDA_RUNTIMES), skipped
    for name in ("tensorrt", "onnxruntime-cuda", "torch-cuda", "ort-cuda"):
        r = _run(["optimize", "--model", str(trained_digits_dir), "--data", "digits", "--runtimes", name,
                  "--out", str(tmp_path / "o")])
        lines = [x for x in r.output.splitlines() if x.strip()]
        assert r.exit_code == 2 and len(lines) == 1 and "no CUDA GPU" in lines[0], r.output
        assert lines[0].startswith("error: --runtimes ") and not (tmp_path / "o").exists()


def test_onnxruntime_cuda_runtimes_are_probed_by_their_provider_not_by_torch(monkeypatch):
    """A CPU-only torch wheel beside a working onnxruntime-gpu: onnxruntime's CUDA and TensorRT runtimes join auto,
    torch on CUDA does not."""
    import torch

    from resnet_opt.pipeline.optimize import resolve_runtimes

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _no_gpu(monkeypatch, gpu_backends=("ort-cuda", "ort-tensorrt"))
    want, skipped = resolve_runtimes("auto")
    assert {"onnxruntime-cuda", "tensorrt"} <= set(want) and "torch-cuda" not in want, (want, skipped)
    assert "no CUDA GPU" in skipped["torch-cuda"]


def test_cuda_runtimes_join_auto_and_get_their_artifacts_where_a_gpu_runs_them(monkeypatch, trained_digits_dir,
                                                                                tmp_path):
    import torch

    import resnet_opt.bench.backends as backends
    from resnet_opt.pipeline.optimize import BACKEND_OF, CUDA_RUNTIMES, OptimizeConfig, resolve_runtimes
    from resnet_opt.resnet import ModelSpec

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(backends, "unavailable_reason", lambda name: None)
    want, _ = resolve_runtimes("auto")
    assert set(CUDA_RUNTIMES) <= set(want) and "pt2" not in want
    assert {BACKEND_OF[r] for r in CUDA_RUNTIMES} == {"ort-cuda", "ort-tensorrt", "torch-cuda"}
    cfg = OptimizeConfig(out=tmp_path / "o", source=ModelSpec(model_dir=trained_digits_dir), data="digits",
                         runtimes="tensorrt", precisions="int8,fp32")
    cfg.validate()
    assert cfg.artifact_names() == ["onnx-fp32", "onnx-int8"]  # TensorRT runs the INT8 QDQ graph
    cfg = OptimizeConfig(out=tmp_path / "o", source=ModelSpec(model_dir=trained_digits_dir), data="digits",
                         runtimes="onnxruntime-cuda,torch-cuda", precisions="int8,fp32")
    cfg.validate()
    assert cfg.artifact_names() == ["model", "onnx-fp32"]  # no INT8 on the CUDA provider (it dequantizes)


@pytest.mark.cuda
def test_optimize_searches_cuda_runtimes_on_a_gpu(trained_digits_dir, tmp_path):
    out = tmp_path / "opt"
    r = _run(["optimize", "--model", str(trained_digits_dir), "--data", "digits", "--max-drop", "5", "--runtimes",
              "onnxruntime-cuda,torch-cuda,onnxruntime", "--precisions", "fp32", "--ratios", "0.5", "--refine-steps",
              "0", "--finetune-epochs", "1", "--limit", "256", "--eval-limit", "200", "--iterations", "10",
              "--importance", "l2", "--round-to", "8", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    timed = {c["id"]: c for c in d["candidates"] if c["status"] == "timed"}
    assert {"r0/model/torch-cuda", "r0/onnx-fp32/onnxruntime-cuda"} <= set(timed), d["candidates"]
    ref = timed["r0/model/torch"]["val_top1"]
    assert abs(timed["r0/onnx-fp32/onnxruntime-cuda"]["val_top1"] - ref) <= 0.5
    _check_front(json.loads((out / "candidates.json").read_text()))


def test_a_choice_that_breaks_the_budget_on_the_test_split_is_said_and_exits_1(monkeypatch, trained_digits_dir,
                                                                                 tmp_path):
    """The choice is made on val figures; when the report (test) split then shows the budget broken, the console,
    the table and the manifest say so and the command exits 1, keeping best/ for inspection. Digits has no test
    split, so the report split and its top-1 are stood in for: the chosen artifact scores 6 pt under the source."""
    import resnet_opt.data as data
    from resnet_opt.core.manifest import open_artifact
    from resnet_opt.pipeline import optimize as opt

    real_top1 = opt._Search.top1
    calls = []

    def top1(self, path, runtime, split="val"):
        if split != "test":
            return real_top1(self, path, runtime, split)
        calls.append(runtime)
        return (89.0 if len(calls) == 1 else 95.0), 1000  # the chosen artifact first, then the source

    monkeypatch.setattr(data, "report_split", lambda spec: "test")
    monkeypatch.setattr(opt._Search, "top1", top1)
    out = tmp_path / "opt"
    r = _run(["optimize", "--model", str(trained_digits_dir), *SMALL, "--budget-minutes", "0.001", "--out", str(out)])
    assert r.exit_code == 1, r.output
    assert "warning: on the test split the choice loses 6.00 pt, more than --max-drop 5" in " ".join(r.output.split())
    last = [x for x in r.output.splitlines() if x.strip()][-1]
    assert last.startswith("error: on the test split") and "best/ is kept" in last, r.output
    rep = open_artifact(out / "best").manifest.details["optimize"]["report"]
    assert rep["within_budget"] is False and rep["drop"] == 6.0 and rep["val_standard_error_pt"] > 0
    assert "**Warning: on the test split" in (out / "candidates.md").read_text()

    # The Python entry point raises the same error, carrying the whole result (here: the search resumed from out).
    from resnet_opt.core.errors import ReportBudgetError
    from resnet_opt.resnet import ModelSpec

    calls.clear()
    cfg = opt.OptimizeConfig(out=out, source=ModelSpec(model_dir=trained_digits_dir), data="digits", max_drop=5,
                             runtimes="onnxruntime,torch", precisions="int8,fp32", ratios=(0.5,), refine_steps=0,
                             finetune_epochs=1, train_limit=256, eval_limit=200, calib_size=32, iterations=10,
                             importance="l2", round_to="8", budget_minutes=0.001)
    with pytest.raises(ReportBudgetError) as e:
        opt.optimize_model(cfg)
    assert e.value.result.report["within_budget"] is False and e.value.result.best == out / "best"
    calls.clear()
    assert opt.optimize_model(cfg, raise_on_none=False).report["within_budget"] is False  # returned when asked
