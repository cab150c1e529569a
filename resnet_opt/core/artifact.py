"""Atomic artifact folders and files, hashing, JSON. The manifest lives in :mod:`resnet_opt.core.manifest`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from resnet_opt.core.errors import ArtifactError, OutputPathError

def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def sha256_path(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a folder (hash of its files' names and hashes, sorted)."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(str(f.relative_to(p)).encode())
            h.update(sha256_file(f).encode())
        return h.hexdigest()
    raise ArtifactError(f"cannot hash {p}: no such file or folder")


def dir_size(path: str | os.PathLike) -> int:
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def _umask_mode(mode: int) -> int:
    """``mode`` with the process umask applied (what open()/mkdir() would give a new file or folder)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``out``; rename it to ``out`` only when the block succeeds.

    An exception (or interruption) removes the temporary folder, so a failed run leaves nothing half-written.
    An existing ``out`` is replaced only after the new one is complete.
    """
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create output folder {parent}: {e.strerror or e}") from e
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"output path {out} exists and is not a folder")
    if out.exists() and not overwrite:
        raise OutputPathError(f"output folder {out} already exists")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        tmp.chmod(_umask_mode(0o777))  # mkdtemp makes 0700; the finished folder gets normal permissions
    except OSError as e:
        raise OutputPathError(f"cannot write to output folder {parent}: {e.strerror or e}") from e
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = parent / f".{out.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, _umask_mode(0o666))  # mkstemp makes 0600; the finished file gets normal permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _jsonable(o: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return _jsonable(dataclasses.asdict(o))
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item") and callable(o.item):  # numpy / torch scalars
        try:
            return o.item()
        except (ValueError, RuntimeError):
            pass
    return o


def to_json(obj: Any) -> str:
    return json.dumps(_jsonable(obj), indent=2, sort_keys=False)


def check_output_path(out: str | os.PathLike) -> Path:
    """Fail early (before minutes of work) when ``out`` cannot be written: a file in the way, or a parent folder
    that cannot be created or written to."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"output path {out} exists and is not a folder")
    anc = out.parent if str(out.parent) else Path(".")
    while not anc.exists():
        if anc.parent == anc:
            break
        anc = anc.parent
    if anc.exists() and (not anc.is_dir() or not os.access(anc, os.W_OK | os.X_OK)):
        raise OutputPathError(f"cannot write the output folder {out}: {anc} is not a writable folder")
    return out
