"""Atomic artifact folders and files, hashing, JSON. The manifest lives in :mod:`resnet_opt.core.manifest`."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from resnet_opt.core.errors import ArtifactError, OutputPathError

# the names resnet_opt.core.manifest defines (it imports this module, so they are repeated here, not imported)
_MANIFEST_NAME = "manifest.json"
_MANIFEST_FORMAT = "resnet-opt-artifact"


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


def chmod_umask(path: str | os.PathLike, mode: int = 0o666) -> None:
    """Give a file written by a library that uses 0600 (safetensors, mkstemp) the permissions ``open()`` would."""
    os.chmod(path, _umask_mode(mode))


def _umask_mode(mode: int) -> int:
    """``mode`` with the process umask applied (what open()/mkdir() would give a new file or folder)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


_MODEL_CONFIG_NAME = "config.json"  # a model folder's config (resnet_opt.resnet.io writes it)
_MODEL_FORMAT = "resnet-opt-model"
PIPELINE_FILE, PIPELINE_FORMAT = "pipeline.json", "resnet-opt-pipeline"  # a pipeline folder's record (pipeline stage)
OPTIMIZE_FILE, OPTIMIZE_FORMAT = "optimize.json", "resnet-opt-optimize"  # an optimize work folder's record
INCOMPLETE_MARK = ".resnet-opt-incomplete"  # inside a folder being rebuilt in place (see replaced_in_place)
TMP_TAG, OLD_TAG = ".tmp-", ".old-"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (ours or another user's); False for ids <= 0."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


WORK_PREFIX = "resnet-opt-"


def clean_stale_work_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Remove the work folders that killed runs left in the system temp folder (``resnet-opt-STAGE-PID-*`` whose
    process is gone). Folders of live runs, of other names, links and files are left alone. Returns what was
    removed."""
    root = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for e in entries:
        if not e.name.startswith(WORK_PREFIX) or e.is_symlink() or not e.is_dir():
            continue
        parts = e.name[len(WORK_PREFIX):].split("-")
        if len(parts) < 3 or not parts[1].isdigit() or pid_alive(int(parts[1])):
            continue
        shutil.rmtree(e, ignore_errors=True)
        removed.append(e)
    return removed


@contextlib.contextmanager
def work_dir(stage: str) -> Iterator[Path]:
    """A private work folder ``$TMPDIR/resnet-opt-STAGE-PID-XXXX`` for intermediate files, removed on exit (errors,
    Ctrl-C and SIGTERM unwind through it). The PID in the name lets the next run remove what a SIGKILLed run left:
    stale work folders are cleaned before a new one is made."""
    clean_stale_work_dirs()
    d = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{stage}-{os.getpid()}-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _json_format(path: Path) -> Any:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data.get("format") if isinstance(data, dict) else None


def is_resnet_opt_folder(folder: str | os.PathLike) -> bool:
    """True for a folder this tool wrote: an artifact (``manifest.json``), a model / training run folder
    (``config.json`` of our model format), a pipeline folder (``pipeline.json``) or an optimize work folder
    (``optimize.json``). Only such folders are ever
    replaced by ``--overwrite``."""
    f = Path(folder)
    if f.is_symlink() or not f.is_dir():
        return False
    return (_json_format(f / _MANIFEST_NAME) == _MANIFEST_FORMAT
            or _json_format(f / _MODEL_CONFIG_NAME) == _MODEL_FORMAT
            or _json_format(f / PIPELINE_FILE) == PIPELINE_FORMAT
            or _json_format(f / OPTIMIZE_FILE) == OPTIMIZE_FORMAT)


def _is_empty_dir(p: Path) -> bool:
    try:
        return p.is_dir() and not any(p.iterdir())
    except OSError:
        return False


def clean_stale(out: str | os.PathLike) -> list[Path]:
    """Remove the temporary folders that killed runs (SIGKILL, power loss) left beside ``out``:
    ``.NAME.tmp-PID-*`` whose process is gone. A ``.NAME.old-PID`` of a dead run is the previous artifact, moved
    aside before the new one was complete: it is put back when ``out`` is missing or is the dead run's unfinished
    folder (it holds :data:`INCOMPLETE_MARK`, see :func:`replaced_in_place`), else removed (the new one was
    complete). Returns what was removed."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    removed: list[Path] = []
    if not out.name or not parent.is_dir():
        return removed
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for e in entries:
        for tag in (TMP_TAG, OLD_TAG):
            prefix = f".{out.name}{tag}"
            if not e.name.startswith(prefix) or e.is_symlink() or not e.is_dir():
                continue
            pid_text = e.name[len(prefix):].split("-", 1)[0]
            if not pid_text.isdigit() or pid_alive(int(pid_text)):
                continue
            unfinished = out.is_dir() and not out.is_symlink() and (out / INCOMPLETE_MARK).is_file()
            if tag == OLD_TAG and (not out.exists() or unfinished):
                with contextlib.suppress(OSError):
                    if unfinished:
                        shutil.rmtree(out)  # the killed run's own, unfinished folder
                        removed.append(out)
                    os.replace(e, out)  # the killed run had moved the old artifact aside: restore it
                    continue
            shutil.rmtree(e, ignore_errors=True)
            removed.append(e)
    return removed


def check_output_dir(out: str | os.PathLike, overwrite: bool = False, *, what: str = "output folder") -> Path:
    """Check, before any work, that ``out`` can be written as a new artifact folder.

    Refused: a path whose last part is ``.``/``..``/empty or that holds the current folder; a file or symbolic link
    in the way; an existing non-empty folder unless ``overwrite`` (and even then only a folder this tool wrote, see
    :func:`is_resnet_opt_folder`: other folders are never deleted); a parent that cannot be created or written."""
    out = Path(out)
    if not out.name or out.name in (".", "..") or str(out) in ("", ".", ".."):
        raise OutputPathError(f"{what} {str(out) or repr('')} must name a new folder (e.g. runs/name), not the "
                              "current or a parent folder")
    try:
        resolved = out.resolve()
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError) as e:
        raise OutputPathError(f"cannot resolve {what} {out}: {e}") from e
    if resolved == cwd or resolved in cwd.parents:
        raise OutputPathError(f"{what} {out} is the current folder or one of its parents; name a new folder")
    if out.is_symlink():
        raise OutputPathError(f"{what} {out} is a symbolic link; give the real folder or a new name")
    if out.exists():
        if not out.is_dir():
            raise OutputPathError(f"{what} {out} exists and is not a folder")
        if not _is_empty_dir(out):
            if not overwrite:
                raise OutputPathError(f"{what} {out} already exists and is not empty; pass --overwrite to replace it "
                                      "or choose another folder")
            if not is_resnet_opt_folder(out):
                raise OutputPathError(f"{what} {out} holds files that resnet-opt did not write (no manifest.json or "
                                      "model config.json); refusing to replace it even with --overwrite")
    return check_writable(out, what=what)


