"""Runtime: loading artifacts (ONNX FP32/FP16/INT8-style, TorchScript, model folders), predict, eval, providers."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import requires_cuda
from resnet_opt.cli import app
from resnet_opt.core.manifest import MANIFEST_FORMAT, Manifest, write_manifest
from resnet_opt.core.errors import ArtifactError, BackendUnavailableError, ConfigError, DataError
from resnet_opt.runtime import ProviderFallbackWarning, load
from helpers import one_line_error
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.evaluate import EvalConfig
from resnet_opt.pipeline.export import ExportConfig

runner = CliRunner()




no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU behaviour")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, trained_digits_dir):
    """ONNX (dynamic batch), ONNX static batch, FP16 ONNX and TorchScript artifacts of the trained digits model."""
    from resnet_opt.pipeline.export import export_artifact

    root = tmp_path_factory.mktemp("artifacts")
    src = str(trained_digits_dir)
    return {
        "onnx": Path(
            export_artifact(
                ExportConfig("onnx", data="digits", count=8, out=root / "onnx", source=ModelSpec(model_dir=src))
            ).out
        ),
        "static": Path(
            export_artifact(
                ExportConfig("onnx", dynamic_batch=False, count=4, out=root / "static", source=ModelSpec(model_dir=src))
            ).out
        ),
        "fp16": Path(
            export_artifact(
                ExportConfig(
                    "onnx", fp16=True, data="digits", count=8, out=root / "fp16", source=ModelSpec(model_dir=src)
                )
            ).out
        ),
        "ts": Path(
            export_artifact(
                ExportConfig("torchscript", data="digits", count=8, out=root / "ts", source=ModelSpec(model_dir=src))
            ).out
        ),
    }


@pytest.fixture(scope="module")
def digit_pngs(digits_val_pngs, tmp_path_factory):
    """Ten real digits (validation split) as 8×8 greyscale PNG files, their labels, and a file that is no image."""
    paths, labels = digits_val_pngs
    bad = tmp_path_factory.mktemp("bad") / "not_an_image.png"
    bad.write_text("this is not a PNG")
    return paths[:10], labels[:10], bad


# ------------------------------------------------------------------------------------------------ predict
@pytest.mark.parametrize("name", ["onnx", "static", "fp16", "ts"])
def test_predict_on_png_files(artifacts, digit_pngs, name):
    paths, labels, _ = digit_pngs
    pred = load(artifacts[name])
    assert pred.kind == ("torchscript" if name == "ts" else "onnx") and pred.provider == "cpu"
    assert pred.num_classes == 10 and pred.class_names == [str(i) for i in range(10)] and pred.input_size == 32
    assert pred.preprocessing.name == "digits-32"
    res = pred.predict(paths, top_k=3)
    assert [r.source for r in res] == [str(p) for p in paths]
    for r in res:
        assert len(r.indices) == 3 and r.probabilities == sorted(r.probabilities, reverse=True)
        assert 0.0 < sum(r.probabilities) <= 1.0 + 1e-5 and r.names == [str(i) for i in r.indices]
    correct = sum(r.top1 == y for r, y in zip(res, labels))
    assert correct >= 9, [(r.top1, y) for r, y in zip(res, labels)]


def test_predict_accepts_pil_arrays_and_tensors(artifacts, digit_pngs):
    from PIL import Image

    paths, _, _ = digit_pngs
    pred = load(artifacts["onnx"])
    by_path = pred.predict(paths[:3], top_k=2)
    pils = [Image.open(p) for p in paths[:3]]
    arrays = [np.asarray(im) for im in pils]
    floats = [a.astype(np.float32) / 255.0 for a in arrays]
    tensors = [pred.to_tensor(p)[0] for p in paths[:3]]
    for other in (pred.predict(pils, top_k=2), pred.predict(arrays, top_k=2), pred.predict(floats, top_k=2),
                  pred.predict(tensors, top_k=2)):
        assert [r.indices for r in other] == [r.indices for r in by_path]
        assert np.allclose([r.probabilities for r in other], [r.probabilities for r in by_path], atol=1e-4)
    assert pred.predict(str(paths[0]))[0].indices == pred.predict([paths[0]])[0].indices  # a single item
    assert len(pred.predict(paths[0], top_k=50)[0].indices) == 10  # capped at the class count
    with pytest.raises(ConfigError):
        pred.predict(paths[:1], top_k=0)
    with pytest.raises(DataError):
        pred.predict([np.zeros((2, 2, 2, 2))])


def test_static_batch_artifact_runs_any_batch(artifacts):
    onnx_pred, static = load(artifacts["onnx"]), load(artifacts["static"])
    assert static.static_batch == 1 and onnx_pred.static_batch is None
    x = torch.randn(5, 3, 32, 32)
    assert torch.allclose(static.logits(x), onnx_pred.logits(x), atol=1e-4)
    assert static.logits(x).dtype == torch.float32 and static.logits(x).shape == (5, 10)


def test_logits_match_source_model(artifacts, trained_digits_model):
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        ref = trained_digits_model.eval()(x)
    for name, atol in (("onnx", 1e-3), ("ts", 1e-3), ("fp16", 5e-2)):
        out = load(artifacts[name]).logits(x)
        assert out.dtype == torch.float32 and out.device.type == "cpu"
        assert (out - ref).abs().max() < atol, name


def test_model_folder_predicts_like_its_artifact(artifacts, digit_pngs, trained_digits_dir):
    paths, _, _ = digit_pngs
    pm = load(trained_digits_dir)
    assert pm.kind == "model" and pm.num_classes == 10 and pm.class_names[0] == "0"
    a = [r.indices for r in pm.predict(paths, top_k=2)]
    b = [r.indices for r in load(artifacts["onnx"]).predict(paths, top_k=2)]
    assert [x[0] for x in a] == [x[0] for x in b]


# ------------------------------------------------------------------------------------------------ eval
def test_eval_of_onnx_artifact_equals_source_within_one_image(artifacts, trained_digits_dir):
    from resnet_opt.pipeline.evaluate import evaluate_path

    src = evaluate_path(EvalConfig(trained_digits_dir, "digits"))
    for name in ("onnx", "ts", "fp16"):
        art = evaluate_path(EvalConfig(artifacts[name], "digits"))
        assert art.count == src.count == 360
        assert abs(art.top1 - src.top1) * art.count / 100.0 <= 1.0 + 1e-9, (name, art, src)
        assert art.kind == ("torchscript" if name == "ts" else "onnx")
    assert src.top1 > 90.0


def test_eval_cli_on_artifact(artifacts):
    r = runner.invoke(app, ["eval", "--model", str(artifacts["onnx"]), "--data", "digits", "--json", "--limit", "64"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["kind"] == "onnx" and res["count"] == 64 and res["top1"] > 80.0


# ------------------------------------------------------------------------------------------------ INT8-style
def test_loads_int8_style_artifact_without_reference(artifacts, tmp_path):
    """The quantize stage's folders: another file name, precision int8, no file_sha256 — read manifest['file']."""
    folder = tmp_path / "q"
    folder.mkdir()
    shutil.copy(artifacts["onnx"] / "model.onnx", folder / "model_int8.onnx")
    man = json.loads((artifacts["onnx"] / "manifest.json").read_text())
    write_manifest(folder, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx", "file": "model_int8.onnx", "precision": "int8", "stage": "quantize",
                            "preprocessing": man["preprocessing"], "class_names": man["class_names"]}))
    pred = load(folder)
    assert pred.precision == "int8" and pred.num_classes == 10 and pred.class_names[3] == "3"
    assert pred.logits(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


# ------------------------------------------------------------------------------------------------ corrupt
def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _drop_sha(folder: Path) -> None:
    man = json.loads((folder / "manifest.json").read_text())
    for key in ("file_sha256", "file_size"):
        man.pop(key, None)
    for f in man.get("files", []):
        f["sha256"] = f["size"] = None
    (folder / "manifest.json").write_text(json.dumps(man))


def _truncate(f: Path) -> None:
    b = f.read_bytes()
    f.write_bytes(b[: len(b) // 2])


def _set(folder: Path, **fields) -> None:
    man = json.loads((folder / "manifest.json").read_text())
    man.update(fields)
    (folder / "manifest.json").write_text(json.dumps(man))


CORRUPTIONS = {  # name: (artifact, how, message)
    "truncated": ("onnx", lambda d: _truncate(d / "model.onnx"), "manifest says"),
    "modified": ("onnx", lambda d: (d / "model.onnx").write_bytes(bytes(reversed((d / "model.onnx").read_bytes()))),
                 "does not match the sha256"),
    "truncated, no checksum": ("onnx", lambda d: (_truncate(d / "model.onnx"), _drop_sha(d)), "not a loadable ONNX model"),
    "torchscript truncated, no checksum": ("ts", lambda d: (_truncate(d / "model.ts"), _drop_sha(d)),
                                           "not a loadable TorchScript file"),
    "no manifest": ("onnx", lambda d: (d / "manifest.json").unlink(), "not a resnet-opt artifact"),
    "bad json": ("onnx", lambda d: (d / "manifest.json").write_text("{not json"), "not valid JSON"),
    "no model file": ("onnx", lambda d: (d / "model.onnx").unlink(), "missing its file model.onnx"),
    "unknown kind": ("onnx", lambda d: _set(d, kind="tflite"), "unknown artifact kind 'tflite'"),
    "future version": ("onnx", lambda d: _set(d, format_version=7), "format_version"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupted_artifacts_give_clear_errors(artifacts, tmp_path, case):
    src, how, message = CORRUPTIONS[case]
    d = _copy(artifacts[src], tmp_path / "a")
    how(d)
    with pytest.raises(ArtifactError, match=message):
        load(d)


def test_not_an_artifact_folder(artifacts, tmp_path):
    with pytest.raises(ArtifactError, match="is a file"):
        load(artifacts["onnx"] / "model.onnx")
    with pytest.raises(ArtifactError, match="does not exist"):
        load(tmp_path / "nothing")


def test_corrupted_artifact_cli(artifacts, digit_pngs, tmp_path):
    paths, _, _ = digit_pngs
    a = _copy(artifacts["onnx"], tmp_path / "trunc")
    _truncate(a / "model.onnx")
    one_line_error(runner.invoke(app, ["predict", str(a), str(paths[0])]), "modified or truncated")
    one_line_error(runner.invoke(app, ["eval", "--model", str(a)]), "modified or truncated")


# ------------------------------------------------------------------------------------------------ providers
def test_unknown_provider(artifacts):
    with pytest.raises(ConfigError, match="unknown provider"):
        load(artifacts["onnx"], provider="rocm")


@no_cuda
def test_unavailable_provider_is_an_error_and_auto_falls_back(artifacts):
    for p in ("cuda", "tensorrt"):
        with pytest.raises(BackendUnavailableError):
            load(artifacts["onnx"], provider=p)
    with pytest.raises(BackendUnavailableError):
        load(artifacts["ts"], provider="cuda")
    with pytest.raises(BackendUnavailableError, match="ONNX artifacts"):
        load(artifacts["ts"], provider="tensorrt")
    for name in ("onnx", "ts"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pred = load(artifacts[name], provider="auto")
        assert pred.provider == "cpu" and pred.requested_provider == "auto" and pred.warnings
        assert any(issubclass(w.category, ProviderFallbackWarning) for w in caught)
    pred = load(artifacts["onnx"], provider="cpu")
    assert set(pred.node_providers) == {"CPUExecutionProvider"} and pred.node_providers["CPUExecutionProvider"] > 10


@requires_cuda
def test_cuda_provider_really_runs_nodes(artifacts):
    import onnxruntime as ort

    x = torch.randn(2, 3, 32, 32)
    cpu = load(artifacts["onnx"]).logits(x)
    ts = load(artifacts["ts"], provider="cuda")
    assert ts.provider == "cuda" and (ts.logits(x) - cpu).abs().max() < 1e-2
    if "CUDAExecutionProvider" not in ort.get_available_providers():  # e.g. the GPU benchmark machine's onnxruntime
        pytest.skip(f"onnxruntime {ort.__version__} is a CPU-only build: the ONNX half of this test needs "
                    "onnxruntime-gpu (the TorchScript half passed)")
    for name in ("onnx", "fp16"):
        pred = load(artifacts[name], provider="cuda")
        assert pred.provider == "cuda" and pred.node_providers.get("CUDAExecutionProvider", 0) > 0
        assert (pred.logits(x) - cpu).abs().max() < 5e-2


# ------------------------------------------------------------------------------------------------ CLI
def test_predict_cli(artifacts, digit_pngs):
    paths, labels, _ = digit_pngs
    r = runner.invoke(app, ["predict", str(artifacts["onnx"]), *map(str, paths[:3]), "--top-k", "2", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["provider"] == "cpu" and res["kind"] == "onnx" and len(res["predictions"]) == 3
    assert [p["indices"][0] for p in res["predictions"]] == labels[:3]
    assert all(len(p["indices"]) == 2 for p in res["predictions"])
    r = runner.invoke(app, ["predict", str(artifacts["ts"]), str(paths[0])])
    assert r.exit_code == 0 and "torchscript" in r.output and paths[0].name in r.output


@no_cuda
def test_predict_cli_providers(artifacts, digit_pngs):
    paths, _, _ = digit_pngs
    one_line_error(runner.invoke(app, ["predict", str(artifacts["onnx"]), str(paths[0]), "--provider", "cuda"]),
                    "CUDAExecutionProvider")
    r = runner.invoke(app, ["predict", str(artifacts["onnx"]), str(paths[0]), "--provider", "auto", "--json"])
    assert r.exit_code == 0 and "Traceback" not in r.output
    assert "warning: provider auto" in r.stderr
    assert json.loads(r.stdout)["provider"] == "cpu"


def test_predict_cli_bad_input(artifacts, digit_pngs, tmp_path):
    paths, _, bad = digit_pngs
    one_line_error(runner.invoke(app, ["predict", str(artifacts["onnx"]), str(bad)]), "not a readable image")
    one_line_error(runner.invoke(app, ["predict", str(artifacts["onnx"]), str(tmp_path / "none.png")]), "does not exist")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(runner.invoke(app, ["predict", str(empty), str(paths[0])]), "not a resnet-opt artifact")
    one_line_error(runner.invoke(app, ["predict", str(artifacts["onnx"]), str(paths[0]), "--provider", "tpu"]),
                    "unknown provider")
    one_line_error(runner.invoke(app, ["predict", str(artifacts["onnx"]), str(paths[0]), "--top-k", "0"]), "--top-k")
