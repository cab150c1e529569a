"""A real Triton Inference Server as a child process group: the ``tritonserver`` binary and Python backend bundled in
nvidia-pytriton's wheel (the ``serve`` extra), run on a model repository, on loopback ports by default.

* :func:`find_distribution` locates the binary, the Python backend, the backend stub built for this interpreter's
  Python version and the wheel's shared libraries, and says clearly why serving cannot work here (not Linux, glibc
  older than 2.35, no stub for this Python, numpy 2, a Python without a shared libpython).
* :class:`TritonServer` prepares a private workspace (the backend folder with the stub, the log), checks the three
  ports are free, starts ``tritonserver`` in its own session and process group (``start_new_session``; it is also
  sent SIGTERM if the process that started it dies), waits until ``/v2/health/ready`` answers, and :meth:`stop`
  drains it: SIGTERM to the group (Triton finishes in-flight requests, then unloads the models), SIGKILL after the
  grace period, then every process still in the group or naming the workspace is killed, so nothing keeps running
  or holds a port.

The backend stub embeds Python: it finds its environment by looking up ``python3`` on ``PATH`` (so the running
interpreter's folder goes first) and loads ``libpython`` through the dynamic linker (so this interpreter's own
``LIBDIR`` goes first on ``LD_LIBRARY_PATH``: a pyenv-built Python with Debian's ``libpython3.11.so`` loaded
instead fails inside ``threading``). It ignores ``PYTHONPATH``.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.metadata
import importlib.util
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from resnet_opt.core.errors import BackendUnavailableError, ConfigError, ResNetOptError

PYTRITON_SUPPORTED = ("0.7",)  # the wheel layout and the Triton version (2.51) this module was written against
MIN_GLIBC = (2, 35)
LOOPBACK = "127.0.0.1"
WORKSPACE_PREFIX = "resnet-opt-serve-"
LOG_NAME = "tritonserver.log"
EXIT_TIMEOUT_S = 30  # Triton's --exit-timeout-secs: how long SIGTERM waits for in-flight requests
KILL_GRACE_S = 15  # beyond that, SIGKILL
INSTALL_HINT = "pip install 'resnet-opt[serve]'"
RESTRICTED_APIS = "shared-memory,model-repository,trace,logging"
ADMIN_HEADER = "resnet-opt-admin"

__all__ = ["ServerError", "TritonDistribution", "TritonServer", "find_distribution", "check_host", "check_ports",
           "free_ports", "processes_with", "process_group", "LOOPBACK", "is_loopback", "new_workspace",
           "clean_stale_workspaces"]


class ServerError(ResNetOptError):
    """The Triton server did not start, a model did not load, or the server died."""

    exit_code = 3


# ---------------------------------------------------------------------------------------------------- distribution
@dataclass(frozen=True)
class TritonDistribution:
    """Where the bundled Triton lives (inside the installed nvidia-pytriton wheel)."""

    version: str  # nvidia-pytriton's version
    server: Path  # bin/tritonserver
    backend_dir: Path  # backends/python: libtriton_python.so, triton_python_backend_utils.py
    stub: Path  # python_backend_stubs/X.Y/triton_python_backend_stub
    libs: Path  # nvidia_pytriton.libs: the wheel's shared libraries
    caches: Path
    libpython_dir: Path  # this interpreter's LIBDIR (first on LD_LIBRARY_PATH)

    def describe(self) -> str:
        return f"tritonserver from nvidia-pytriton {self.version}"


def _glibc() -> tuple[int, int] | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError, AttributeError):
        return None
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def find_distribution() -> TritonDistribution:
    """The bundled Triton, or BackendUnavailableError saying why it cannot run here."""
    if not sys.platform.startswith("linux"):
        raise BackendUnavailableError(f"resnet-opt serve runs the tritonserver binary of nvidia-pytriton's wheel, "
                                      f"which is built for Linux only (this is {sys.platform})")
    glibc = _glibc()
    if glibc is not None and glibc < MIN_GLIBC:
        raise BackendUnavailableError(f"the bundled tritonserver needs glibc {MIN_GLIBC[0]}.{MIN_GLIBC[1]} or newer; "
                                      f"this system has {glibc[0]}.{glibc[1]}")
    spec = importlib.util.find_spec("pytriton")  # located, not imported
    if spec is None or not spec.origin:
        raise BackendUnavailableError(f"Triton is not installed: {INSTALL_HINT} (nvidia-pytriton bundles tritonserver "
                                      "and its Python backend; tritonclient is the client)")
    try:
        version = importlib.metadata.version("nvidia-pytriton")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    if ".".join(version.split(".")[:2]) not in PYTRITON_SUPPORTED:
        raise BackendUnavailableError(f"nvidia-pytriton {version} is installed; resnet-opt serve was written for "
                                      f"{', '.join(PYTRITON_SUPPORTED)}.x ({INSTALL_HINT})")
    pkg = Path(spec.origin).parent
    root = pkg / "tritonserver"
    libs = pkg.parent / "nvidia_pytriton.libs"
    if not libs.is_dir():
        libs = root / "external_libs"  # an editable pytriton
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / py / "triton_python_backend_stub"
    server = root / "bin" / "tritonserver"
    backend_dir = root / "backends" / "python"
    for path, what in ((server, "the tritonserver binary"), (backend_dir / "libtriton_python.so", "the Python backend"),
                       (backend_dir / "triton_python_backend_utils.py", "the Python backend's utilities"),
                       (libs, "its shared libraries")):
        if not path.exists():
            raise BackendUnavailableError(f"nvidia-pytriton {version} is incomplete: {what} ({path}) is missing; "
                                          f"reinstall it ({INSTALL_HINT})")
    if not stub.is_file():
        have = sorted(p.name for p in (root / "python_backend_stubs").iterdir()) if (
            root / "python_backend_stubs").is_dir() else []
        raise BackendUnavailableError(f"Triton's Python backend has no stub for Python {py} (nvidia-pytriton {version} "
                                      f"ships {', '.join(have) or 'none'}); run resnet-opt with one of those")
    import numpy

    if int(numpy.__version__.split(".")[0]) >= 2:
        raise BackendUnavailableError(f"numpy {numpy.__version__} is installed; Triton 2.51's Python backend needs "
                                      "numpy<2 (with numpy 2 its outputs come back empty): pip install 'numpy<2' "
                                      f"({INSTALL_HINT} pins it)")
    libdir = Path(str(sysconfig.get_config_var("LIBDIR") or ""))
    soname = str(sysconfig.get_config_var("INSTSONAME") or "")
    if not sysconfig.get_config_var("Py_ENABLE_SHARED") or not soname or not (libdir / soname).is_file():
        raise BackendUnavailableError(f"this Python ({sys.executable}) has no shared libpython ({libdir / soname}); "
                                      "Triton's Python backend stub embeds one: use a Python built with "
                                      "--enable-shared (Debian's, or pyenv with PYTHON_CONFIGURE_OPTS=--enable-shared)")
    if not (Path(sys.executable).parent / "python3").exists():
        raise BackendUnavailableError(f"{Path(sys.executable).parent} has no python3, which Triton's Python backend "
                                      "stub looks up on PATH to find this environment")
    return TritonDistribution(version=version, server=server, backend_dir=backend_dir, stub=stub, libs=libs,
                              caches=root / "caches", libpython_dir=libdir)


# ---------------------------------------------------------------------------------------------------------- ports
def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str) -> str:
    """An IP address for Triton's --*-address (``localhost`` is 127.0.0.1); ConfigError otherwise."""
    h = str(host).strip()
    if h == "localhost":
        return LOOPBACK
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        raise ConfigError(f"--host must be an IP address of this machine (127.0.0.1, 0.0.0.0, ...), got {host!r}") \
            from None
    if ip.version != 4:
        raise ConfigError(f"--host {host}: the bundled Triton listens on IPv4 addresses; use 127.0.0.1 or 0.0.0.0")
    return h


