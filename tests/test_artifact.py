"""Atomic artifact folders and manifests (resnet_opt.core.artifact)."""

from __future__ import annotations

import os
import stat

import pytest

from resnet_opt.core.artifact import atomic_dir
from resnet_opt.core.manifest import MANIFEST_FORMAT, Manifest, read_manifest, write_manifest
from resnet_opt.core.errors import ArtifactError, OutputPathError


def _mark(folder, kind: str) -> None:
    """The header that makes a folder a resnet-opt artifact for atomic_dir (a full manifest is not needed here)."""
    import json

    (folder / "manifest.json").write_text(json.dumps({"format": "resnet-opt-artifact", "kind": kind}))


def _kind(folder) -> str:
    import json

    return json.loads((folder / "manifest.json").read_text())["kind"]


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
        _mark(tmp, "test")  # a resnet-opt artifact: the only kind of folder ever replaced
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(out) as tmp:
            (tmp / "v2.txt").write_text("two")
            raise KeyboardInterrupt
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "v1.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_artifact_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "art"
        with atomic_dir(out) as tmp:
            write_manifest(tmp, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx"}))
        assert _mode(out) == 0o755
        assert _mode(out / "manifest.json") == 0o644
    finally:
        os.umask(old)


def test_manifest_roundtrip_and_bad_manifests(tmp_path):
    write_manifest(tmp_path, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx", "sizes": (1, 2)}))
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


def test_atomic_dir_never_replaces_a_folder_it_did_not_write(tmp_path):
    out = tmp_path / "users"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    for overwrite in (True, False):
        with pytest.raises(OutputPathError):
            with atomic_dir(out, overwrite=overwrite) as tmp:
                _mark(tmp, "test")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["users"]


def test_check_output_dir_rules(tmp_path, monkeypatch):
    from resnet_opt.core.artifact import check_output_dir

    monkeypatch.chdir(tmp_path)
    for bad in (".", "..", str(tmp_path)):
        with pytest.raises(OutputPathError):
            check_output_dir(bad, overwrite=True)
    art = tmp_path / "art"
    with atomic_dir(art) as tmp:
        _mark(tmp, "test")
    with pytest.raises(OutputPathError, match="--overwrite"):
        check_output_dir(art)
    assert check_output_dir(art, overwrite=True) == art
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty") == tmp_path / "empty"  # an empty folder is fine
    (tmp_path / "link").symlink_to(art)
    with pytest.raises(OutputPathError, match="symbolic link"):
        check_output_dir(tmp_path / "link", overwrite=True)


def test_stale_temporary_folders_of_dead_runs_are_cleaned(tmp_path):
    """After a SIGKILL: a dead run's .NAME.tmp-PID-* is removed by the next run; its .NAME.old-PID (the previous
    artifact moved aside just before the swap) is put back when NAME is missing."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a pid that no longer runs
    out = tmp_path / "art"
    stale = tmp_path / f".art.tmp-{dead}-abc"
    stale.mkdir()
    (stale / "half.bin").write_bytes(b"x")
    old = tmp_path / f".art.old-{dead}"
    old.mkdir()
    _mark(old, "previous")
    from resnet_opt.core.artifact import clean_stale

    clean_stale(out)
    assert _kind(out) == "previous" and sorted(p.name for p in tmp_path.iterdir()) == ["art"]
    alive = tmp_path / f".art.tmp-{os.getpid()}-xyz"  # a live run's folder is left alone
    alive.mkdir()
    stale.mkdir()
    with atomic_dir(out) as tmp:
        _mark(tmp, "new")
    assert _kind(out) == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "art"]


def test_work_folders_of_killed_runs_are_cleaned(tmp_path, monkeypatch):
    """Stages keep intermediate files in $TMPDIR/resnet-opt-STAGE-PID-*: the next run removes those of dead
    processes (SIGKILL leaves them), never a live run's, another program's, a link or a file."""
    import subprocess
    import sys
    import tempfile

    from resnet_opt.core.artifact import work_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f"resnet-opt-quantize-{dead}-abc123"
    (stale / "sub").mkdir(parents=True)
    live = tmp_path / f"resnet-opt-calib-{os.getpid()}-xyz"
    live.mkdir()
    other = tmp_path / "resnet-opt-notes"  # not a work folder name: left alone
    other.mkdir()
    afile = tmp_path / f"resnet-opt-lat-{dead}-file"
    afile.write_text("x")
    with work_dir("export") as d:
        assert d.is_dir() and d.parent == tmp_path and d.name.startswith(f"resnet-opt-export-{os.getpid()}-")
        (d / "x.onnx").write_bytes(b"1")
        assert not stale.exists() and live.is_dir() and other.is_dir() and afile.is_file()
    assert not d.exists()  # removed on exit
    with pytest.raises(RuntimeError):
        with work_dir("export") as d2:
            raise RuntimeError("boom")
    assert not d2.exists()  # and on an error


def test_replaced_in_place_keeps_the_old_folder_until_the_new_one_is_complete(tmp_path):
    """The pipeline rebuilds its folder in place (its manifests record final paths): the old folder is moved aside
    and put back when the new run fails, is interrupted, or was SIGKILLed (next run)."""
    import subprocess
    import sys

    from resnet_opt.core.artifact import INCOMPLETE_MARK, clean_stale, replaced_in_place

    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    for exc in (RuntimeError("stage failed"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with replaced_in_place(out) as d:
                assert d == out and (out / INCOMPLETE_MARK).is_file() and not (out / "old.txt").exists()
                (out / "new.txt").write_text("half")
                raise exc
        assert (out / "old.txt").read_text() == "old" and not (out / "new.txt").exists()
        assert [p.name for p in tmp_path.iterdir()] == ["run"]
    # SIGKILL: the dead run's unfinished folder and its .old- folder are left; the next run puts the old one back
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    os.replace(out, tmp_path / f".run.old-{dead}")
    out.mkdir()
    (out / INCOMPLETE_MARK).write_text("x")
    (out / "new.txt").write_text("half")
    clean_stale(out)
    assert (out / "old.txt").read_text() == "old" and not (out / "new.txt").exists()
    # success: the new folder, without the mark; the old one is gone
    with replaced_in_place(out):
        (out / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