def check_writable(out: str | os.PathLike, *, what: str = "output folder") -> Path:
    """``out`` can be created (or written into) as a folder: no file in the way, and its nearest existing ancestor
    is a writable folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{what} {out} exists and is not a folder")
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write the {what} {out}: it is not writable")
    anc = out.parent if str(out.parent) else Path(".")
    while not anc.exists() and not anc.is_symlink():
        if anc.parent == anc:
            break
        anc = anc.parent
    if not anc.is_dir():
        raise OutputPathError(f"cannot write the {what} {out}: {anc} is not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write the {what} {out}: {anc} is not writable")
    _probe_write(anc, out, what)
    return out


def _probe_write(folder: Path, out: Path, what: str) -> None:
    """Create and remove an empty folder of our own in ``folder``: permission bits say yes for root even where the
    file system says no (``/proc``, a read-only mount), and that would surface as a crash after the work."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".resnet-opt-probe-", dir=folder))
    except OSError as e:
        raise OutputPathError(f"cannot write the {what} {out}: {folder} does not accept new folders "
                              f"({e.strerror or type(e).__name__})") from None


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``out``; rename it to ``out`` only when the block succeeds.

    An exception (or interruption: SIGINT, and SIGTERM in the CLI) removes the temporary folder, so a failed run
    leaves nothing half-written. An existing ``out`` is replaced only after the new one is complete, and only when
    it is empty or a folder this tool wrote (:func:`is_resnet_opt_folder`); with ``overwrite=False`` a non-empty
    ``out`` is refused. Temporary folders of killed runs (``.NAME.tmp-PID-*``) are removed first.
    """
    out = Path(out)
    if not out.name or out.name in (".", ".."):
        raise OutputPathError(f"output folder {out} must name a new folder, not the current or a parent folder")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create output folder {parent}: {e.strerror or e}") from e
    if out.is_symlink():
        raise OutputPathError(f"output path {out} is a symbolic link; refusing to replace it")
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"output path {out} exists and is not a folder")
    if out.exists() and not _is_empty_dir(out):
        if not overwrite:
            raise OutputPathError(f"output folder {out} already exists and is not empty")
        if not is_resnet_opt_folder(out):
            raise OutputPathError(f"output folder {out} holds files that resnet-opt did not write; refusing to "
                                  "replace it")
    clean_stale(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{TMP_TAG}{os.getpid()}-", dir=parent))
        tmp.chmod(_umask_mode(0o777))  # mkdtemp makes 0700; the finished folder gets normal permissions
    except OSError as e:
        raise OutputPathError(f"cannot write to output folder {parent}: {e.strerror or e}") from e
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    try:
        if out.exists():
            old = parent / f".{out.name}{OLD_TAG}{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        if old is not None and old.exists() and not out.exists():
            os.replace(old, out)  # put the previous artifact back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def replaced_in_place(out: str | os.PathLike) -> Iterator[Path]:
    """Rebuild the existing folder ``out`` (already checked by :func:`check_output_dir` with ``overwrite``) in place,
    for a stage whose outputs record their final paths (the pipeline): the old folder is moved aside to
    ``.NAME.old-PID`` and ``out`` is created anew holding :data:`INCOMPLETE_MARK`. When the block succeeds the mark
    and then the old folder are removed; when it fails or is interrupted, the new folder is removed and the old one
    put back. After a SIGKILL, :func:`clean_stale` (next run) puts the old folder back. So the old folder survives,
    under another name, until the new one is complete."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    clean_stale(out)
    old = parent / f".{out.name}{OLD_TAG}{os.getpid()}"
    try:
        os.replace(out, old)
    except OSError as e:
        raise OutputPathError(f"cannot move {out} aside to replace it: {e.strerror or e}") from e
    try:
        out.mkdir(mode=_umask_mode(0o777))
        (out / INCOMPLETE_MARK).write_text(f"being rebuilt by process {os.getpid()}; the previous folder is {old}\n")
        yield out
        (out / INCOMPLETE_MARK).unlink()
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.replace(old, out)
        raise
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


def plain(o: Any) -> Any:
    """``o`` as JSON-able Python: dataclasses (and :class:`StageResult`) as dicts, paths as strings, tuples as lists,
    numpy / torch scalars as numbers."""
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        if getattr(o, "__stage_result__", False) or getattr(o, "__json_form__", False):
            return o.to_dict()  # a typed stage result: its own JSON form (an artifact result: the manifest + out)
        return {f.name: plain(getattr(o, f.name)) for f in dataclasses.fields(o)}
    if isinstance(o, dict):
        return {str(k): plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v) for v in o]
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item") and callable(o.item):  # numpy / torch scalars
        try:
            return o.item()
        except (ValueError, RuntimeError):
            pass
    return o


def to_json(obj: Any) -> str:
    return json.dumps(plain(obj), indent=2, sort_keys=False)


def check_output_path(out: str | os.PathLike) -> Path:
    """Fail early (before minutes of work) when ``out`` cannot be written: a file in the way, or a parent folder
    that cannot be created or written to (see :func:`check_writable`)."""
    return check_writable(out, what="output folder")