def check_ports(host: str, ports: dict[str, int]) -> None:
    """Each of ``ports`` ({option: port}) is a valid, distinct port that can be bound on ``host`` now; else one
    ConfigError naming the option (a port already in use, a privileged port, an address not of this machine)."""
    seen: dict[int, str] = {}
    for what, port in ports.items():
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ConfigError(f"{what} must be a port number between 1 and 65535, got {port!r}")
        if port in seen:
            raise ConfigError(f"{what} and {seen[port]} are both {port}; give each endpoint its own port")
        seen[port] = what
    for what, port in ports.items():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT port is free; a listener is not
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} ({what}) is already in use; stop what listens there or "
                                  f"pick another with {what}") from None
            if e.errno == errno.EACCES:
                raise ConfigError(f"port {port} ({what}) needs privileges to bind; pick one above 1023") from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"--host {host} is not an address of this machine") from None
            raise ConfigError(f"cannot bind {host}:{port} ({what}): {e.strerror or e}") from None
        finally:
            s.close()


def free_ports(n: int, host: str = LOOPBACK) -> list[int]:
    """``n`` distinct ports free on ``host`` right now (asked from the kernel; for tests and benchmarks)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# ------------------------------------------------------------------------------------------------------ processes
def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a process, from /proc/PID/stat; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rfind(")") + 2:].split()
    return rest[0], int(rest[2])


def _pids() -> list[int]:
    try:
        return [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []


def processes_with(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live (not zombie) process whose command line contains ``text`` (/proc scan)."""
    out = []
    for pid in _pids():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        st = _stat(pid)
        if text in cmd and st is not None and st[0] != "Z" and pid != os.getpid():
            out.append((pid, cmd))
    return out


