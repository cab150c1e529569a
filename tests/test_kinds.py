"""The artifact contract, end to end: every artifact kind the tool writes × every consumer, through the CLI.

Kinds: model folder (train), Python-saved folder (save_model), pruned, fused, ONNX FP32 / FP16 / static batch /
INT8, TorchScript FP32 / FX INT8, PT2 (AOTInductor) FP32 / PT2E INT8 — all from one small trained digits model
(OpenVINO IR and Triton repositories: tests/test_openvino.py, tests/test_triton.py). Consumers: ``runtime.load``, ``predict``,
``eval``, ``bench``, and ``export``/``fuse``/``quantize`` where the kind is a valid input. The same image gets the
same top-1 from every kind of the same weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import one_line_error
from resnet_opt.cli import app
from resnet_opt.core.manifest import KINDS, open_artifact
from resnet_opt.runtime import load

runner = CliRunner()

SAME_WEIGHTS = ["model", "python-saved", "fused", "onnx", "onnx-fp16", "onnx-static", "onnx-int8", "ts", "ts-int8",
                "pt2", "pt2-int8"]
MODEL_KINDS = ["model", "python-saved", "pruned", "fused"]  # valid --model inputs of the model-rebuilding stages
ALL = SAME_WEIGHTS + ["pruned"]


def _ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, (args, r.output)
    return r.stdout


@pytest.fixture(scope="module")
def kinds(tmp_path_factory, trained_digits_dir, pt2_artifacts) -> dict[str, Path]:
    from resnet_opt.resnet import load_model, save_model

    root = tmp_path_factory.mktemp("kinds")
    t = str(trained_digits_dir)
    out = {"model": trained_digits_dir, "pt2": pt2_artifacts.fp32, "pt2-int8": pt2_artifacts.int8}  # compiled once
    out["python-saved"] = save_model(load_model(trained_digits_dir), root / "python-saved", preprocessing="digits")
    q = ["--data", "digits", "--calib-size", "16", "--eval-size", "32", "--latency-runs", "1"]
    cmds = {
        "pruned": ["prune", "--model", t, "--ratio", "0.2", "--data", "digits", "--finetune-epochs", "1",
                   "--eval-limit", "32", "--latency-runs", "1"],
        "fused": ["fuse", "--model", t],
        "onnx": ["export", "onnx", "--model", t, "--count", "4"],
        "onnx-fp16": ["export", "onnx", "--model", t, "--fp16", "--count", "4"],
        "onnx-static": ["export", "onnx", "--model", t, "--static-batch", "--count", "4"],
        "onnx-int8": ["quantize", "--model", t, *q],
        "ts": ["export", "torchscript", "--model", t, "--count", "4", "--optimize", "off"],
        "ts-int8": ["quantize", "--model", t, "--target", "torchscript-fx", *q],
    }
    for name, args in cmds.items():
        _ok([*args, "--out", str(root / name)])
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def reference(kinds, digits_val_pngs):
    """Top-1 and probability of the trained model (eager) on the PNG files."""
    paths, _ = digits_val_pngs
    return load(kinds["model"]).predict(paths, top_k=1)


def _confident(reference, margin: float = 0.9) -> list[int]:
    idx = [i for i, p in enumerate(reference) if p.probabilities[0] >= margin]
    assert len(idx) >= 20, [p.probabilities[0] for p in reference]
    return idx


def test_every_written_kind_is_registered(kinds):
    seen = {open_artifact(p).kind for p in kinds.values()}
    assert seen <= set(KINDS) and {"model", "onnx", "torchscript"} <= seen


@pytest.mark.parametrize("name", SAME_WEIGHTS)
def test_runtime_load_gives_the_same_top1(kinds, digits_val_pngs, reference, name):
    paths, _ = digits_val_pngs
    preds = load(kinds[name]).predict(paths, top_k=1)
    idx = _confident(reference)
    assert [preds[i].top1 for i in idx] == [reference[i].top1 for i in idx]


@pytest.mark.parametrize("name", ALL)
def test_predict_cli(kinds, digits_val_pngs, reference, name):
    paths, labels = digits_val_pngs
    idx = _confident(reference)[:8]
    out = _ok(["predict", str(kinds[name]), *(str(paths[i]) for i in idx), "--top-k", "1", "--json"])
    got = [row["indices"][0] for row in json.loads(out)["predictions"]]
    if name == "pruned":  # other weights: the right class is what counts
        assert sum(g == labels[i] for g, i in zip(got, idx)) >= 7, (got, [labels[i] for i in idx])
    else:
        assert got == [reference[i].top1 for i in idx]


@pytest.mark.parametrize("name", ALL)
def test_eval_cli(kinds, name):
    res = json.loads(_ok(["eval", "--model", str(kinds[name]), "--data", "digits", "--limit", "64", "--json"]))
    assert res["count"] == 64 and res["top1"] >= 80.0, res


def test_bench_cli_measures_every_kind(kinds, tmp_path):
    report = tmp_path / "report"
    _ok(["bench", *(str(kinds[n]) for n in ALL), "--reference", kinds["model"].name, "--backends", "cpu",
         "--batch-sizes", "1",
         "--iterations", "2", "--warmup", "1", "--time-budget", "0.5", "--threads", "2", "--data", "digits",
         "--limit", "32", "--report", str(report)])
    data = json.loads((report / "results.json").read_text())
    text = json.dumps(data)
    for n in ALL:
        assert f'"{kinds[n].name}"' in text, n
    assert (report / "report.md").is_file()


@pytest.mark.parametrize("name", MODEL_KINDS)
def test_model_kinds_feed_the_model_stages(kinds, tmp_path, name):
    _ok(["export", "onnx", "--model", str(kinds[name]), "--count", "2", "--out", str(tmp_path / "o")])
    assert open_artifact(tmp_path / "o").kind == "onnx"
    if name != "fused":
        _ok(["fuse", "--model", str(kinds[name]), "--out", str(tmp_path / "f")])
        assert open_artifact(tmp_path / "f").manifest.architecture["fused"] is True


@pytest.mark.parametrize("name", ["onnx", "onnx-int8", "ts", "pt2"])
@pytest.mark.parametrize("stage", [["fuse"], ["export", "onnx"], ["quantize"]])
def test_inference_kinds_are_refused_as_model_input_with_one_line(kinds, tmp_path, name, stage):
    r = runner.invoke(app, [*stage, "--model", str(kinds[name]), "--out", str(tmp_path / "x")])
    one_line_error(r, "artifact", "model folder")
    assert not (tmp_path / "x").exists()


def test_folder_without_preprocessing_is_refused_by_predict_not_guessed(kinds, digits_val_pngs, tmp_path):
    import shutil

    paths, _ = digits_val_pngs
    f = tmp_path / "old"
    shutil.copytree(kinds["python-saved"], f)
    cfg = json.loads((f / "config.json").read_text())
    cfg["preprocessing"] = {}
    (f / "config.json").write_text(json.dumps(cfg))
    one_line_error(runner.invoke(app, ["predict", str(f), str(paths[0])]), "records no preprocessing")
    # eval brings the data spec's own preprocessing
    res = json.loads(_ok(["eval", "--model", str(f), "--data", "digits", "--limit", "32", "--json"]))
    assert res["top1"] >= 80.0


@pytest.mark.parametrize("name", ALL)
def test_inspect_every_kind(kinds, name):
    """`resnet-opt inspect` describes every kind it writes, with every file's hash checked (issue 18)."""
    d = json.loads(_ok(["inspect", str(kinds[name]), "--json"]))
    assert d["verified"] and d["num_classes"] == 10 and d["preprocessing"]["crop"] == 32, d
    assert d["files"] and all(f["status"] in ("ok", "not recorded") for f in d["files"])
    out = _ok(["inspect", str(kinds[name])])
    assert d["kind"] in out and d["files"][0]["path"] in out
