"""Quantization-aware training (torchao PT2E) into the INT8 artifacts of PTQ: ONNX QDQ and a PT2E INT8 ``.pt2``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from helpers import one_line_error
from resnet_opt.cli import app
from resnet_opt.core.manifest import read_manifest
from resnet_opt.core.errors import ConfigError
from resnet_opt.pipeline.qat import QatConfig, QatResult
from resnet_opt.pipeline.evaluate import EvalConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def digits16_dir(tmp_path_factory):
    """The smallest trained model the .pt2 test can use: ResNet-18 on digits at 16 px, one epoch (AOTInductor's
    compile time does not depend on the image size, the training and evaluation do)."""
    from resnet_opt.data import build_loader
    from resnet_opt.engine import TrainConfig, train
    from resnet_opt.resnet import get_model, save_model

    model = get_model("resnet18", num_classes=10)
    train(model, build_loader("digits:16", "train", batch_size=64, shuffle=True, seed=0, drop_last=True), None,
          TrainConfig(epochs=1, seed=0))
    return save_model(model.eval(), tmp_path_factory.mktemp("digits16") / "r18", preprocessing="digits:16")


def test_schedule_follows_torchvision_and_short_runs():
    s = QatConfig(epochs=8).schedule()
    assert (s["freeze_observers_after_epoch"], s["freeze_bn_after_epoch"]) == (4, 3)
    s = QatConfig(epochs=2).schedule()
    assert (s["freeze_observers_after_epoch"], s["freeze_bn_after_epoch"]) == (1, 1)
    s = QatConfig(epochs=1).schedule()
    assert (s["freeze_observers_after_epoch"], s["freeze_bn_after_epoch"]) == (None, None)
    for bad in (dict(epochs=0), dict(lr=0.0), dict(activation="cubic"), dict(weight_bits=4), dict(freeze_bn_epoch=0),
                dict(target="torch", weight_bits=7)):
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
    ev = evaluate_path(EvalConfig(out, "digits"))
    assert ev.count == 360 and abs(ev.top1 - v["int8_top1"]) < 1e-9
    assert isinstance(res, QatResult) and res.written and res.out == out
    assert (res.kind, res.target, res.file) == ("onnx", "onnx", "model_int8.onnx")
    assert res.int8_top1 == v["int8_top1"] and res.fp32_top1 == v["fp32_top1"] and res.images == 360
    assert res.quantization["method"] == "qat" and res.schedule == q["schedule"]
    assert json.loads(json.dumps(res.to_dict()))["validation"] == v
    # issue 23: INT8 latency beside FP32 on the same runtime (the FP32 ONNX export on onnxruntime), and the line says so
    lat = m["measurements"]["latency_ms"]
    assert lat["int8"] > 0 and lat["fp32_onnx"] > 0 and m["measurements"]["speedup_int8_vs_fp32_onnx"] > 0
    from resnet_opt.cli.qat import qat_latency_line

    assert "vs FP32" in qat_latency_line(lat) and "on onnxruntime" in qat_latency_line(lat)
    _assert_quantized_like_ptq(out / "model_int8.onnx", trained_digits_dir, tmp_path)
    assert q["graph_rewrites"] == {"relu_folded_into_quantize": 17, "biases_as_int32": 21, "pooling_canonicalized": 2}


def _assert_quantized_like_ptq(qat_onnx, model_dir, tmp_path):
    """The QAT graph is laid out as onnxruntime's quantize_static lays out the PTQ graph of the same model: no ReLU
    (folded into the QuantizeLinear after each Conv / Add), every Conv output and every Add quantized, and the same
    op types and counts; the only difference is that PTQ also quantizes the logits (one Q/DQ pair)."""
    import collections

    import onnx

    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model
    from resnet_opt.resnet import ModelSpec

    g = onnx.load(str(qat_onnx)).graph
    users = collections.defaultdict(list)
    for n in g.node:
        for i in n.input:
            users[i].append(n.op_type)
    producer = {o: n.op_type for n in g.node for o in n.output}
    assert not [n for n in g.node if n.op_type == "Relu"]
    for n in g.node:
        if n.op_type in ("Conv", "Add"):
            assert users[n.output[0]] == ["QuantizeLinear"], (n.name, users[n.output[0]])
        if n.op_type in ("Conv", "Add", "Gemm"):  # inputs, weights and biases all through DequantizeLinear
            assert all(producer.get(i) == "DequantizeLinear" for i in n.input), n.name
    ptq = quantize_model(QuantizeConfig(out=tmp_path / "ptq", source=ModelSpec(model_dir=model_dir), calib_size=16,
                                        eval_size=16, latency_runs=1))
    ptq_g = onnx.load(str(ptq.out / "model_int8.onnx")).graph
    counts = collections.Counter(n.op_type for n in g.node)
    ptq_counts = collections.Counter(n.op_type for n in ptq_g.node)
    qdq = ("QuantizeLinear", "DequantizeLinear")
    assert {k: v for k, v in counts.items() if k not in qdq} == {k: v for k, v in ptq_counts.items() if k not in qdq}
    assert [ptq_counts[k] - counts[k] for k in qdq] == [1, 1], (counts, ptq_counts)


def _qdq_model(zero_point, relu_feeds_also=None):
    """x -> Relu -> QuantizeLinear(scale 0.1, zero_point) -> DequantizeLinear (+ the Relu output to ``relu_feeds_also``)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    zp = numpy_helper.from_array(zero_point, "zp")
    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("QuantizeLinear", ["r", "s", "zp"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"])]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64])]
    if relu_feeds_also:
        nodes.append(helper.make_node(relu_feeds_also, ["r"], ["z"]))
        outs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, [64]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])], outs,
                          initializer=[zp, s])
    return onnx.helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_relu_is_folded_into_quantize_only_where_that_is_exact():
    """Q(Relu(x)) == Q(x) when the zero point is the type's minimum (uint8 0, int8 -128): folded, and the outputs
    are bit-identical; with an int8 zero point of 0 (symmetric) or a Relu output used elsewhere it stays."""
    import numpy as np
    import onnxruntime as ort

    from resnet_opt.optimize.qdq_graph import fold_relu_into_quantize

    x = np.linspace(-20, 30, 64).astype(np.float32)

    def run(m):
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # ours, not onnxruntime's fusion
        return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
            None, {"x": x})[0]

    for zp in (np.array(0, np.uint8), np.array(-128, np.int8)):
        m = _qdq_model(zp)
        before = run(m)
        assert fold_relu_into_quantize(m) == 1 and not [n for n in m.graph.node if n.op_type == "Relu"]
        assert np.array_equal(run(m), before)
    for m in (_qdq_model(np.array(0, np.int8)), _qdq_model(np.array(3, np.uint8)),
              _qdq_model(np.array(0, np.uint8), relu_feeds_also="Neg")):
        assert fold_relu_into_quantize(m) == 0 and [n for n in m.graph.node if n.op_type == "Relu"]


