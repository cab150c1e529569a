"""Triton model repositories (`resnet-opt export triton`): the config parses with Triton's own model-config schema
(tritonclient), matches the model file beside it, and that file gives the same top-1 as its source artifact on the
digits val split. No Triton server runs here; these tests check what a server would read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from resnet_opt.cli import app
from resnet_opt.core.errors import ArtifactError
from resnet_opt.core.manifest import Manifest, read_manifest, write_manifest
from resnet_opt.core.errors import ExportError
from resnet_opt.export import triton as T
from helpers import one_line_error
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.export import ExportConfig

runner = CliRunner()
needs_schema = pytest.mark.skipif(T.schema_available() is None,
                                  reason="tritonclient (the 'triton' extra) is not installed")


@pytest.fixture(scope="module")
def artifacts(trained_digits_dir, tmp_path_factory):
    """ONNX FP32 (dynamic and static batch), ONNX INT8 (onnxruntime QDQ) and TorchScript FP32 artifacts of the trained
    digits model, made with the same stage functions as `resnet-opt export` / `resnet-opt quantize`."""
    from resnet_opt.pipeline.export import export_artifact
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

    root = tmp_path_factory.mktemp("triton-src")
    export_artifact(
        ExportConfig(
            "onnx", out=root / "onnx-fp32", data="digits", count=8, source=ModelSpec(model_dir=trained_digits_dir)
        )
    )
    export_artifact(ExportConfig("onnx", out=root / "onnx-static", dynamic_batch=False, count=2,
                    source=ModelSpec(model_dir=trained_digits_dir)))
    export_artifact(ExportConfig("torchscript", out=root / "torchscript", data="digits", count=8, optimize=False,
                    source=ModelSpec(model_dir=trained_digits_dir)))
    quantize_model(QuantizeConfig(out=root / "onnx-int8", source=ModelSpec(model_dir=trained_digits_dir),
                   calib_size=32, eval_size=32, latency_runs=1))
    return {p.name: p for p in root.iterdir()}


@pytest.fixture(scope="module")
def digits_val():
    from resnet_opt.data import build_loader

    xs, ys = zip(*build_loader("digits", "val", batch_size=128))
    return torch.cat(xs).float(), torch.cat(ys)


def _chunks(x: torch.Tensor, n: int):
    return [x[i:i + n] for i in range(0, x.shape[0], n)]


def _served_top1(model_file: Path, x: torch.Tensor, batch: int) -> np.ndarray:
    """Run the repository's model file the way Triton's backend does (onnxruntime / libtorch), in batches of at most
    max_batch_size."""
    if model_file.suffix == ".onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        outs = [sess.run(None, {name: c.numpy()})[0] for c in _chunks(x, batch)]
    else:
        m = torch.jit.load(str(model_file), map_location="cpu")
        with torch.no_grad():
            outs = [m(c).numpy() for c in _chunks(x, batch)]
    return np.concatenate(outs).argmax(1)


@needs_schema
@pytest.mark.parametrize("name,platform,file,tensors", [
    ("onnx-fp32", "onnxruntime_onnx", "model.onnx", ("input", "logits")),
    ("onnx-int8", "onnxruntime_onnx", "model.onnx", ("input", "logits")),
    ("torchscript", "pytorch_libtorch", "model.pt", ("INPUT__0", "OUTPUT__0")),
])
def test_repository_parses_and_serves_same_top1(artifacts, digits_val, tmp_path, name, platform, file, tensors):
    from resnet_opt.runtime import load

    art = artifacts[name]
    src = read_manifest(art)
    repo = tmp_path / "repo"
    r = runner.invoke(app, ["export", "triton", "--model", str(art), "--out", str(repo), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    model_name = f"resnet18_{src['kind']}_{src['precision']}"
    mdir = repo / model_name
    assert res["name"] == model_name and res["check"]["schema_checked"] is True

    # Triton's own schema: parse strictly, then check every field
    mc = T.parse_config_text((mdir / "config.pbtxt").read_text())
    assert (mc.name, mc.platform, mc.max_batch_size) == (model_name, platform, 32)
    assert [(t.name, t.data_type, t.dims) for t in mc.inputs] == [(tensors[0], "TYPE_FP32", [3, 32, 32])]
    assert [(t.name, t.data_type, t.dims, t.label_filename) for t in mc.outputs] == [
        (tensors[1], "TYPE_FP32", [10], "labels.txt")]
    assert mc.dynamic_batching and mc.preferred_batch_sizes == [4, 8, 16, 32] and mc.max_queue_delay_us == 100
    assert (mc.instance_kind, mc.instance_count) == ("KIND_CPU", 1)
    assert (mdir / "labels.txt").read_text().split() == [str(c) for c in src["class_names"]]
    assert sorted(p.name for p in (mdir / "1").iterdir()) == sorted([file, "manifest.json"])
    assert set(res["check"]["checks"]) >= {"names", "data_types", "dims", "run", "labels", "batching", "round_trip"}

    # the model file is the artifact's, byte for byte, and gives the same top-1 on the digits val split
    assert T.sha256_file(mdir / "1" / file) == src["file_sha256"]
    x, y = digits_val
    served = _served_top1(mdir / "1" / file, x, mc.max_batch_size)
    pred = load(art)
    source = np.concatenate([pred.logits(c).numpy() for c in _chunks(x, 32)]).argmax(1)
    assert (served == source).all(), f"{(served != source).sum()} of {len(x)} top-1 differ"
    assert (served == y.numpy()).mean() > 0.9

    # resnet-opt recognises the repository and the version folder (the model's own manifest)
    man = read_manifest(repo)
    assert man["kind"] == "triton-repo" and man["triton"]["version_dir"] == f"{model_name}/1"
    got = np.concatenate([load(mdir / "1").logits(c).numpy() for c in _chunks(x[:64], 32)]).argmax(1)
    assert (got == source[:64]).all()
    with pytest.raises(ArtifactError, match="triton-repo"):  # a serving repository, not a model to run here
        load(repo)
    readme = (repo / "README.md").read_text()
    assert f"tritonserver --model-repository={repo.resolve()}" in readme and "docker run" in readme
    assert "No Triton server ran" in readme and "to_tensor" in readme and "httpclient.InferInput" in readme


@needs_schema
def test_batching_choices_follow_the_model(artifacts, tmp_path):
    # a dynamic model without Triton batching: dims keep the batch axis as -1, no dynamic_batching
    r = runner.invoke(app, ["export", "triton", "--model", str(artifacts["onnx-fp32"]), "--out", str(tmp_path / "a"),
                            "--max-batch-size", "0", "--name", "digits", "--instances", "2", "--gpu"])
    assert r.exit_code == 0, r.output
    mc = T.parse_config_text((tmp_path / "a" / "digits" / "config.pbtxt").read_text())
    assert mc.max_batch_size == 0 and mc.inputs[0].dims == [-1, 3, 32, 32] and mc.outputs[0].dims == [-1, 10]
    assert not mc.dynamic_batching and (mc.instance_kind, mc.instance_count) == ("KIND_GPU", 2)
    # a static-batch model: max_batch_size 0 by default, full dims
    r = runner.invoke(app, ["export", "triton", "--model", str(artifacts["onnx-static"]), "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    mc = T.parse_config_text(next((tmp_path / "b").glob("*/config.pbtxt")).read_text())
    assert mc.max_batch_size == 0 and mc.inputs[0].dims == [1, 3, 32, 32] and mc.outputs[0].dims == [1, 10]
    # explicit preferred sizes and queue delay
    r = runner.invoke(app, ["export", "triton", "--model", str(artifacts["torchscript"]), "--out", str(tmp_path / "c"),
                            "--max-batch-size", "8", "--preferred-batch-sizes", "2,8", "--max-queue-delay-us", "500"])
    assert r.exit_code == 0, r.output
    mc = T.parse_config_text(next((tmp_path / "c").glob("*/config.pbtxt")).read_text())
    assert (mc.max_batch_size, mc.preferred_batch_sizes, mc.max_queue_delay_us) == (8, [2, 8], 500)
    assert mc.parameters == {"INFERENCE_MODE": "true"}
    # --overwrite replaces a repository written by resnet-opt
    r = runner.invoke(app, ["export", "triton", "--model", str(artifacts["onnx-fp32"]), "--out", str(tmp_path / "c"),
                            "--overwrite"])
    assert r.exit_code == 0, r.output
    assert [p.name for p in (tmp_path / "c").iterdir() if p.is_dir()] == ["resnet18_onnx_fp32"]


@needs_schema
def test_check_catches_a_config_that_disagrees_with_the_model(artifacts, tmp_path):
    res = T.export_triton(artifacts["onnx-fp32"], T.TritonConfig(out=tmp_path / "repo", name="m"))
    cfg = res.config_file.read_text()
    assert T.check_model_config(res.model_dir).schema_checked
    for old, new, needle in [('dims: [ 3, 32, 32 ]', 'dims: [ 3, 64, 64 ]', "dims"),
                             ('name: "logits"', 'name: "probs"', "output name"),
                             ("TYPE_FP32", "TYPE_FP16", "data_type"),
                             ('platform: "onnxruntime_onnx"', 'platform: "pytorch_libtorch"', "model.pt"),
                             ("max_queue_delay_microseconds", "max_queue_delay_millis", "schema")]:
        res.config_file.write_text(cfg.replace(old, new, 1))
        with pytest.raises(ExportError, match=needle):
            T.check_model_config(res.model_dir)
    res.config_file.write_text(cfg)
    (res.model_dir / "labels.txt").write_text("a\nb\n")
    with pytest.raises(ExportError, match="labels.txt has 2 lines for 10 classes"):
        T.check_model_config(res.model_dir)


def test_without_tritonclient_writes_and_warns_once(artifacts, tmp_path, monkeypatch):
    monkeypatch.setattr(T, "schema_available", lambda: None)
    repo = tmp_path / "repo"
    r = runner.invoke(app, ["export", "triton", "--model", str(artifacts["onnx-fp32"]), "--out", str(repo)])
    assert r.exit_code == 0, r.output
    warns = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warns) == 1 and "not parsed with Triton's schema" in warns[0], r.stderr
    assert "schema check: skipped" in r.stdout
    man = read_manifest(repo)
    assert man["triton"]["check"]["schema_checked"] is False
    assert man["triton"]["check"]["schema"].startswith("skipped: tritonclient is not installed")
    assert "run" in man["triton"]["check"]["checks"]  # the model-file checks still ran
    assert (repo / "resnet18_onnx_fp32" / "1" / "model.onnx").is_file()


def test_bad_input_gives_one_error_line(artifacts, trained_digits_dir, tmp_path):
    def run(model, *extra, out=None):
        return runner.invoke(app, ["export", "triton", "--model", str(model),
                                   "--out", str(out or tmp_path / "repo"), *extra])

    one_line_error(run(tmp_path / "missing"), "does not exist")
    (tmp_path / "empty").mkdir()
    one_line_error(run(tmp_path / "empty"), "not a resnet-opt artifact")
    one_line_error(run(trained_digits_dir), "model folder, not an exported artifact")
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"format": "resnet-opt-artifact", "format_version": 2,
                                                    "kind": "tflite"}))
    one_line_error(run(other), "unknown artifact kind 'tflite'")
    tampered = tmp_path / "tampered"
    shutil.copytree(artifacts["onnx-fp32"], tampered)
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    (tampered / "model.onnx").write_bytes(bytes(data))
    one_line_error(run(tampered), "does not match the sha256")
    one_line_error(run(artifacts["onnx-fp32"], "--max-batch-size", "-1"), "--max-batch-size must be 0")
    one_line_error(run(artifacts["onnx-static"], "--max-batch-size", "4"), "static batch of 1", "--max-batch-size 0")
    one_line_error(run(artifacts["onnx-fp32"], "--max-batch-size", "4", "--preferred-batch-sizes", "8"), "above")
    one_line_error(run(artifacts["onnx-fp32"], "--preferred-batch-sizes", "4,x"), "comma-separated")
    one_line_error(run(artifacts["onnx-fp32"], "--instances", "0"), "--instances")
    one_line_error(run(artifacts["onnx-fp32"], "--name", "../x"), "--name")
    ts_int8 = tmp_path / "ts-int8"  # the refusal reads only the manifest: a relabelled FP32 TorchScript will do
    shutil.copytree(artifacts["torchscript"], ts_int8)
    m = read_manifest(ts_int8)
    write_manifest(ts_int8, Manifest.from_dict({**m, "precision": "int8"}))
    one_line_error(run(ts_int8, "--gpu"), "CPU only")
    assert not (tmp_path / "repo").exists()  # nothing was written by any failure

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    one_line_error(run(artifacts["onnx-fp32"], out=busy), "not empty", "--overwrite")
    one_line_error(run(artifacts["onnx-fp32"], "--overwrite", out=busy), "not one")
    assert (busy / "keep.txt").read_text() == "mine"
    one_line_error(run(artifacts["onnx-fp32"], out=artifacts["onnx-fp32"] / "repo"), "inside the source artifact")
    assert T.export_triton(artifacts["onnx-fp32"], T.TritonConfig(out=tmp_path / "ok")).repo.is_dir()
    one_line_error(run(tmp_path / "ok"), "already a Triton model repository")


def test_pipeline_ends_with_a_triton_repository(trained_digits_dir, tmp_path):
    from resnet_opt.pipeline.pipeline import PipelineConfig, run_pipeline

    out = tmp_path / "run"
    res = run_pipeline(PipelineConfig(source=ModelSpec(model_dir=trained_digits_dir), out=out, triton=True,
                       onnx_int8=False, torch_int8=False, backends=["cpu"], batch_sizes=[1], iterations=1, warmup=1,
                       time_budget_s=0.5, eval_limit=32, threads=2))
    stage = next(s for s in res.stages if s.name == "triton repository")
    assert stage.status == "ok", stage.error
    assert stage.summary["triton"]["platform"] == "onnxruntime_onnx"
    man = read_manifest(out / "triton")
    assert man["kind"] == "triton-repo" and man["source"]["kind"] == "onnx"
    assert (out / "triton" / man["triton"]["version_dir"] / "model.onnx").is_file()
    assert "triton repository" in (out / "report" / "report.md").read_text()
