"""Quantization-aware training (torchao PT2E) into an INT8 ONNX QDQ artifact."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from helpers import one_line_error
from resnet_opt.cli import app
from resnet_opt.core.manifest import read_manifest
from resnet_opt.core.errors import ConfigError
from resnet_opt.pipeline.qat import QatConfig

runner = CliRunner()


def test_schedule_follows_torchvision_and_short_runs():
    s = QatConfig(epochs=8).schedule()
    assert (s["freeze_observers_after_epoch"], s["freeze_bn_after_epoch"]) == (4, 3)
    s = QatConfig(epochs=2).schedule()
    assert (s["freeze_observers_after_epoch"], s["freeze_bn_after_epoch"]) == (1, 1)
    s = QatConfig(epochs=1).schedule()
    assert (s["freeze_observers_after_epoch"], s["freeze_bn_after_epoch"]) == (None, None)
    for bad in (dict(epochs=0), dict(lr=0.0), dict(activation="cubic"), dict(weight_bits=4), dict(freeze_bn_epoch=0)):
        with pytest.raises(ConfigError):
            QatConfig(**bad).validate()


def test_qat_writes_a_validated_int8_onnx_artifact(trained_digits_dir, tmp_path):
    pytest.importorskip("torchao")
    from resnet_opt.pipeline.evaluate import evaluate_path
    from resnet_opt.pipeline.qat import qat_model

    out = tmp_path / "qat"
    res = qat_model(model_dir=trained_digits_dir, out=out,
                    config=QatConfig(epochs=1, batch_size=32, limit=128, latency_runs=2))
    m = read_manifest(out)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model_int8.onnx"]
    assert m["kind"] == "onnx" and m["precision"] == "int8" and m["stage"] == "qat"
    q = m["quantization"]
    assert q["qat"] is True and q["format"] == "QDQ" and q["schedule"]["epochs"] == 1
    assert {"freeze_observers_after_epoch", "freeze_bn_after_epoch", "lr", "optimizer"} <= set(q["schedule"])
    assert q["quantized_layers"] >= 20 and q["op_counts"].get("QuantizeLinear", 0) > 0
    v = m["validation"]
    assert v["eval"]["images"] == 360 and v["eval"]["split"] == "val"
    assert v["int8_top1"] > 85.0 and abs(v["fp32_top1"] - v["int8_top1"]) < 5.0, v
    assert v["export_check"]["top1_agreement"] >= 98.0
    # the artifact loads through the runtime like any ONNX artifact and gives the recorded accuracy
    ev = evaluate_path(out, "digits")
    assert ev["count"] == 360 and abs(ev["top1"] - v["int8_top1"]) < 1e-9
    assert res["out"] == str(out)


def test_qat_bad_input_is_one_line(tmp_path, trained_digits_dir):
    r = runner.invoke(app, ["qat", "--model", str(trained_digits_dir), "--out", str(tmp_path / "q"), "--epochs", "0"])
    one_line_error(r, "--epochs")
    r = runner.invoke(app, ["qat", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "q")])
    one_line_error(r)
    r = runner.invoke(app, ["qat", "--model", str(trained_digits_dir), "--out", str(tmp_path / "q"),
                            "--activation", "cubic"])
    one_line_error(r, "activation")
    assert not (tmp_path / "q").exists()