def test_qat_torch_target_writes_a_pt2_package_every_consumer_opens(digits16_dir, tmp_path):
    """qat --target torch: prepare_qat_pt2e with the x86 Inductor QAT config -> convert_pt2e -> AOTInductor model.pt2,
    checked against the converted graph, opened by runtime.load / eval / predict / bench like the PTQ .pt2."""
    pytest.importorskip("torchao")
    from resnet_opt.core.manifest import open_artifact
    from resnet_opt.runtime import load

    out = tmp_path / "qat-pt2"
    r = runner.invoke(app, ["qat", "--model", str(digits16_dir), "--data", "digits:16", "--target", "torch",
                            "--epochs", "1", "--batch-size", "32", "--limit", "128", "--latency-runs", "2",
                            "--min-agreement", "0", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert (res["kind"], res["target"], res["file"], res["written"]) == ("pt2", "torch", "model.pt2", True)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.pt2"]
    m = read_manifest(out)
    assert m["kind"] == "pt2" and m["precision"] == "int8" and m["stage"] == "qat" and m["file"] == "model.pt2"
    q = m["quantization"]
    assert q["method"] == "qat" and q["target"] == "torch" and q["schedule"]["epochs"] == 1
    assert q["scheme"]["quantizer_config"].startswith(
        "torchao get_default_x86_inductor_quantization_config(is_qat=True")
    assert q["quantized_layers"] == 21  # 20 convolutions + fc
    assert m["compile"]["device"] == "cpu" and m["compile"]["inductor_configs"]["freezing"] is True
    v = m["validation"]
    assert v["eval"]["images"] == 360 and res["int8_top1"] == v["int8_top1"]
    ex = v["export_check"]  # the compiled package against the converted PT2E graph, every val image
    assert ex["images"] == 360 and ex["top1_agreement"] >= 98.0 and ex["max_rel_diff"] <= 0.1, ex
    assert v["int8_top1"] > 50.0, v
    # the same consumers as the PTQ .pt2: the opener, runtime.load, eval, predict, bench
    assert open_artifact(out).kind == "pt2"
    pred = load(out)
    assert pred.kind == "pt2"
    ev = json.loads(runner.invoke(app, ["eval", "--model", str(out), "--data", "digits:16", "--json"]).stdout)
    assert ev["count"] == 360 and abs(ev["top1"] - v["int8_top1"]) < 1e-9, ev
    png = tmp_path / "png"
    assert runner.invoke(app, ["digits-images", "--out", str(png)]).exit_code == 0
    r = runner.invoke(app, ["predict", str(out), str(png), "--top-k", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["predictions"]) == 20
    report = tmp_path / "report"
    r = runner.invoke(app, ["bench", str(out), "--backends", "cpu", "--batch-sizes", "1", "--iterations", "2",
                            "--warmup", "1", "--time-budget", "0.5", "--data", "digits:16", "--limit", "32",
                            "--report", str(report)])
    assert r.exit_code == 0, r.output
    assert "qat-pt2" in (report / "results.json").read_text()


def test_qat_bad_input_is_one_line(tmp_path, trained_digits_dir):
    r = runner.invoke(app, ["qat", "--model", str(trained_digits_dir), "--out", str(tmp_path / "q"), "--epochs", "0"])
    one_line_error(r, "--epochs")
    r = runner.invoke(app, ["qat", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "q")])
    one_line_error(r)
    r = runner.invoke(app, ["qat", "--model", str(trained_digits_dir), "--out", str(tmp_path / "q"),
                            "--activation", "cubic"])
    one_line_error(r, "activation")
    r = runner.invoke(app, ["qat", "--model", str(trained_digits_dir), "--out", str(tmp_path / "q"),
                            "--target", "tflite"])
    one_line_error(r, "--target")
    r = runner.invoke(app, ["qat", "--model", str(trained_digits_dir), "--out", str(tmp_path / "q"),
                            "--target", "torch", "--activation", "symmetric"])
    one_line_error(r, "onnx target")
    r = runner.invoke(app, ["qat", "--model", str(trained_digits_dir), "--out", str(tmp_path / "q"),
                            "--target", "torch", "--weight-bits", "7"])
    one_line_error(r, "onnx target")
    assert not (tmp_path / "q").exists()
