"""Export: validated ONNX / TorchScript files and artifact folders (small inputs, random or trained weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from resnet_opt.cli import app
from resnet_opt.core.artifact import sha256_file
from resnet_opt.core.errors import AtolError, ConfigError, ExportError, ValidationError
from resnet_opt.export import (
    INPUT_NAME, OUTPUT_NAME, Tolerance, check_onnx_file, compare_logits, convert_float_to_float16, export_onnx,
    to_onnx, to_torchscript, tolerance_for, validation_inputs,
)
from resnet_opt.resnet import ResNet
from helpers import one_line_error
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.export import ExportConfig

runner = CliRunner()


def _model(depth: int, classes: int = 10, seed: int = 0) -> ResNet:
    torch.manual_seed(seed)
    return ResNet(depth, num_classes=classes).eval()




@pytest.mark.parametrize("depth,size", [(18, 32), (50, 64)])
def test_onnx_export_validates(tmp_path, depth, size):
    m = _model(depth)
    res = to_onnx(m, tmp_path / "m.onnx", input_size=size, inputs=validation_inputs(input_size=size, count=4))
    assert res.path.is_file() and res.format == "onnx" and res.precision == "fp32"
    v = res.validation
    assert v.passed and v.batch_sizes == [1, 4] and v.top1_agreement == 100.0
    assert v.max_abs_diff <= v.allowed_abs_diff and v.max_abs_diff < 1e-3
    assert v.checks["onnx_checker"].startswith("passed") and v.checks["output_shape"] == ["batch", 10]
    g = onnx.load(str(res.path)).graph
    assert [i.name for i in g.input] == [INPUT_NAME] and [o.name for o in g.output] == [OUTPUT_NAME]
    assert res.input_shape == [-1, 3, size, size] and res.output_shape == [-1, 10]
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"
    assert not m.training  # the caller's model is left as it was


@pytest.mark.parametrize("depth,size", [(18, 32), (50, 64)])
def test_torchscript_export_validates(tmp_path, depth, size):
    m = _model(depth)
    m.train()  # export must not depend on (or change) the caller's mode
    res = to_torchscript(m, tmp_path / "m.ts", input_size=size, optimize=False,
                         inputs=validation_inputs(input_size=size, count=4))
    assert m.training
    assert res.path.is_file() and res.validation.passed and res.validation.max_abs_diff < 1e-3
    assert res.details["frozen"] and res.details["optimize_for_inference_on_load"] is False
    ts = torch.jit.load(str(res.path))
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        assert torch.allclose(ts(x), m.eval()(x), atol=1e-3)


def test_torchscript_optimize_on_load_is_validated(tmp_path):
    res = to_torchscript(_model(18), tmp_path / "m.ts", input_size=32, optimize=True,
                         inputs=validation_inputs(input_size=32, count=2))
    assert res.details["optimize_for_inference_on_load"] is True
    assert res.validation.checks["modules_checked"] == ["loaded", "loaded + optimize_for_inference"]


def test_dynamic_batch_runs_at_1_and_4(tmp_path):
    import onnxruntime as ort

    m = _model(18)
    res = to_onnx(m, tmp_path / "m.onnx", input_size=32, inputs=validation_inputs(input_size=32, count=4))
    s = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    assert s.get_inputs()[0].shape[0] == "batch"
    for n in (1, 4):
        x = torch.randn(n, 3, 32, 32)
        out = s.run(None, {"input": x.numpy()})[0]
        with torch.no_grad():
            ref = m(x).numpy()
        assert out.shape == (n, 10) and np.abs(out - ref).max() < 1e-3


def test_static_batch_has_fixed_axis(tmp_path):
    import onnxruntime as ort

    res = to_onnx(_model(18), tmp_path / "m.onnx", input_size=32, dynamic_batch=False)
    assert res.validation.batch_sizes == [1] and res.input_shape == [1, 3, 32, 32]
    s = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    assert s.get_inputs()[0].shape == [1, 3, 32, 32]
    with pytest.raises(Exception):
        s.run(None, {"input": np.zeros((4, 3, 32, 32), np.float32)})


def test_fp16_export_validates_on_cpu_provider(tmp_path):
    m = _model(18)
    vin = validation_inputs(input_size=32, count=8)
    res32 = to_onnx(m, tmp_path / "m32.onnx", input_size=32, inputs=vin)
    res = to_onnx(m, tmp_path / "m16.onnx", input_size=32, fp16=True, inputs=vin)
    assert res.precision == "fp16" and res.validation.passed and res.validation.tolerance == tolerance_for("fp16").to_dict()
    g = onnx.load(str(res.path)).graph
    kinds = {t.data_type for t in g.initializer if t.dims and len(t.dims) == 4}
    assert kinds == {onnx.TensorProto.FLOAT16}  # conv weights really are FP16
    # float32 at the boundary, FP16 inside
    assert g.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert g.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert g.node[0].op_type == "Cast" and g.node[-1].op_type == "Cast"
    # it computes in reduced precision (larger error than FP32), yet within the FP16 tolerance
    assert res.validation.max_abs_diff > res32.validation.max_abs_diff
    assert res.validation.max_abs_diff <= res.validation.allowed_abs_diff
    assert res.path.stat().st_size < 0.6 * res32.path.stat().st_size


def test_failed_validation_raises_and_leaves_nothing(tmp_path):
    zero = Tolerance(atol=0.0, rtol=0.0, min_top1_agreement=100.0)
    target = tmp_path / "m16.onnx"
    with pytest.raises(AtolError, match="disagrees with PyTorch"):
        to_onnx(_model(18), target, input_size=32, fp16=True, tolerance=zero)
    assert not target.exists() and not list(tmp_path.iterdir())


def test_pipeline_failure_leaves_no_folder(tmp_path):
    from resnet_opt.pipeline.export import export_artifact

    out = tmp_path / "art"
    with pytest.raises(AtolError):
        export_artifact(ExportConfig("onnx", input_size=32, fp16=True, atol=0.0, rtol=0.0, out=out,
                        source=ModelSpec(depth=18, num_classes=10)))
    assert not out.exists() and not list(tmp_path.iterdir())


def test_compare_logits_and_checker_errors(tmp_path):
    tol = tolerance_for("fp32")
    a = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    c = compare_logits(a, a + 1e-5, tol)
    assert c["max_abs_diff"] == pytest.approx(1e-5, rel=1e-2) and c["top1_agreement"] == 100.0
    c = compare_logits(a, a.flip(1), tol)
    assert c["top1_agreement"] == 0.0 and c["max_abs_diff"] == pytest.approx(2.0)
    with pytest.raises(ValidationError, match="shape"):
        compare_logits(a, a[:1], tol)
    with pytest.raises(AtolError, match="non-finite"):
        compare_logits(a, a * float("nan"), tol)
    # a graph with the wrong tensor names is rejected by the checks
    p = tmp_path / "raw.onnx"
    export_onnx(_model(18), p, input_size=32)
    mp = onnx.load(str(p))
    mp.graph.output[0].name = "scores"
    for n in mp.graph.node:
        n.output[:] = ["scores" if o == "logits" else o for o in n.output]
    onnx.save(mp, str(p))
    with pytest.raises(ValidationError, match="outputs are"):
        check_onnx_file(p, input_size=32, num_classes=10)


def test_bad_options():
    with pytest.raises(ExportError, match="unsupported ONNX opset 9"):
        to_onnx(_model(18), "x.onnx", opset=9)
    with pytest.raises(ConfigError):
        tolerance_for("fp32", atol=-1)
    with pytest.raises(ConfigError, match="gives 32-px"):
        validation_inputs(input_size=64, data="digits")
    g = onnx.helper.make_graph([onnx.helper.make_node("Erf", ["input"], ["logits"])], "g",
                               [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3])],
                               [onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1, 3])])
    with pytest.raises(ExportError, match="Erf"):
        convert_float_to_float16(onnx.helper.make_model(g))


def test_export_artifact_folder_from_trained_model(tmp_path, trained_digits_dir):
    """The CLI writes the folder: model file + manifest with source sha256, preprocessing, I/O, validation."""
    out = tmp_path / "onnx"
    r = runner.invoke(app, ["export", "onnx", "--model", str(trained_digits_dir), "--data", "digits", "--out", str(out),
                            "--json"])
    assert r.exit_code == 0, r.output
    printed = json.loads(r.output)
    man = json.loads((out / "manifest.json").read_text())
    assert printed["file"] == man["file"] == "model.onnx"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.onnx"]
    assert man["kind"] == "onnx" and man["precision"] == "fp32" and man["stage"] == "export"
    assert man["source"]["kind"] == "model_dir" and man["source"]["trained"] is True
    assert man["source"]["sha256"] == sha256_file(Path(trained_digits_dir) / "model.safetensors")
    assert man["file_sha256"] == sha256_file(out / "model.onnx")
    assert man["input"] == {"name": "input", "shape": [-1, 3, 32, 32], "dtype": "float32"}
    assert man["output"]["name"] == "logits" and man["output"]["shape"] == [-1, 10]
    assert man["preprocessing"]["name"] == "digits-32" and man["class_names"] == [str(i) for i in range(10)]
    v = man["validation"]
    assert v["passed"] and v["real_images"] and v["inputs"].startswith("digits val") and v["top1_agreement"] == 100.0
    assert man["architecture"] == {"depth": 18, "num_classes": 10, "widths": {}}
    assert man["versions"]["onnxruntime"] and man["cpu"]["cores"]

    ts = tmp_path / "ts"
    r = runner.invoke(app, ["export", "torchscript", "--model", str(trained_digits_dir), "--out", str(ts)])
    assert r.exit_code == 0, r.output
    man = json.loads((ts / "manifest.json").read_text())
    assert man["kind"] == "torchscript" and man["file"] == "model.ts" and (ts / "model.ts").is_file()
    assert "validated against PyTorch" in r.output


def test_export_random_model_at_small_size_fits_preprocessing(tmp_path):
    from resnet_opt.pipeline.export import export_artifact

    man = export_artifact(
        ExportConfig("onnx", input_size=64, out=tmp_path / "a", count=2, fp16=True, source=ModelSpec(depth=18))
    )
    assert man.manifest.input.shape == [-1, 3, 64, 64] and man.file == "model_fp16.onnx"
    assert man.manifest.preprocessing.crop == 64 and man.manifest.preprocessing.resize == 73  # 256/224 kept
    assert man.manifest.source["trained"] is False and man.manifest.output.shape == [-1, 1000]
    assert man.manifest.export["fp16"]["io_dtype"].startswith("float32")


@pytest.mark.parametrize("args,needle", [
    (["export", "onnx", "--depth", "18", "--opset", "9"], "unsupported ONNX opset 9"),
    (["export", "onnx", "--depth", "7"], "unsupported ResNet depth"),
    (["export", "torchscript", "--depth", "18", "--fp16"], "ONNX only"),
    (["export", "onnx", "--depth", "18", "--input-size", "64", "--data", "digits"], "gives 32-px"),
    (["export", "onnx", "--model", "/no/such/model"], "does not exist"),
    (["export", "torchscript", "--depth", "18", "--optimize", "maybe"], "--optimize"),
    (["export", "onnx", "--depth", "18", "--input-size", "32", "--fp16", "--atol", "0", "--rtol", "0"], "disagrees"),
])
def test_export_cli_bad_input_is_one_line(tmp_path, args, needle):
    out = tmp_path / "out"
    one_line_error(runner.invoke(app, args + ["--out", str(out)]), needle)
    assert not out.exists()
