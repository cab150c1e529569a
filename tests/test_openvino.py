"""OpenVINO as a runtime (optional extra): IR export + validation, runtime.load(provider="openvino") for ONNX
(FP32 and INT8 QDQ) and IR artifacts, the openvino-cpu bench backend, BF16 skipped with its reason."""

from __future__ import annotations

import json

import pytest
import torch

from resnet_opt.core.errors import BackendUnavailableError
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.export import ExportConfig

ov = pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def ir_dir(tmp_path_factory, trained_digits_dir):
    from resnet_opt.pipeline.export import export_artifact

    out = tmp_path_factory.mktemp("ov") / "ir"
    export_artifact(
        ExportConfig("openvino", out=out, data="digits", count=16, source=ModelSpec(model_dir=trained_digits_dir))
    )
    return out


@pytest.fixture(scope="module")
def int8_dir(tmp_path_factory, trained_digits_dir):
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

    out = tmp_path_factory.mktemp("ov") / "int8"
    quantize_model(QuantizeConfig(out=out, source=ModelSpec(model_dir=trained_digits_dir), calib_size=32,
                   eval_size=64, latency_runs=1, threads=1))
    return out


def test_export_openvino_writes_validated_ir_with_manifest(ir_dir):
    m = json.loads((ir_dir / "manifest.json").read_text())
    assert m["kind"] == "openvino" and m["file"] == "model.xml" and m["precision"] == "fp32"
    assert (ir_dir / "model.xml").is_file() and (ir_dir / "model.bin").is_file()
    for key in ("source", "architecture", "input", "output", "preprocessing", "class_names", "validation",
                "file_sha256", "file_size", "versions", "cpu", "openvino"):
        assert key in m, key
    v = m["validation"]
    assert v["passed"] and v["real_images"] and v["batch_sizes"] == [1, 16]
    assert v["max_abs_diff"] <= v["allowed_abs_diff"] and v["top1_agreement"] >= 99
    assert v["checks"]["ran_precision"] == "fp32"
    assert m["openvino"]["inference_precision_hint"] == "f32"
    files = {f["path"]: f for f in m["files"]}
    assert files["model.bin"]["role"] == "weights" and len(files["model.bin"]["sha256"]) == 64
    assert m["input"]["shape"] == [-1, 3, 32, 32] and m["output"]["shape"] == [-1, 10]


def test_load_ir_and_onnx_with_openvino_match_torch(ir_dir, trained_digits_dir, trained_digits_model, tmp_path):
    from resnet_opt.pipeline.export import export_artifact
    from resnet_opt.runtime import load

    x = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = trained_digits_model.eval()(x)
    ir = load(ir_dir)  # an IR artifact runs with OpenVINO on the default provider
    assert ir.provider == "openvino" and ir.kind == "openvino" and ir.ran_precision == "fp32"
    assert torch.allclose(ir.logits(x), ref, atol=1e-3, rtol=1e-3)
    onnx_dir = tmp_path / "onnx"
    export_artifact(ExportConfig("onnx", out=onnx_dir, source=ModelSpec(model_dir=trained_digits_dir)))
    p = load(onnx_dir, provider="openvino", threads=1)
    assert p.provider == "openvino" and p.kind == "onnx"
    assert torch.allclose(p.logits(x), ref, atol=1e-3, rtol=1e-3)
    assert p.describe()["openvino"]["requested_precision_hint"] == "f32"
    with pytest.raises(BackendUnavailableError):
        load(ir_dir, provider="cuda")
    with pytest.raises(BackendUnavailableError):
        load(trained_digits_dir, provider="openvino")  # a model folder: export it first


def test_modified_ir_weights_are_refused(ir_dir, tmp_path):
    import shutil

    from resnet_opt.core.errors import ArtifactError
    from resnet_opt.runtime import load

    bad = tmp_path / "bad"
    shutil.copytree(ir_dir, bad)
    with open(bad / "model.bin", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ArtifactError, match="sha256"):
        load(bad)


def test_int8_qdq_onnx_runs_on_openvino_with_onnxruntime_accuracy(int8_dir):
    from resnet_opt.data import build_loader
    from resnet_opt.engine import evaluate
    from resnet_opt.runtime import load

    loader = build_loader("digits", "val", batch_size=64, limit=128)
    ort_acc = evaluate(load(int8_dir), loader).top1
    ov_pred = load(int8_dir, provider="openvino")
    assert ov_pred.precision == "int8"
    ov_acc = evaluate(ov_pred, loader).top1
    assert ov_acc > 90 and abs(ov_acc - ort_acc) <= 2.0, (ov_acc, ort_acc)


def test_openvino_bench_backend_labels_rows(ir_dir, int8_dir):
    from resnet_opt.bench import BenchConfig, TimingConfig, run_benchmark, variant_from_path

    vs = [variant_from_path(ir_dir, name="ir"), variant_from_path(int8_dir, name="int8")]
    res = run_benchmark(vs, BenchConfig(backends=["ort-cpu", "openvino"], batch_sizes=[1], threads=1,
                                        data="digits", eval_limit=32, roofline=False,
                                        timing=TimingConfig(warmup=0, iterations=2, time_budget_s=1.0)))
    rows = {(r.variant, r.backend): r for r in res.rows}
    assert rows[("ir", "openvino-cpu")].status == "ok" and rows[("ir", "openvino-cpu")].precision == "fp32"
    assert ("ir", "ort-cpu") not in rows  # onnxruntime does not read OpenVINO IR: not planned at all
    r8 = rows[("int8", "openvino-cpu")]
    assert r8.status == "ok" and r8.precision == "int8" and r8.top1 > 90 and r8.timing(1).p50_ms > 0
    assert any("ran fp32" in n for n in r8.notes)


