"""The native C++ runner (``cpp/resnet_opt_runner.cpp``): build it against the pip torch wheel's libtorch, run it.

``build_runner()`` compiles the runner with ``g++ -std=c++20`` directly against ``torch/include``,
``torch/include/torch/csrc/api/include`` and ``torch/lib`` (``-ltorch -ltorch_cpu -lc10``, rpath set), because
``find_package(Torch)`` fails with the CUDA wheel when no CUDA toolkit is installed. With ``cuda="auto"`` it also
links ``torch_cuda`` when the wheel ships it and torch sees a GPU. The binary lands in a cache folder keyed by the
source, compiler, torch version and flags, so tests, the bench backend and the CLI share one build.

The runner needs two header-only Debian packages: ``nlohmann-json3-dev`` (JSON) and ``libstb-dev`` (stb_image).
``install_deps=True`` installs missing ones with apt-get (root only).

``run_runner(...)`` runs the binary with ``--json`` and returns its parsed output; a failure raises a typed error
carrying the runner's one-line message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from resnet_opt.core.errors import ArtifactError, BackendUnavailableError, BuildError, ConfigError, DataError, OutputPathError

RUNNER_NAME = "resnet-opt-runner"
SOURCE = Path(__file__).resolve().parents[2] / "cpp" / "resnet_opt_runner.cpp"
# Debian package -> a header it provides
DEBIAN_DEPS = {"nlohmann-json3-dev": "nlohmann/json.hpp", "libstb-dev": "stb/stb_image.h"}
CXXFLAGS = ["-std=c++20", "-O2", "-DNDEBUG", "-pthread"]
# the runner's exit codes: 2 bad usage or input, 3 the model failed to load or run
EXIT_INPUT, EXIT_MODEL = 2, 3


@dataclasses.dataclass(frozen=True)
class TorchPaths:
    root: Path  # the torch package folder
    include: tuple[Path, ...]
    lib: Path
    version: str
    cxx11_abi: bool
    has_cuda_lib: bool  # libtorch_cuda.so ships in the wheel
    cuda_lib_dirs: tuple[Path, ...]  # the nvidia-* wheels' lib folders (libtorch_cuda's own dependencies)


def torch_paths() -> TorchPaths:
    """Where the installed torch wheel keeps libtorch's headers and libraries."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is a dependency
        raise BuildError(f"torch is not importable: {e}") from e
    root = Path(torch.__file__).resolve().parent
    inc = (root / "include", root / "include" / "torch" / "csrc" / "api" / "include")
    lib = root / "lib"
    for p in (*inc, lib / "libtorch.so", lib / "libtorch_cpu.so", lib / "libc10.so"):
        if not p.exists():
            raise BuildError(f"the torch wheel at {root} has no {p.relative_to(root)} (a wheel without libtorch "
                             "headers/libraries cannot build the runner)")
    nvidia = root.parent / "nvidia"
    cuda_dirs = tuple(sorted({f.parent for f in nvidia.rglob("lib*.so*")})) if nvidia.is_dir() else ()
    return TorchPaths(root=root, include=inc, lib=lib, version=torch.__version__,
                      cxx11_abi=bool(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", True)),
                      has_cuda_lib=(lib / "libtorch_cuda.so").is_file(), cuda_lib_dirs=cuda_dirs)


def find_compiler() -> str:
    """The C++ compiler: ``$CXX``, else g++, c++ or clang++ on PATH. Raises BuildError when there is none."""
    env = os.environ.get("CXX")
    if env:
        exe = shutil.which(env)
        if exe is None:
            raise BuildError(f"$CXX is {env!r}, which is not an executable on PATH")
        return exe
    for name in ("g++", "c++", "clang++"):
        exe = shutil.which(name)
        if exe:
            return exe
    raise BuildError("no C++ compiler found (set $CXX, or install g++: apt-get install g++)")


def _compiler_version(cxx: str) -> str:
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise BuildError(f"cannot run the C++ compiler {cxx}: {e}") from e
    return (out.stdout.strip().splitlines() or ["?"])[0]


def missing_headers(cxx: str | None = None) -> list[str]:
    """Debian packages whose headers the compiler cannot find (checked with the preprocessor)."""
    cxx = cxx or find_compiler()
    missing = []
    for pkg, header in DEBIAN_DEPS.items():
        try:
            r = subprocess.run([cxx, "-std=c++20", "-E", "-x", "c++", "-", "-o", os.devnull],
                               input=f"#include <{header}>\n", capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            raise BuildError(f"cannot run the C++ compiler {cxx}: {e}") from e
        if r.returncode != 0:
            missing.append(pkg)
    return missing


def install_debian_deps(packages: Sequence[str], log: Callable[[str], None] | None = None) -> None:
    """``apt-get update && apt-get install -y PACKAGES`` (root only). Raises BuildError when that is impossible."""
    if not packages:
        return
    cmd = "apt-get install -y " + " ".join(packages)
    if shutil.which("apt-get") is None:
        raise BuildError(f"missing C++ headers from {', '.join(packages)} and no apt-get here; install them "
                         "(nlohmann/json and stb_image) with your package manager")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise BuildError(f"missing C++ headers: run `sudo {cmd}` (needs root)")
    say = log or (lambda _m: None)
    say(f"installing {', '.join(packages)} with apt-get ...")
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        r = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if r.returncode != 0:
            tail = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["?"]
            raise BuildError(f"`{' '.join(args)}` failed: {tail[0]}")


def default_cache_dir() -> Path:
    base = os.environ.get("RESNET_OPT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "resnet-opt")
    return Path(base) / "cpp-runner"


def _want_cuda(cuda: bool | str, tp: TorchPaths) -> bool:
    if cuda not in (True, False, "auto"):
        raise ConfigError(f"cuda must be True, False or 'auto', got {cuda!r}")
    if cuda is False:
        return False
    if not tp.has_cuda_lib:
        if cuda is True:
            raise BuildError(f"this torch wheel ({tp.version}) has no libtorch_cuda.so: CPU-only")
        return False
    if cuda == "auto":
        import torch

        return bool(torch.cuda.is_available())
    return True


def compile_command(cxx: str, tp: TorchPaths, out: Path, *, cuda: bool, source: Path = SOURCE) -> list[str]:
    cmd = [cxx, *CXXFLAGS, f"-D_GLIBCXX_USE_CXX11_ABI={int(tp.cxx11_abi)}"]
    cmd += [f"-I{p}" for p in tp.include]
    cmd += [str(source), "-o", str(out), f"-L{tp.lib}", f"-Wl,-rpath,{tp.lib}", "-Wl,--no-as-needed"]
    if cuda:  # linked even though nothing calls into it directly: it registers the CUDA kernels
        cmd += [f"-Wl,-rpath-link,{d}" for d in tp.cuda_lib_dirs]
        cmd += ["-ltorch_cuda", "-lc10_cuda"]
    cmd += ["-ltorch", "-ltorch_cpu", "-lc10", "-Wl,--as-needed"]
    return cmd


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_out(out: str | os.PathLike) -> Path:
    o = Path(out)
    if o.is_dir():
        o = o / RUNNER_NAME
    if not o.parent.exists():
        raise OutputPathError(f"output folder {o.parent} does not exist")
    if not os.access(o.parent, os.W_OK):
        raise OutputPathError(f"cannot write to {o.parent}")
    return o


def build_runner(*, cache_dir: str | os.PathLike | None = None, force: bool = False, cuda: bool | str = "auto",
                 install_deps: bool = False, out: str | os.PathLike | None = None,
                 log: Callable[[str], None] | None = None) -> Path:
    """Compile the runner (or reuse the cached build) and return the binary's path (``out`` when given: the
    binary is copied there, or into that folder).

    Raises BuildError: no compiler, headers missing (``install_deps`` installs them with apt-get as root), the
    torch wheel lacks libtorch, or the compile failed (its first error line; the full log is kept beside the
    binary as ``build.log``)."""
    say = log or (lambda _m: None)
    target = _check_out(out) if out is not None else None
    binary = _build(cache_dir, force, cuda, install_deps, say)
    if target is None:
        return binary
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.copy2(binary, tmp)
    os.replace(tmp, target)
    return target


def _build(cache_dir: str | os.PathLike | None, force: bool, cuda: bool | str, install_deps: bool,
           say: Callable[[str], None]) -> Path:
    if not SOURCE.is_file():
        raise BuildError(f"the runner's source {SOURCE} is missing (build from a resnet-opt source checkout)")
    cxx = find_compiler()
    tp = torch_paths()
    use_cuda = _want_cuda(cuda, tp)
    version = _compiler_version(cxx)
    key_src = [SOURCE.read_bytes(), version.encode(), tp.version.encode(), str(tp.root).encode(),
               " ".join(compile_command(cxx, tp, Path("out"), cuda=use_cuda)).encode()]
    key = hashlib.sha256(b"\0".join(key_src)).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / key
    binary = folder / RUNNER_NAME
    try:
        lock_ctx = _locked(root)
        lock_ctx.__enter__()
    except OSError as e:
        raise BuildError(f"cannot use the build cache folder {root}: {e.strerror or e}") from e
    try:
        if binary.is_file() and os.access(binary, os.X_OK) and not force:
            return binary
        missing = missing_headers(cxx)
        if missing:
            if not install_deps:
                raise BuildError(f"missing C++ headers from Debian packages {', '.join(missing)}: run "
                                 f"`apt-get install -y {' '.join(missing)}` (or `make cpp`, or "
                                 "`resnet-opt build-runner --install-deps`, which install them as root)")
            install_debian_deps(missing, say)
            still = missing_headers(cxx)
            if still:
                raise BuildError(f"headers from {', '.join(still)} are still not found after apt-get install")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{RUNNER_NAME}.tmp-{os.getpid()}"
        cmd = compile_command(cxx, tp, tmp, cuda=use_cuda)
        say(f"compiling {RUNNER_NAME} ({'CPU + CUDA' if use_cuda else 'CPU'}, libtorch {tp.version}) ...")
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise BuildError(f"cannot run the C++ compiler {cxx}: {e}") from e
        (folder / "build.log").write_text(" ".join(cmd) + "\n\n" + r.stdout + r.stderr)
        if r.returncode != 0 or not tmp.is_file():
            tmp.unlink(missing_ok=True)
            errs = [ln for ln in r.stderr.splitlines() if "error" in ln]
            first = (errs or r.stderr.strip().splitlines()[-1:] or ["unknown error"])[0].strip()
            raise BuildError(f"compiling {RUNNER_NAME} failed: {first} (full log: {folder / 'build.log'})")
        os.replace(tmp, binary)
        (folder / "build.json").write_text(json.dumps({"command": cmd, "compiler": version, "torch": tp.version,
                                                       "cuda": use_cuda}, indent=2) + "\n")
        return binary
    finally:
        lock_ctx.__exit__(None, None, None)


def runner_unavailable_reason(**kwargs: Any) -> str | None:
    """None when the runner builds (or is already built) here, else why not (one line)."""
    try:
        build_runner(**kwargs)
    except BuildError as e:
        return str(e)
    return None


# ------------------------------------------------------------------------------------------------ running it
def run_runner(binary: str | os.PathLike, artifact: str | os.PathLike, images: Sequence[str | os.PathLike] = (), *,
               top_k: int = 5, bench: bool = False, batch: int = 1, warmup: int = 10, iters: int = 50,
               threads: int | None = None, device: str = "cpu", timeout: float | None = 600,
               extra: Sequence[str] = ()) -> dict[str, Any]:
    """Run the runner with ``--json`` and return its output. Its one-line failure becomes ArtifactError (the model
    would not load or run), DataError (bad image) or ConfigError (bad option)."""
    cmd = [str(binary), str(artifact), *[str(i) for i in images], "--json", "--top-k", str(top_k)]
    if bench:
        cmd += ["--bench", "--batch", str(batch), "--warmup", str(warmup), "--iters", str(iters)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    cmd += ["--device", device, *extra]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise BackendUnavailableError(f"{RUNNER_NAME} did not finish in {timeout:g} s") from e
    except OSError as e:
        raise BuildError(f"cannot run {binary}: {e.strerror or e}") from e
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        msg = msg[len("error: "):] if msg.startswith("error: ") else msg
        if r.returncode == EXIT_INPUT and "image" in msg:
            raise DataError(f"{RUNNER_NAME}: {msg}")
        if r.returncode == EXIT_INPUT and (msg.startswith("unknown option") or msg.startswith("--")):
            raise ConfigError(f"{RUNNER_NAME}: {msg}")
        raise ArtifactError(f"{RUNNER_NAME}: {msg}")
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{RUNNER_NAME} printed no valid JSON: {e}") from e


def write_raw_batch(x: Any, path: str | os.PathLike) -> None:
    """A preprocessed float32 batch [N, 3, S, S] as the raw little-endian file ``--raw`` reads."""
    import numpy as np

    a = np.ascontiguousarray(np.asarray(x, dtype="<f4"))
    if a.ndim != 4 or a.shape[1] != 3:
        raise DataError(f"expected a batch [N, 3, S, S], got shape {a.shape}")
    a.tofile(path)


@contextlib.contextmanager
def raw_batch_file(x: Any) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(suffix=".f32", prefix="resnet-opt-batch-")
    os.close(fd)
    try:
        write_raw_batch(x, name)
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


__all__ = ["RUNNER_NAME", "SOURCE", "DEBIAN_DEPS", "TorchPaths", "torch_paths", "find_compiler", "missing_headers",
           "install_debian_deps", "default_cache_dir", "compile_command", "build_runner", "runner_unavailable_reason",
           "run_runner", "write_raw_batch", "raw_batch_file"]
