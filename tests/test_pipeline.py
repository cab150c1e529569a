"""The one-command pipeline end to end on a small digits subset (few images, 1 epoch), and its CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from resnet_opt.cli import app
from resnet_opt.core.errors import ConfigError, DataError
from resnet_opt.pipeline.pipeline import PipelineConfig, run_pipeline
from resnet_opt.resnet import ModelSpec

EVAL = 100
# pt2 off and the legacy FX INT8 target: AOTInductor compiles take about a minute each on 2 cores; the .pt2 stages
# are tested in test_pt2.py
FAST = dict(backends=["cpu"], batch_sizes=[1], iterations=2, warmup=1, time_budget_s=1.0, threads=2,
            eval_limit=EVAL, calib_size=32, pt2=False, torch_int8_target="torchscript-fx")
ALL_VARIANTS = {"fp32-eager", "fused-fp32-eager", "torchscript-fp32", "onnx-fp32", "onnx-int8", "torchscript-int8"}


def _rows(res):
    return {r.variant: r for r in res.bench.rows if r.status == "ok"}


def test_pipeline_train_prune_quantize_export_bench(tmp_path):
    out = tmp_path / "run"
    res = run_pipeline(PipelineConfig(source=ModelSpec(depth=18), out=out, data="digits", epochs=1, limit=200,
                       prune=0.5, finetune_epochs=1, **FAST))
    assert not res.failed, [(s.name, s.error) for s in res.failed]
    names = [s.name for s in res.stages]
    assert names[0] == "train" and names[1].startswith("prune 0.5") and names[-1] == "benchmark"
    for sub in ("model", "pruned", "fused", "torchscript", "onnx-fp32", "onnx-int8", "torchscript-int8"):
        assert (out / sub).is_dir(), sub
    assert json.loads((out / "onnx-int8" / "manifest.json").read_text())["precision"] == "int8"

    rows = _rows(res)
    assert set(rows) == ALL_VARIANTS | {"pruned-fp32-eager"}
    expected_backend = {"onnx-fp32": "ort-cpu", "onnx-int8": "ort-cpu", "torchscript-fp32": "torchscript-cpu",
                        "torchscript-int8": "torchscript-cpu"}
    for name, r in rows.items():
        assert r.backend == expected_backend.get(name, "torch-cpu")
        assert r.eval_count == EVAL and r.top1 is not None and r.timing(1) is not None
    # every later variant derives from the pruned model: FP32 exports and the fused model score like it
    pruned = rows["pruned-fp32-eager"].top1
    for name in ("fused-fp32-eager", "torchscript-fp32", "onnx-fp32"):
        assert abs(rows[name].top1 - pruned) <= 100.0 / EVAL + 1e-9, name
    assert res.bench.reference == "fp32-eager" and rows["fp32-eager"].agreement == pytest.approx(100.0)
    # the pruned model really is smaller
    assert rows["pruned-fp32-eager"].kind == "torch"
    sizes = {v["name"]: v["size_bytes"] for v in res.bench.variants}
    assert sizes["pruned-fp32-eager"] < sizes["fp32-eager"] / 2 and sizes["onnx-int8"] < sizes["onnx-fp32"] / 2

    md = (out / "report" / "report.md").read_text()
    assert "## Pipeline stages" in md and "## Comparison" in md
    for name in ALL_VARIANTS:
        assert f"| {name} |" in md
    summary = json.loads((out / "pipeline.json").read_text())
    assert [s["status"] for s in summary["stages"]].count("ok") == len(summary["stages"])
    assert (out / "report" / "accuracy_vs_latency.png").stat().st_size > 1000


def test_pipeline_from_trained_model_keeps_accuracy(trained_digits_dir, tmp_path):
    res = run_pipeline(
        PipelineConfig(source=ModelSpec(model_dir=trained_digits_dir), out=tmp_path / "run", data="digits", **FAST)
    )
    assert not res.failed, [(s.name, s.error) for s in res.failed]
    assert res.stages[0].name == "train" and res.stages[0].status == "skipped"
    rows = _rows(res)
    assert set(rows) == ALL_VARIANTS
    fp32 = rows["fp32-eager"].top1
    assert fp32 > 85.0
    assert rows["onnx-fp32"].top1 == pytest.approx(fp32, abs=100.0 / EVAL + 1e-9)
    for name in ("onnx-int8", "torchscript-int8"):
        assert rows[name].top1 >= fp32 - 3.0, (name, rows[name].top1, fp32)
        assert rows[name].agreement >= 95.0
    assert not (tmp_path / "run" / "model").exists()  # --model is used in place, not copied


def test_pipeline_overwrite_replaces_only_its_own_folder_and_keeps_it_on_failure(tmp_path, monkeypatch):
    """Without --overwrite an existing folder is refused (the message names the option, which pipeline has);
    with it, a pipeline folder is rebuilt and the old one survives a failed or interrupted run."""
    import resnet_opt.pipeline.pipeline as P
    from resnet_opt.core.errors import OutputPathError

    out = tmp_path / "run"
    stub = lambda cfg, o, **kw: (o / "stage.txt").write_text(str(cfg.seed)) and P._write_record(o, cfg, {})  # noqa: E731
    monkeypatch.setattr(P, "_run_stages", stub)
    run_pipeline(PipelineConfig(out=out, seed=1, **FAST))
    assert json.loads((out / "pipeline.json").read_text())["format"] == "resnet-opt-pipeline"
    with pytest.raises(OutputPathError, match="pass --overwrite"):
        PipelineConfig(out=out, **FAST).validate()

    def fail(cfg, o, **kw):
        (o / "stage.txt").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(P, "_run_stages", fail)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(PipelineConfig(out=out, seed=2, overwrite=True, **FAST))
    assert (out / "stage.txt").read_text() == "1" and sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    monkeypatch.setattr(P, "_run_stages", stub)
    run_pipeline(PipelineConfig(out=out, seed=3, overwrite=True, **FAST))
    assert (out / "stage.txt").read_text() == "3" and sorted(p.name for p in out.iterdir()) == ["pipeline.json",
                                                                                              "stage.txt"]
    # the source model cannot live in the folder --overwrite replaces
    with pytest.raises(ConfigError, match="inside --out"):
        PipelineConfig(out=out, source=ModelSpec(model_dir=out), overwrite=True, **FAST).validate()
    # a folder resnet-opt did not write is never replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("x")
    res = runner.invoke(app, ["pipeline", "--out", str(mine), "--overwrite"])
    assert res.exit_code != 0 and "did not write" in res.output and (mine / "thesis.tex").is_file()


def test_pipeline_config_rejects_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="--prune must be strictly between 0 and 1"):
        PipelineConfig(out=tmp_path, prune=1.5).validate()
    with pytest.raises(DataError, match="no labels"):
        PipelineConfig(out=tmp_path, data="synthetic").validate()
    with pytest.raises(ConfigError, match="unknown backend"):
        PipelineConfig(out=tmp_path, backends=["cpu", "npu"]).validate()
    with pytest.raises(ConfigError, match="--distill needs"):
        PipelineConfig(out=tmp_path, distill=True).validate()


runner = CliRunner()


@pytest.mark.parametrize("args, expected", [
    (["--prune", "0"], "--prune must be strictly between 0 and 1"),
    (["--data", "synthetic"], "no labels"),
    (["--batch-sizes", "0"], "batch sizes must be at least 1"),
    (["--backends", "cpu,quantum"], "unknown backend 'quantum'"),
    (["--method", "magic"], "unknown calibration method"),
])
def test_cli_pipeline_bad_input(tmp_path, args, expected):
    res = runner.invoke(app, ["pipeline", "--out", str(tmp_path / "o")] + args)
    assert res.exit_code != 0 and "Traceback" not in res.output
    errs = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errs) == 1 and expected in errs[0], res.output
    assert not (tmp_path / "o").exists()
