"""Atomic artifact folders and manifests (resnet_opt.core.artifact)."""

from __future__ import annotations

import os
import stat

import pytest

from resnet_opt.core.artifact import atomic_dir
from resnet_opt.core.manifest import read_manifest, write_manifest
from resnet_opt.core.errors import ArtifactError, OutputPathError


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_dir_failure_leaves_nothing(tmp_path):
    out = tmp_path / "art"
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise RuntimeError("interrupted")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_failure_keeps_previous_artifact(tmp_path):
    out = tmp_path / "art"
    with atomic_dir(out) as tmp:
        (tmp / "v1.txt").write_text("one")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(out) as tmp:
            (tmp / "v2.txt").write_text("two")
            raise KeyboardInterrupt
    assert sorted(p.name for p in out.iterdir()) == ["v1.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_artifact_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "art"
        with atomic_dir(out) as tmp:
            write_manifest(tmp, {"kind": "onnx"})
        assert _mode(out) == 0o755
        assert _mode(out / "manifest.json") == 0o644
    finally:
        os.umask(old)


def test_manifest_roundtrip_and_bad_manifests(tmp_path):
    write_manifest(tmp_path, {"kind": "onnx", "sizes": (1, 2)})
    data = read_manifest(tmp_path)
    assert data["format"] == "resnet-opt-artifact" and data["kind"] == "onnx" and data["sizes"] == [1, 2]
    assert "created" in data
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        read_manifest(tmp_path)
    with pytest.raises(ArtifactError, match="does not exist"):
        read_manifest(tmp_path / "missing")


def test_atomic_dir_refuses_a_file_as_output(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputPathError, match="not a folder"):
        with atomic_dir(f):
            pass
