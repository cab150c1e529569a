"""The typed manifest: round trips, version and field errors, the published JSON Schema, the opener's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resnet_opt.core.errors import ArtifactError
from resnet_opt.core.manifest import (
    KINDS, MANIFEST_VERSION, Manifest, ManifestError, manifest_json_schema, open_artifact, read_manifest,
    write_manifest,
)

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "manifest.schema.json"


def _onnx_folder(tmp_path: Path, **extra) -> Path:
    f = tmp_path / "a"
    f.mkdir()
    (f / "model.onnx").write_bytes(b"not really onnx, but bytes to hash")
    write_manifest(f, {"kind": "onnx", "file": "model.onnx", "precision": "fp32",
                       "input": {"name": "input", "shape": [-1, 3, 32, 32], "dtype": "float32"},
                       "output": {"name": "logits", "shape": [-1, 10], "dtype": "float32"},
                       "preprocessing": {"resize": 32, "crop": 32}, "export": {"opset": 17}, **extra})
    return f


def test_published_schema_matches_the_dataclass():
    assert json.loads(SCHEMA.read_text()) == manifest_json_schema(), \
        "docs/manifest.schema.json is stale: regenerate it with manifest_json_schema()"
    assert set(manifest_json_schema()["properties"]["kind"]["enum"]) == set(KINDS)


def test_write_fills_hashes_and_round_trips(tmp_path):
    f = _onnx_folder(tmp_path)
    data = json.loads((f / "manifest.json").read_text())
    assert data["format_version"] == MANIFEST_VERSION and data["files"][0]["sha256"] == data["file_sha256"]
    assert data["files"][0]["size"] == (f / "model.onnx").stat().st_size and data["export"] == {"opset": 17}
    m = Manifest.from_dict(data)
    assert m.to_dict() == data and m.input_size == 32 and m.num_classes == 10 and m.file == "model.onnx"
    assert read_manifest(f) == data


def test_version_one_manifests_still_open(tmp_path):
    f = tmp_path / "v1"
    f.mkdir()
    (f / "model.ts").write_bytes(b"x" * 10)
    (f / "manifest.json").write_text(json.dumps({"format": "resnet-opt-artifact", "format_version": 1,
                                                 "kind": "torchscript", "file": "model.ts", "precision": "int8"}))
    art = open_artifact(f)
    assert art.kind == "torchscript" and art.model_file == f / "model.ts" and art.manifest.precision == "int8"


@pytest.mark.parametrize("field,value,needle", [
    ("format_version", 99, "format_version"),
    ("kind", "tensorrt-plan", "unknown artifact kind"),
    ("precision", "int3", "precision"),
    ("input", {"shape": [1, 3, 0, 32]}, "input"),
    ("input", {"shape": "big"}, "input"),
    ("class_names", [1, 2], "class_names"),
    ("class_names", ["a", "b"], "class_names"),  # 2 names for 10 classes
    ("preprocessing", {"crop": -3}, "preprocessing.crop"),
    ("preprocessing", {"std": [0, 1, 1]}, "preprocessing.std"),
    ("file", "../../etc/passwd", "outside"),
    ("architecture", [], "architecture"),
])
def test_bad_fields_are_named(tmp_path, field, value, needle):
    f = _onnx_folder(tmp_path)
    data = json.loads((f / "manifest.json").read_text())
    data[field] = value
    if field == "file":
        data.pop("files")
    (f / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        open_artifact(f)


def test_opener_checks_every_file(tmp_path):
    f = _onnx_folder(tmp_path)
    (f / "model.onnx").write_bytes(b"not really onnx, but bytes to hasH")  # same size, other content
    with pytest.raises(ArtifactError, match="sha256"):
        open_artifact(f)
    assert open_artifact(f, verify=False).kind == "onnx"
    (f / "model.onnx").write_bytes(b"short")
    with pytest.raises(ArtifactError, match="bytes"):
        open_artifact(f)


def test_opener_refuses_symlinks_out_of_the_folder(tmp_path):
    f = _onnx_folder(tmp_path)
    outside = tmp_path / "outside.onnx"
    outside.write_bytes((f / "model.onnx").read_bytes())
    (f / "model.onnx").unlink()
    (f / "model.onnx").symlink_to(outside)
    with pytest.raises(ArtifactError, match="outside the artifact folder"):
        open_artifact(f)


def test_not_an_artifact(tmp_path):
    with pytest.raises(ArtifactError, match="does not exist"):
        open_artifact(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArtifactError, match="is a file"):
        open_artifact(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="not a resnet-opt artifact"):
        open_artifact(tmp_path / "empty")


def test_legacy_file_hash_that_disagrees_with_files_is_refused():
    """The top-level file_sha256 / file_size (kept for readers of version-1 manifests) are checked against files[0]."""
    from resnet_opt.core.manifest import Manifest, ManifestError

    good = {"format": "resnet-opt-artifact", "format_version": 2, "kind": "onnx", "file": "model.onnx",
            "files": [{"path": "model.onnx", "sha256": "a" * 64, "size": 10, "role": "model"}],
            "file_sha256": "a" * 64, "file_size": 10}
    assert Manifest.from_dict(good, where="m").files[0].sha256 == "a" * 64
    for key, bad in (("file_sha256", "b" * 64), ("file_size", 11)):
        with pytest.raises(ManifestError, match=f"field '{key}'.*disagrees with files\\[0\\]"):
            Manifest.from_dict({**good, key: bad}, where="m")
