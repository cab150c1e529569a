"""Static INT8 quantization: the ONNX artifact (loads, is quantized, matches FP32), the torch target, the accuracy
gate, random-init runs, manifest contents, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from resnet_opt.cli import app
from resnet_opt.core.artifact import sha256_file
from resnet_opt.core.errors import AccuracyBudgetError, ConfigError, DataError, QuantizationError
from resnet_opt.data import build_loader
from resnet_opt.optimize.quantize_onnx import (
    ImageDataReader, OnnxQuantConfig, choose_quant_types, node_to_module, qdq_summary, quantize_onnx,
)
from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model
from resnet_opt.resnet import ResNet, load_model, read_config, save_model
from helpers import one_line_error
import dataclasses
from resnet_opt.resnet import ModelSpec

runner = CliRunner()
FAST = dict(calib_size=32, latency_runs=2)




@pytest.fixture(scope="module")
def onnx_artifact(trained_digits_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "int8"
    m = quantize_model(QuantizeConfig(out=out, source=ModelSpec(model_dir=trained_digits_dir), **FAST))
    return out, m


# ---------------------------------------------------------------- unit
def test_choose_quant_types_follows_isa():
    no_vnni = {"machine": "x86_64", "vnni": False, "amx": False, "flags": {"avx2": True}}
    vnni = {"machine": "x86_64", "vnni": True, "amx": False, "flags": {"avx2": True, "avx512_vnni": True}}
    arm = {"machine": "aarch64", "vnni": False, "amx": False, "flags": {}}
    t = choose_quant_types(no_vnni)
    assert (t.activation_type, t.weight_type, t.reduce_range) == ("uint8", "int8", True) and "without VNNI" in t.reason
    t = choose_quant_types(vnni)
    assert (t.activation_type, t.reduce_range) == ("uint8", False) and "VNNI" in t.reason
    assert choose_quant_types(arm).activation_type == "int8"
    t = choose_quant_types(no_vnni, activation_type="int8", reduce_range=False)
    assert (t.activation_type, t.reduce_range) == ("int8", False) and "overridden" in t.reason
    with pytest.raises(ConfigError):
        choose_quant_types(no_vnni, activation_type="int4")


def test_node_to_module():
    assert node_to_module("/layer1/layer1.0/conv1/Conv") == "layer1.0.conv1"
    assert node_to_module("/layer2/layer2.0/downsample/downsample.0/Conv") == "layer2.0.downsample.0"
    assert node_to_module("/conv1/Conv") == "conv1" and node_to_module("/fc/Gemm") == "fc"


@pytest.mark.parametrize("method", ["minmax", "entropy"])
def test_quantize_onnx_file_methods(trained_digits_dir, tmp_path, method):
    """The ONNX-file transform on its own: FP32 .onnx in, INT8 QDQ .onnx out, for the other calibration methods."""
    from resnet_opt.export import export_onnx

    model = load_model(trained_digits_dir)
    fp32 = export_onnx(model, tmp_path / "m.onnx", input_size=32)
    data = ImageDataReader(build_loader("digits", "calib", batch_size=16, limit=24))
    res = quantize_onnx(fp32, tmp_path / "q.onnx", data, OnnxQuantConfig(method=method), workdir=tmp_path / "w")
    assert res.settings["method"] == method and res.calibration_images == 24
    s = qdq_summary(res.path)
    assert s["quantized_layers"] == 21 and s["fp32_layers"] == [] and s["int8_weight_bytes"] > 10_000_000
    x, y = next(iter(build_loader("digits", "val", batch_size=200)))
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    q = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        f = model(x).numpy()
    assert (q.argmax(1) == f.argmax(1)).mean() >= 0.97


def test_quantize_onnx_rejects_non_model(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a protobuf at all")
    data = ImageDataReader([torch.zeros(1, 3, 8, 8)])
    with pytest.raises(QuantizationError, match="not an ONNX model"):
        quantize_onnx(bad, tmp_path / "q.onnx", data, workdir=tmp_path / "w")
    with pytest.raises(QuantizationError, match="empty"):
        ImageDataReader([])


# ---------------------------------------------------------------- the ONNX artifact
def test_onnx_artifact_loads_is_quantized_and_matches_fp32(onnx_artifact, trained_digits_dir, tmp_path):
    out, m = onnx_artifact
    f = out / "model_int8.onnx"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model_int8.onnx"]
    g = onnx.load(str(f))
    ops = {n.op_type for n in g.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert any(i.data_type == onnx.TensorProto.INT8 for i in g.graph.initializer)  # int8 weights
    # onnxruntime turns the QDQ groups into integer kernels
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    sess = ort.InferenceSession(str(f), so, providers=["CPUExecutionProvider"])
    opt_ops = {n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node}
    assert "QLinearConv" in opt_ops
    # INT8 top-1 measured independently on the val split matches FP32 and the manifest
    x, y = next(iter(build_loader("digits", "val", batch_size=1000)))
    q = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        fp = load_model(trained_digits_dir)(x).numpy()
    top1_q, top1_f = 100 * (q.argmax(1) == y.numpy()).mean(), 100 * (fp.argmax(1) == y.numpy()).mean()
    assert abs(top1_q - top1_f) <= 1.0
    assert m.int8_top1 == pytest.approx(top1_q) and m.fp32_top1 == pytest.approx(top1_f)
    assert m.top1_agreement >= 99.0 and m.accuracy_meaningful is True
    assert m.manifest.validation["int8_top1"] == m.int8_top1  # the typed result and the manifest agree


def test_onnx_manifest_fields_present_and_true(onnx_artifact, trained_digits_dir):
    out, m = onnx_artifact
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "onnx" and man["file"] == "model_int8.onnx" and man["precision"] == "int8"
    assert man["stage"] == "quantize"
    assert man["file_sha256"] == sha256_file(out / "model_int8.onnx")
    assert man["file_size"] == (out / "model_int8.onnx").stat().st_size
    src = man["source"]
    assert src["kind"] == "model_dir" and src["trained"] is True and src["architecture"] == "resnet18"
    assert src["sha256"] == sha256_file(Path(trained_digits_dir) / "model.safetensors")
    assert man["input"] == {"name": "input", "shape": [-1, 3, 32, 32], "dtype": "float32"}
    assert man["output"]["shape"] == [-1, 10]
    assert man["preprocessing"] == read_config(trained_digits_dir)["preprocessing"]
    assert man["class_names"] == [str(i) for i in range(10)]
    q = man["quantization"]
    assert q["format"] == "QDQ" and q["per_channel"] is True and q["weight_type"] == "int8"
    assert q["method"] == "percentile" and q["preprocess"]
    expected = choose_quant_types()
    assert q["activation_type"] == expected.activation_type and q["reduce_range"] == expected.reduce_range
    assert q["isa"]["vnni"] == man["cpu"]["vnni"] and q["type_choice_reason"]
    assert q["calibration"] == {"data": "digits", "data_from": "model folder", "split": "train", "images": 32,
                                "requested": 32, "seed": 0}
    assert q["nodes_to_exclude"] == [] and q["excluded_layers"] == [] and q["quantized_layers"] == 21
    v = man["validation"]
    assert v["eval"] == {"data": "digits", "split": "val", "images": 360}  # val split: no calibration image
    assert 0 <= v["max_abs_diff"] < 5 and v["fp32_export_max_rel_diff"] < 1e-3
    meas = man["measurements"]
    assert meas["size_bytes"]["int8"] == man["file_size"] and meas["size_bytes"]["ratio"] > 3
    lat = meas["latency_ms"]
    assert all(lat[k] > 0 for k in ("fp32_torch_eager", "fp32_onnx", "int8")) and lat["batch"] == 1
    assert all(man["versions"][k] for k in ("torch", "onnx", "onnxruntime"))
    assert "avx2" in man["cpu"]["flags"] and "vnni" in man["cpu"]


def test_torchscript_fx_target(trained_digits_dir, tmp_path):
    """The legacy torch.ao FX + TorchScript target (the torch target is PT2E .pt2 now: test_pt2.py)."""
    out = tmp_path / "ts"
    m = quantize_model(
        QuantizeConfig(
            out=out, source=ModelSpec(model_dir=trained_digits_dir), target="torchscript-fx", eval_size=120, **FAST
        )
    )
    assert m.kind == "torchscript" and m.file == "model_int8.ts"
    assert (
        m.manifest.quantization["backend"] == "x86"
        and m.manifest.quantization["method"] == "histogram"
    )
    ts = torch.jit.load(str(out / "model_int8.ts"))
    assert "quantized::" in str(ts.inlined_graph) or "quantized::" in str(ts.graph)
    x, y = next(iter(build_loader("digits", "val", batch_size=8)))
    with torch.no_grad():
        assert ts(x).shape == (8, 10)
    assert m.manifest.validation["top1_agreement"] >= 97.0
    with pytest.raises(ConfigError, match="torch target"):
        quantize_model(QuantizeConfig(out=tmp_path / "x", source=ModelSpec(model_dir=trained_digits_dir),
                       target="torchscript-fx", method="entropy"))
    assert not (tmp_path / "x").exists()


def test_random_init_reports_agreement_only(tmp_path):
    m = quantize_model(
        QuantizeConfig(out=tmp_path / "r", source=ModelSpec(depth=18), calib_size=4, eval_size=4, latency_runs=2)
    )
    v, q = m.manifest.validation, m.manifest.quantization
    assert m.manifest.source["trained"] is False and v["accuracy_meaningful"] is False
    assert "not meaningful" in v["note"] and "fp32_top1" not in v and "top1_agreement" in v
    assert q["calibration"]["data"] == "synthetic:224" and m.manifest.input.shape == [-1, 3, 224, 224]


def test_fused_and_pruned_model_folders(trained_digits_dir, tmp_path):
    fused = tmp_path / "fused"
    r = runner.invoke(app, ["fuse", "--model", str(trained_digits_dir), "--out", str(fused)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "qf"
    r = runner.invoke(app, ["quantize", "--model", str(fused), "--out", str(out), "--calib-size", "16",
                            "--eval-size", "100", "--latency-runs", "2", "--json"])
    assert r.exit_code == 0, r.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["validation"]["top1_agreement"] >= 97 and man["source"]["path"] == str(fused)
    # a pruned folder (narrower convs recorded in config "widths")
    pr = ResNet(18, num_classes=10, widths={"layer1.0.conv1": 32, "layer3.1.conv1": 128})
    save_model(pr, tmp_path / "pruned", preprocessing="digits", extra={"data": "digits"})
    m = quantize_model(QuantizeConfig(out=tmp_path / "qp", source=ModelSpec(model_dir=tmp_path / "pruned"),
                       calib_size=8, eval_size=16, latency_runs=2, min_agreement=0))
    assert m.manifest.architecture["widths"] == {"layer1.0.conv1": 32, "layer3.1.conv1": 128}


# ---------------------------------------------------------------- accuracy gate
@pytest.fixture(scope="module")
def fragile_dir(trained_digits_dir, tmp_path_factory):
    """The trained model with one huge negative logit bias: per-tensor quantization of the logits then loses the
    resolution that separates the other classes, so INT8 drops top-1 unless fc stays FP32."""
    model = load_model(trained_digits_dir)
    cfg = read_config(trained_digits_dir)
    with torch.no_grad():
        model.fc.bias[0] -= 5000.0
    out = tmp_path_factory.mktemp("fragile") / "m"
    save_model(model, out, input_size=32, preprocessing=cfg["preprocessing"], class_names=cfg["class_names"],
               extra={"data": "digits"})
    return out


def test_gate_keeps_sensitive_layer_in_fp32(fragile_dir, tmp_path):
    cfg = QuantizeConfig(max_accuracy_drop=0.3, min_agreement=0, **FAST)
    m = quantize_model(dataclasses.replace(cfg, out=tmp_path / "g", source=ModelSpec(model_dir=fragile_dir)))
    gate = m.manifest.quantization["accuracy_gate"]
    assert gate["steps"][0]["drop"] > 0.3  # the fully quantized model misses the budget ...
    assert gate["excluded"] and gate["excluded"][0] == "/fc/Gemm" and gate["ranking"][0]["layer"] == "fc"
    assert gate["drop"] <= 0.3 and m.manifest.validation["top1_drop"] <= 0.3  # ... and the gated one meets it
    assert (
        m.manifest.quantization["excluded_layers"] == ["fc"]
        and "/fc/Gemm" in m.manifest.quantization["fp32_layers"]
    )
    g = onnx.load(str(tmp_path / "g" / "model_int8.onnx"))
    fc = next(n for n in g.graph.node if n.name == "/fc/Gemm")
    inits = {i.name for i in g.graph.initializer}
    assert fc.input[1] in inits  # FP32 weights straight from an initializer, no DequantizeLinear


def test_gate_impossible_budget_fails_clearly(fragile_dir, tmp_path):
    out = tmp_path / "g"
    cfg = QuantizeConfig(max_accuracy_drop=0.3, max_excluded=0, min_agreement=0, **FAST)
    with pytest.raises(AccuracyBudgetError, match="cannot meet --max-accuracy-drop 0.3"):
        quantize_model(dataclasses.replace(cfg, out=out, source=ModelSpec(model_dir=fragile_dir)))
    assert not out.exists() and not any(p.name.startswith(".g") for p in tmp_path.iterdir())
    r = runner.invoke(app, ["quantize", "--model", str(fragile_dir), "--out", str(out), "--max-accuracy-drop", "0.3",
                            "--max-excluded", "0", "--min-agreement", "0", "--calib-size", "16", "--latency-runs", "1"])
    assert "cannot meet" in one_line_error(r, strict=False, code=2)
    assert not out.exists()


# ---------------------------------------------------------------- bad input
def test_bad_input_one_line_nothing_written(trained_digits_dir, tmp_path):
    notmodel = tmp_path / "file.txt"
    notmodel.write_text("x")
    empty = tmp_path / "empty_images"
    (empty / "train" / "a").mkdir(parents=True)
    (empty / "val" / "a").mkdir(parents=True)
    out = tmp_path / "out"
    md = ["--model", str(trained_digits_dir)]
    cases = {
        "calib-size": (md + ["--calib-size", "0"], "--calib-size must be at least 1"),
        "method": (md + ["--method", "kl"], "unknown calibration method"),
        "target": (md + ["--target", "tflite"], "Invalid value for '--target'"),
        "not a model": (["--model", str(notmodel)], "not a model folder"),
        "not weights": (["--weights", str(notmodel), "--data", "digits"], "not a loadable weights file"),
        "unlabelled": (md + ["--data", "synthetic:32", "--max-accuracy-drop", "1"], "has no labels"),
        "random + gate": (["--depth", "18", "--data", "digits", "--max-accuracy-drop", "1"], "needs a trained model"),
        "empty data": (["--depth", "18", "--data", f"imagefolder:{empty}", "--num-classes", "1"], "empty"),
        "class count": (md + ["--data", f"imagefolder:{empty}"], ""),
        "negative budget": (md + ["--max-accuracy-drop", "-1"], "non-negative"),
        "unwritable out": (md, "is not a folder"),
    }
    for name, (args, msg) in cases.items():
        o = out if name != "unwritable out" else notmodel / "sub"
        r = runner.invoke(app, ["quantize", "--out", str(o), *args])
        line = one_line_error(r, strict=False, code=2)
        assert msg.lower() in line.lower(), (name, line)
        assert not out.exists(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty_images", "file.txt"]  # no temp folders left


def test_unlabelled_accuracy_request_library(trained_digits_dir, tmp_path):
    with pytest.raises(DataError):
        quantize_model(QuantizeConfig(out=tmp_path / "o", source=ModelSpec(model_dir=trained_digits_dir),
                       data="synthetic:32", max_accuracy_drop=1.0))