def process_group(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``."""
    out = []
    for pid in _pids():
        st = _stat(pid)
        if st is not None and st[1] == pgid and st[0] != "Z":
            out.append(pid)
    return out


try:  # looked up here, in the parent: the child between fork and exec only calls it (no dlopen there)
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the thread that started it exits (PR_SET_PDEATHSIG), so a killed
    ``resnet-opt serve`` does not leave tritonserver behind. Start servers from a thread that outlives them (the
    main thread)."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG; best effort, stop() is the real clean-up


# ------------------------------------------------------------------------------------------------------ workspace
OWNER_NAME = "owner.pid"


def new_workspace() -> Path:
    """A fresh private workspace (``$TMPDIR/resnet-opt-serve-*``, mode 0700) marked with this process's pid; the
    workspaces of killed ``serve`` runs (owner gone, no process naming them) are removed first."""
    clean_stale_workspaces()
    ws = Path(tempfile.mkdtemp(prefix=WORKSPACE_PREFIX)).resolve()
    (ws / OWNER_NAME).write_text(f"{os.getpid()}\n")
    return ws


def clean_stale_workspaces() -> list[Path]:
    """Remove the workspaces this tool left behind when ``serve`` was killed: owned by this user, marked with a pid
    that is no longer running, and named by no running process. Returns what was removed."""
    removed = []
    root = Path(tempfile.gettempdir())
    try:
        candidates = [p for p in root.glob(WORKSPACE_PREFIX + "*") if p.is_dir() and not p.is_symlink()]
    except OSError:
        return removed
    for ws in candidates:
        try:
            if ws.stat().st_uid != os.getuid():
                continue
            pid = int((ws / OWNER_NAME).read_text().strip())
        except (OSError, ValueError):
            continue  # not one of ours (or still being created)
        try:
            os.kill(pid, 0)
            continue  # its owner is alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        if processes_with(str(ws)):
            continue
        shutil.rmtree(ws, ignore_errors=True)
        removed.append(ws)
    return removed


# ---------------------------------------------------------------------------------------------------------- server
class TritonServer:
    """One ``tritonserver`` on ``repository`` (see the module doc). Use as a context manager, or call
    :meth:`start` and :meth:`stop` (idempotent). ``workspace``: a folder for the backend files and the log (default:
    a new temporary one); it is removed by :meth:`stop` when the server created it or ``remove_workspace``."""

    def __init__(self, repository: str | os.PathLike, *, host: str = LOOPBACK, http_port: int = 8000,
                 grpc_port: int = 8001, metrics_port: int = 8002, ready_timeout_s: float = 120.0,
                 exit_timeout_s: int = EXIT_TIMEOUT_S, workspace: str | os.PathLike | None = None,
                 log_file: str | os.PathLike | None = None, distribution: TritonDistribution | None = None,
                 log_verbose: int = 0, remove_workspace: bool | None = None) -> None:
        self.repository = Path(repository).resolve()
        self.host = check_host(host)
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.ready_timeout_s = float(ready_timeout_s)
        self.exit_timeout_s = int(exit_timeout_s)
        self.distribution = distribution
        self._own_workspace = (workspace is None) if remove_workspace is None else bool(remove_workspace)
        self.workspace = Path(workspace).resolve() if workspace is not None else None
        self.log_file = Path(log_file).resolve() if log_file is not None else None
        self.log_verbose = int(log_verbose)
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None
        self.ready_seconds: float | None = None
        self.stop_report: dict[str, object] = {}
        self.final_log = ""  # the log's text, kept when the workspace (and the log in it) is removed
        self._admin_token = os.urandom(16).hex()

    # ------------------------------------------------------------------ addresses
    @property
    def probe_host(self) -> str:
        return LOOPBACK if self.host == "0.0.0.0" else self.host

    @property
    def http_url(self) -> str:
        return f"{self.probe_host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.probe_host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.probe_host}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def log_path(self) -> Path:
        if self.log_file is not None:
            return self.log_file
        assert self.workspace is not None
        return self.workspace / LOG_NAME

    def log_text(self, tail: int | None = None) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            text = self.final_log
        return "\n".join(text.splitlines()[-tail:]) if tail else text

    # ------------------------------------------------------------------ start
    def _prepare(self) -> None:
        dist = self.distribution = self.distribution or find_distribution()
        if self.workspace is None:
            self.workspace = new_workspace()
        backends = self.workspace / "backends" / "python"
        backends.mkdir(parents=True, exist_ok=True)
        for src in (dist.backend_dir / "libtriton_python.so", dist.backend_dir / "triton_python_backend_utils.py",
                    dist.stub):
            dst = backends / src.name
            if not dst.exists():
                shutil.copy2(src, dst)

    def command(self) -> list[str]:
        dist = self.distribution
        assert dist is not None and self.workspace is not None
        shm_prefix = f"resnet-opt-{os.getpid()}-{os.urandom(4).hex()}-"
        return [str(dist.server), f"--model-repository={self.repository}",
                f"--backend-directory={self.workspace / 'backends'}", f"--cache-directory={dist.caches}",
                f"--http-address={self.host}", f"--http-port={self.http_port}",
                f"--grpc-address={self.host}", f"--grpc-port={self.grpc_port}",
                "--allow-metrics=true", "--allow-gpu-metrics=false", f"--metrics-address={self.host}",
                f"--metrics-port={self.metrics_port}", "--allow-sagemaker=false", "--allow-vertex-ai=false",
                "--model-control-mode=none", "--strict-readiness=true", "--exit-on-error=true",
                "--disable-auto-complete-config", f"--exit-timeout-secs={self.exit_timeout_s}",
                f"--log-verbose={self.log_verbose}",
                # the admin APIs (log files, traces, shared-memory regions, the model repository) answer only requests
                # carrying a header with a random secret nobody is told: clients infer, read health, metadata,
                # configs and statistics
                f"--http-restricted-api={RESTRICTED_APIS}:{ADMIN_HEADER}={self._admin_token}",
                f"--grpc-restricted-protocol={RESTRICTED_APIS}:{ADMIN_HEADER}={self._admin_token}",
                f"--backend-config=python,shm-region-prefix-name={shm_prefix}",
                "--backend-config=python,shm-default-byte-size=4194304",
                "--backend-config=python,shm-growth-byte-size=16777216"]

    def environment(self) -> dict[str, str]:
        dist = self.distribution
        assert dist is not None
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]).rstrip(os.pathsep)
        ld = [str(dist.libpython_dir), str(dist.libs)] + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else [])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(ld)
        env.pop("PYTHONHOME", None)  # the stub must find this environment itself (PATH), not an inherited home
        return env

    def start(self, *, on_wait: Callable[[float], None] | None = None) -> "TritonServer":
        """Check the ports, start the server and wait until it is ready (ServerError with the reason from its log
        when it exits first or is not ready within ``ready_timeout_s``)."""
        if self.proc is not None:
            raise ServerError("this server was already started")
        try:
            check_ports(self.host, {"--http-port": self.http_port, "--grpc-port": self.grpc_port,
                                    "--metrics-port": self.metrics_port})
            if not self.repository.is_dir():
                raise ConfigError(f"model repository {self.repository} is not a folder")
            if self.log_file is not None:
                if self.log_file.is_dir():
                    raise ConfigError(f"--log-file {self.log_file} is a folder")
                if not self.log_file.parent.is_dir() or not os.access(self.log_file.parent, os.W_OK):
                    raise ConfigError(f"--log-file {self.log_file}: {self.log_file.parent} is not a writable folder")
            self._prepare()
            assert self.workspace is not None
            try:
                log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it; closed below
            except OSError as e:
                raise ConfigError(f"cannot write the server log {self.log_path}: {e.strerror or e}") from None
        except BaseException:
            self._cleanup_workspace()
            raise
        try:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(self.command(), cwd=self.workspace, env=self.environment(),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as e:
            log.close()
            self._cleanup_workspace()
            raise ServerError(f"cannot start {self.distribution.server if self.distribution else 'tritonserver'}: "
                              f"{e.strerror or e}") from e
        log.close()
        try:
            self._wait_ready(on_wait)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, on_wait: Callable[[float], None] | None) -> None:
        assert self.proc is not None and self.started_at is not None
        deadline = self.started_at + self.ready_timeout_s
        url = f"http://{self.http_url}/v2/health/ready"
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerError(f"tritonserver exited (code {rc}) before it was ready: {self.failure_reason()}")
            if self.is_ready(url):
                self.ready_seconds = time.monotonic() - self.started_at
                return
            now = time.monotonic()
            if now > deadline:
                raise ServerError(f"tritonserver was not ready within {self.ready_timeout_s:.0f} s: "
                                  f"{self.failure_reason()}")
            if on_wait is not None:
                on_wait(now - self.started_at)
            time.sleep(0.2)

    @staticmethod
    def is_ready(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - our own loopback endpoint
                return r.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def failure_reason(self) -> str:
        """The most telling line of the server log (a model that failed to load and why), as one line."""
        lines = self.log_text().splitlines()
        for ln in lines:  # a model that failed to load: its own error, without the Python traceback
            m = re.search(r"failed to load '([^']+)' version \d+: (?:Internal: )?(.*)$", ln)
            if m:
                why = m.group(2).strip().strip('"').split("\\n\\nAt:")[0]
                return f"model '{m.group(1)}' failed to load: {' '.join(why.replace(chr(92) + 'n', ' ').split())[:500]}"
        picks = [ln for ln in lines if "failed to load" in ln or "Poll failed for model" in ln]
        picks = picks or [ln for ln in lines if re.match(r"^E\d{4} ", ln) and "CudaDriverHelper" not in ln]
        picks = picks or [ln for ln in lines if "error" in ln.lower() and "NVML" not in ln and "DCGM" not in ln]
        if not picks:
            return f"see its log {self.log_path}" if self.log_file else "its log is empty"
        text = re.sub(r"^[EWI]\d{4} [\d:.]+ \d+ [\w.]+:\d+\] ", "", picks[-1].strip()).strip('"')
        text = " ".join(text.replace("\\n", " ").split())
        return text[:600]

    # ------------------------------------------------------------------ state
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def processes(self) -> list[int]:
        """Every live process this server consists of: its process group, and anything naming its workspace."""
        pids: set[int] = set()
        if self.proc is not None:
            pids.update(process_group(self.proc.pid))
        if self.workspace is not None:
            pids.update(pid for pid, _ in processes_with(str(self.workspace)))
        return sorted(pids)

    # ------------------------------------------------------------------ stop
    def stop(self, *, grace_s: float | None = None) -> dict[str, object]:
        """Drain and stop: SIGTERM to the process group (Triton waits up to exit_timeout_s for in-flight requests,
        then unloads the models), SIGKILL after the grace period, then kill whatever of it is left. Returns what
        happened ({"exit_code", "seconds", "killed", "left"}); ``left`` is empty unless something could not be
        killed. Idempotent."""
        if self.proc is None:
            self._cleanup_workspace()
            return self.stop_report
        if self.stop_report:
            return self.stop_report
        t0 = time.monotonic()
        grace = (self.exit_timeout_s + KILL_GRACE_S) if grace_s is None else float(grace_s)
        pgid = self.proc.pid
        members = set(self.processes())
        killed: list[int] = []
        if self.proc.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._kill(pgid, killed)
            except KeyboardInterrupt:  # a second Ctrl-C while draining: stop now
                self._kill(pgid, killed)
                raise
        rc = self.proc.poll()
        # the backend stubs exit with the server; wait a moment for them, then kill any that did not
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and self.processes():
            time.sleep(0.1)
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and self.processes():
            time.sleep(0.1)
        left = self.processes()
        self.stop_report = {"exit_code": rc, "seconds": round(time.monotonic() - t0, 2), "killed": killed,
                            "left": left, "processes": sorted(members)}
        self._cleanup_workspace()
        return self.stop_report

    def _kill(self, pgid: int, killed: list[int]) -> None:
        try:
            os.killpg(pgid, signal.SIGKILL)
            killed.append(pgid)
        except ProcessLookupError:
            pass
        try:
            assert self.proc is not None
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def _cleanup_workspace(self) -> None:
        if self._own_workspace and self.workspace is not None and self.workspace.is_dir():
            if self.log_file is None:
                self.final_log = self.log_text()
            shutil.rmtree(self.workspace, ignore_errors=True)

    def __enter__(self) -> "TritonServer":
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