def test_bf16_needs_a_bf16_cpu(ir_dir, tmp_path, trained_digits_dir):
    from resnet_opt.pipeline.export import export_artifact
    from resnet_opt.runtime import load
    from resnet_opt.runtime.openvino import bf16_unavailable_reason

    why = bf16_unavailable_reason()
    if why is None:  # a BF16 CPU: the BF16 variant is exported, validated and labelled bf16
        m = export_artifact(ExportConfig("openvino", out=tmp_path / "bf16", data="digits", inference_precision="bf16",
                            source=ModelSpec(model_dir=trained_digits_dir)))
        assert m.precision == "bf16" and m.manifest.validation["checks"]["ran_precision"] == "bf16"
        assert load(tmp_path / "bf16").ran_precision == "bf16"
    else:
        assert "BF16" in why
        with pytest.raises(BackendUnavailableError, match="BF16"):
            export_artifact(ExportConfig("openvino", out=tmp_path / "bf16", inference_precision="bf16",
                            source=ModelSpec(model_dir=trained_digits_dir)))
        assert not (tmp_path / "bf16").exists()
        with pytest.raises(BackendUnavailableError, match="BF16"):
            load(ir_dir, provider="openvino", inference_precision="bf16")


def test_cli_export_openvino_bad_precision_is_one_error_line(tmp_path):
    from typer.testing import CliRunner

    from helpers import one_line_error
    from resnet_opt.cli import app

    r = CliRunner().invoke(app, ["export", "openvino", "--depth", "18", "--input-size", "32", "--num-classes", "10",
                                 "--precision", "int4", "--out", str(tmp_path / "x")])
    one_line_error(r, "precision")
    assert not (tmp_path / "x").exists()


def test_cli_eval_and_predict_with_provider_openvino(int8_dir, tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from resnet_opt.cli import app

    r = CliRunner().invoke(app, ["eval", "--model", str(int8_dir), "--data", "digits", "--limit", "64",
                                 "--provider", "openvino", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["top1"] > 90
    img = tmp_path / "d.png"
    Image.new("RGB", (32, 32), (10, 10, 10)).save(img)
    r = CliRunner().invoke(app, ["predict", str(int8_dir), str(img), "--provider", "openvino", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["provider"] == "openvino" and len(d["predictions"]) == 1


def test_small_batches_run_on_static_shape_compiles_with_the_same_answers(ir_dir):
    """A dynamic-batch model runs batch sizes in STATIC_SHAPES on a static-shape compile (faster at batch 1:
    benchmarks/results/openvino_static.md), other sizes on the dynamic one; the answers agree."""
    import numpy as np

    from resnet_opt.core.manifest import open_artifact
    from resnet_opt.engine.openvino_session import STATIC_SHAPES, OpenVINOSession

    f = open_artifact(ir_dir).model_file
    fast, plain = OpenVINOSession(f, threads=1), OpenVINOSession(f, threads=1, static_shapes=False)
    assert fast.static_batch is None and fast.info["static_shapes"] == list(STATIC_SHAPES)
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    for xb in (x[:1], x):
        np.testing.assert_allclose(fast.run_numpy(xb), plain.run_numpy(xb), rtol=1e-4, atol=1e-4)
    assert fast.static_compiled == [1] and plain.static_compiled == [] and 3 not in STATIC_SHAPES


def test_eval_names_the_runtime_and_says_when_int8_was_validated_on_another(int8_dir):
    """An onnxruntime-validated INT8 artifact run by OpenVINO: the line names the runtime that ran it and one note
    says the figures came from another runtime (INT8 kernels differ); the same on onnxruntime says nothing more."""
    from typer.testing import CliRunner

    from resnet_opt.cli import app

    m = json.loads((int8_dir / "manifest.json").read_text())
    assert m["validation"]["runtime"] == "onnxruntime CPU"
    args = ["eval", "--model", str(int8_dir), "--data", "digits", "--limit", "64"]
    r = CliRunner().invoke(app, [*args, "--provider", "openvino"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "run by OpenVINO CPU" in lines[0], lines
    top1 = m["validation"]["int8_top1"]
    assert lines[1].startswith("note: INT8 kernels differ between runtimes: validated on onnxruntime CPU at top-1 "
                               f"{top1:.2f}%"), lines
    r = CliRunner().invoke(app, [*args, "--provider", "openvino", "--json"])
    d = json.loads(r.stdout)
    assert d["runtime"] == "OpenVINO CPU" and d["provider"] == "openvino"
    assert d["validated"]["runtime"] == "onnxruntime CPU" and d["validated"]["top1"] == top1
    assert "INT8 kernels differ" in d["note"]
    r = CliRunner().invoke(app, [*args, "--json"])
    d = json.loads(r.stdout)
    assert d["runtime"] == "onnxruntime CPU" and "note" not in d and "validated" not in d
