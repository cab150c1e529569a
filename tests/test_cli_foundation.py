"""CLI: models, train, eval, and bad input (one line, non-zero exit, no traceback)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from resnet_opt.cli import app
from helpers import one_line_error

runner = CliRunner()




def test_models_table_and_json():
    r = runner.invoke(app, ["models"])
    assert r.exit_code == 0 and "resnet152" in r.output and "25,557,032" in r.output and "4.09" in r.output
    r = runner.invoke(app, ["models", "--json", "--input-size", "64"])
    rows = json.loads(r.output)
    assert [x["depth"] for x in rows] == [18, 34, 50, 101, 152] and rows[2]["parameters"] == 25_557_032


def test_train_then_eval(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--depth", "18", "--data", "digits:16", "--epochs", "1", "--limit", "64",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "best val top-1" in r.output
    r = runner.invoke(app, ["eval", "--model", str(out), "--data", "digits:16", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["count"] == 360 and 0.0 <= res["top1"] <= 100.0 and res["top5"] >= res["top1"]


def test_eval_of_trained_fixture(trained_digits_dir):
    r = runner.invoke(app, ["eval", "--model", str(trained_digits_dir), "--data", "digits"])
    assert r.exit_code == 0 and "top-1" in r.output and "images 360" in r.output


@pytest.mark.parametrize("args,needle", [
    (["train", "--depth", "7", "--out", "x"], "unsupported ResNet depth"),
    (["train", "--data", "mnist", "--out", "x"], "unknown data spec"),
    (["train", "--data", "synthetic", "--out", "x"], "no labels"),
    (["train", "--data", "imagefolder:/no/such", "--out", "x"], "does not exist"),
    (["train", "--epochs", "0", "--out", "x"], "epochs must be at least 1"),
    (["eval", "--model", "/no/such/model"], "does not exist"),
])
def test_bad_input_is_one_line(args, needle, tmp_path):
    args = [a if a != "x" else str(tmp_path / "x") for a in args]
    one_line_error(runner.invoke(app, args), needle)


def test_eval_class_count_mismatch(trained_digits_dir, tmp_path):
    import numpy as np
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / c / "0.png")
    r = runner.invoke(app, ["eval", "--model", str(trained_digits_dir), "--data", f"imagefolder:{tmp_path}"])
    one_line_error(r, "10 classes", "2")


def test_debug_shows_traceback(tmp_path):
    r = runner.invoke(app, ["--debug", "eval", "--model", str(tmp_path / "nope")])
    assert r.exit_code != 0 and r.exception is not None
