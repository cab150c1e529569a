"""quantize --target openvino: NNCF (OpenVINO's own quantizer) into an OpenVINO IR INT8 artifact, with the same
validation, manifest, consumers and bad-input rules as the other targets (issue 23). NNCF is an optional extra: the
tests that run it skip with the reason when it is absent; the bad-input rules are checked either way."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from helpers import one_line_error
from resnet_opt.cli import app
from resnet_opt.optimize.quantize_nncf import nncf_unavailable_reason

runner = CliRunner()
needs_nncf = pytest.mark.skipif(nncf_unavailable_reason() is not None, reason=str(nncf_unavailable_reason()))
QUICK = ["--calib-size", "32", "--eval-size", "64", "--latency-runs", "2"]


@pytest.fixture(scope="module")
def nncf_dir(tmp_path_factory, trained_digits_dir):
    out = tmp_path_factory.mktemp("nncf") / "ov-int8"
    r = runner.invoke(app, ["quantize", "--target", "openvino", "--model", str(trained_digits_dir), *QUICK,
                            "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    return out, json.loads(r.stdout)


@needs_nncf
def test_openvino_target_writes_a_validated_int8_ir_with_its_manifest(nncf_dir):
    out, res = nncf_dir
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.bin", "model.xml"]
    m = json.loads((out / "manifest.json").read_text())
    assert (m["kind"], m["precision"], m["stage"], m["file"]) == ("openvino", "int8", "quantize", "model.xml")
    files = {f["path"]: f for f in m["files"]}
    assert files["model.bin"]["role"] == "weights" and len(files["model.bin"]["sha256"]) == 64
    q = m["quantization"]
    assert q["tool"] == "nncf.quantize" and q["fast_bias_correction"] is True and q["target"] == "openvino"
    assert q["calibration"]["split"] == "train" and q["calibration"]["images"] == 32
    assert q["quantized_layers"] == 21 and q["fp32_layers"] == [] and q["op_counts"]["FakeQuantize"] > 0
    v = m["validation"]
    assert v["eval"] == {"data": "digits", "split": "val", "images": 64}
    assert v["top1_agreement"] >= 95.0 and v["int8_top1"] > 90.0, v
    lat = m["measurements"]["latency_ms"]
    assert lat["int8"] > 0 and lat["fp32_openvino"] > 0 and m["measurements"]["speedup_int8_vs_fp32_openvino"] > 0
    assert m["openvino"]["inference_precision_hint"] == "f32" and m["versions"]["nncf"]
    assert res["int8_top1"] == v["int8_top1"] and res["kind"] == "openvino"


@needs_nncf
def test_every_consumer_opens_the_nncf_artifact(nncf_dir, trained_digits_dir, digits_val_pngs, tmp_path):
    from resnet_opt.core.manifest import open_artifact
    from resnet_opt.runtime import load

    out, _ = nncf_dir
    assert open_artifact(out).kind == "openvino"
    pred = load(out)
    assert (pred.kind, pred.provider, pred.precision, pred.ran_precision) == ("openvino", "openvino", "int8", "fp32")
    paths, _ = digits_val_pngs
    ref = load(trained_digits_dir).predict(paths, top_k=1)
    sure = [i for i, p in enumerate(ref) if p.probabilities[0] >= 0.9][:10]
    assert len(sure) >= 8
    got = pred.predict([paths[i] for i in sure], top_k=1)
    assert [p.top1 for p in got] == [ref[i].top1 for i in sure]
    r = runner.invoke(app, ["predict", str(out), *(str(paths[i]) for i in sure[:4]), "--top-k", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert [row["indices"][0] for row in json.loads(r.stdout)["predictions"]] == [ref[i].top1 for i in sure[:4]]
    ev = json.loads(runner.invoke(app, ["eval", "--model", str(out), "--data", "digits", "--limit", "64",
                                        "--json"]).stdout)
    assert ev["count"] == 64 and ev["top1"] > 90.0, ev
    d = json.loads(runner.invoke(app, ["inspect", str(out), "--json"]).stdout)
    assert d["verified"] and d["kind"] == "openvino" and d["num_classes"] == 10
    report = tmp_path / "report"
    r = runner.invoke(app, ["bench", str(out), "--backends", "openvino", "--batch-sizes", "1", "--iterations", "2",
                            "--warmup", "1", "--time-budget", "0.5", "--data", "digits", "--limit", "32",
                            "--report", str(report)])
    assert r.exit_code == 0, r.output
    rows = [row for row in json.loads((report / "results.json").read_text())["rows"] if row["variant"] == out.name]
    assert rows and all(row["status"] == "ok" for row in rows), rows
    # an inference artifact, not a model folder: refused as the model stages' input, with one line
    r = runner.invoke(app, ["quantize", "--target", "openvino", "--model", str(out), "--out", str(tmp_path / "x")])
    one_line_error(r, "artifact", "model folder")
    assert not (tmp_path / "x").exists()


@needs_nncf
def test_max_accuracy_drop_goes_through_nncf_accuracy_control(trained_digits_dir, tmp_path):
    from resnet_opt.core.manifest import read_manifest
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model
    from resnet_opt.resnet import ModelSpec

    out = tmp_path / "gated"
    res = quantize_model(QuantizeConfig(out=out, source=ModelSpec(model_dir=trained_digits_dir), target="openvino",
                                        calib_size=16, eval_size=64, latency_runs=1, max_accuracy_drop=2.0))
    g = read_manifest(out)["quantization"]["accuracy_gate"]
    assert g["tool"] == "nncf.quantize_with_accuracy_control" and g["budget"] == 2.0 and g["drop_type"] == "absolute"
    assert g["drop"] <= 2.0 and g["fp32_top1"] == res.fp32_top1 and g["int8_top1"] == res.int8_top1
    assert g["max_reverted"] == 6  # a quarter of the 21 layers, as the onnx target's gate


def test_openvino_target_bad_input_is_one_line(trained_digits_dir, tmp_path, monkeypatch):
    base = ["quantize", "--target", "openvino", "--model", str(trained_digits_dir), "--out", str(tmp_path / "q")]
    one_line_error(runner.invoke(app, [*base, "--method", "minmax"]), "--method", "NNCF")
    one_line_error(runner.invoke(app, [*base, "--reduce-range", "on"]), "--reduce-range")
    one_line_error(runner.invoke(app, [*base, "--activation-type", "int8"]), "--activation-type")
    one_line_error(runner.invoke(app, [*base, "--max-accuracy-drop", "-1"]), "--max-accuracy-drop")
    one_line_error(runner.invoke(app, ["quantize", "--target", "torch", "--model", str(trained_digits_dir),
                                       "--max-accuracy-drop", "1", "--out", str(tmp_path / "q")]), "openvino")
    one_line_error(runner.invoke(app, [*base[:-2], "--data", "digits:64", "--out", str(tmp_path / "q")]), "px")
    # without NNCF: the reason, in one line, before any work
    import resnet_opt.optimize.quantize_nncf as qn

    monkeypatch.setattr(qn, "nncf_unavailable_reason",
                        lambda: "the openvino target needs NNCF, OpenVINO's quantizer: pip install 'resnet-opt[openvino]'")
    one_line_error(runner.invoke(app, base), "needs NNCF", "resnet-opt[openvino]")
    assert not (tmp_path / "q").exists()
