"""Serving on a real Triton Inference Server (the ``serve`` extra): ``resnet-opt serve`` and ``serve-bench``.

This layer sits above the runtime: it may use core, data, runtime and export; only the CLI imports it.

* :func:`start` writes the Python-backend repository of an artifact (:func:`resnet_opt.export.triton.export_triton`
  with ``backend="python"``, into a private workspace) — or takes such a repository as it is — and starts the
  bundled ``tritonserver`` on it (:class:`~resnet_opt.serve.server.TritonServer`), returning a :class:`Serving`.
  Model ``NAME`` takes preprocessed FP32 tensors, ``NAME-images`` encoded images (see :mod:`.backend`).
* :mod:`.loadgen`: a bounded load generator on tritonclient (HTTP and gRPC) and the in-process figure beside it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from resnet_opt.core.errors import ConfigError
from resnet_opt.serve.server import (
    LOOPBACK, ServerError, TritonDistribution, TritonServer, check_host, check_ports, find_distribution, free_ports,
    is_loopback, new_workspace, process_group, processes_with,
)

DEFAULT_NAME = "resnet"
DEFAULT_MAX_BATCH = 32
DEFAULT_QUEUE_DELAY_US = 500
MAX_READY_TIMEOUT_S = 3600

__all__ = ["ServeConfig", "Serving", "start", "ServerError", "TritonServer", "TritonDistribution",
           "find_distribution", "free_ports", "processes_with", "process_group", "check_ports", "LOOPBACK",
           "is_loopback"]


@dataclass
class ServeConfig:
    """What ``resnet-opt serve`` takes. ``artifact``: any artifact folder the runtime opens (model folders too), or a
    Python-backend repository written by ``export triton --backend python`` (served as it is: the options that shape
    a repository — name, batching, instances, provider, threads, top-k — must then be left unset). None means the
    default: name ``resnet``, max batch 32, dynamic batching with a 500 µs queue delay, 1 instance, provider cpu,
    the runtime's threads, top-5."""

    artifact: str | os.PathLike
    name: str | None = None
    host: str = LOOPBACK
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    max_batch: int | None = None
    max_queue_delay_us: int | None = None
    dynamic_batching: bool | None = None
    instances: int | None = None
    provider: str | None = None
    threads: int | None = None
    top_k: int | None = None
    ready_timeout_s: float = 120.0
    log_file: str | os.PathLike | None = None

    def shaping(self) -> dict[str, Any]:
        """The options that shape the repository, with the ones given (not None)."""
        names = {"name": "--name", "max_batch": "--max-batch", "max_queue_delay_us": "--max-queue-delay-us",
                 "dynamic_batching": "--no-dynamic-batching", "instances": "--instances", "provider": "--provider",
                 "threads": "--threads", "top_k": "--top-k"}
        return {opt: getattr(self, k) for k, opt in names.items() if getattr(self, k) is not None}

    def validate(self) -> None:
        self.host = check_host(self.host)
        for what, port in (("--http-port", self.http_port), ("--grpc-port", self.grpc_port),
                           ("--metrics-port", self.metrics_port)):
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise ConfigError(f"{what} must be a port number between 1 and 65535, got {port!r}")
        t = self.ready_timeout_s
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 1 <= t <= MAX_READY_TIMEOUT_S:
            raise ConfigError(f"--ready-timeout must be between 1 and {MAX_READY_TIMEOUT_S} seconds, got {t!r}")
        if str(self.artifact).strip() == "":
            raise ConfigError("give the artifact folder to serve")

    def triton_config(self, out: Path, python_path: str | None) -> Any:
        from resnet_opt.export.triton import TritonConfig

        return TritonConfig(
            out=out, name=self.name or DEFAULT_NAME,
            max_batch_size=self.max_batch if self.max_batch is not None else DEFAULT_MAX_BATCH,
            max_queue_delay_us=self.max_queue_delay_us if self.max_queue_delay_us is not None else DEFAULT_QUEUE_DELAY_US,
            instances=self.instances if self.instances is not None else 1, backend="python",
            provider=self.provider or "cpu", threads=self.threads, top_k=self.top_k if self.top_k is not None else 5,
            dynamic_batching=self.dynamic_batching if self.dynamic_batching is not None else True,
            python_path=python_path)


@dataclass
class Serving:
    """A running server and what it serves (``models``: the parsed config of each model)."""

    server: TritonServer
    repository: Path
    models: list[Any]  # export.triton.TritonModelConfig
    source: str
    kind: str
    precision: str
    written: bool  # True: the repository was written by serve into its workspace (removed on stop)
    distribution: TritonDistribution
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tensor_model(self) -> Any:
        return next(m for m in self.models if "tensor_model" not in m.parameters)

    @property
    def images_model(self) -> Any | None:
        return next((m for m in self.models if "tensor_model" in m.parameters), None)

    def stop(self) -> dict[str, object]:
        return self.server.stop()

    def describe(self) -> dict[str, Any]:
        from dataclasses import asdict

        s = self.server
        return {"source": self.source, "kind": self.kind, "precision": self.precision,
                "repository": str(self.repository), "repository_written_by_serve": self.written,
                "server": self.distribution.describe(), "pid": s.pid, "host": s.host,
                "http": f"http://{s.http_url}", "grpc": s.grpc_url, "metrics": s.metrics_url,
                "ready_seconds": s.ready_seconds, "workspace": str(s.workspace), "log": str(s.log_path),
                "models": [asdict(m) for m in self.models]}

    def __enter__(self) -> "Serving":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _repository_kind(path: Path) -> str | None:
    """"python" / "platform" for a Triton repository resnet-opt wrote, None for anything else."""
    import json

    from resnet_opt.core.manifest import MANIFEST_NAME
    from resnet_opt.export.triton import TRITON_KIND

    try:
        data = json.loads((path / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") != TRITON_KIND:
        return None
    return "python" if (data.get("triton") or {}).get("backend") == "python" else "platform"


def start(cfg: ServeConfig, *, log: Callable[[str], None] | None = None,
          on_wait: Callable[[float], None] | None = None) -> Serving:
    """Check everything (the bundled Triton, the ports, the artifact), write the repository, start the server and
    wait until it is ready. Raises BackendUnavailableError (no usable Triton here), ConfigError (a port in use, a
    bad option), ArtifactError (a missing or corrupt artifact), ServerError (the server or a model failed; the
    reason from its log)."""
    import resnet_opt
    from resnet_opt.core.manifest import open_artifact
    from resnet_opt.export.triton import check_python_repository, export_triton

    say = log or (lambda _m: None)
    cfg.validate()
    dist = find_distribution()
    check_ports(cfg.host, {"--http-port": cfg.http_port, "--grpc-port": cfg.grpc_port,
                           "--metrics-port": cfg.metrics_port})
    src = Path(cfg.artifact)
    kind = _repository_kind(src) if src.is_dir() else None
    workspace = new_workspace()
    try:
        if kind == "platform":
            raise ConfigError(f"{src} is a Triton repository for the onnxruntime/libtorch backends (for production "
                              "Triton containers); the bundled Triton has only the Python backend: serve the artifact "
                              "it was made from, or write one with export triton --backend python")
        if kind == "python":
            given = cfg.shaping()
            if given:
                raise ConfigError(f"{src} is a Triton repository: {', '.join(given)} are fixed in its config.pbtxt "
                                  "files; serve the artifact instead, or export the repository again with them")
            art = open_artifact(src)  # every listed file (the artifact copy, configs, model.py) against its sha256
            say(f"checking the repository {src} ...")
            check_python_repository(src)
            repo, written = src.resolve(), False
            source_kind, precision = str(art.manifest.source.kind or "?"), art.manifest.precision
            source = str(src)
        else:
            say(f"writing the Python-backend repository of {src} ...")
            res = export_triton(src, cfg.triton_config(workspace / "repo", str(Path(resnet_opt.__file__).parent.parent)))
            repo, written = res.repo.resolve(), True
            source_kind, precision, source = res.source_kind, res.precision, str(src)
        from resnet_opt.export.triton import CONFIG_NAME, parse_config_text, schema_available

        if schema_available() is None:
            raise ServerError("tritonclient is not installed, so the repository's configs cannot be read back "
                              "(pip install 'resnet-opt[serve]')")
        models = [parse_config_text((d / CONFIG_NAME).read_text())
                  for d in sorted(repo.iterdir()) if (d / CONFIG_NAME).is_file()]
        server = TritonServer(repo, host=cfg.host, http_port=cfg.http_port, grpc_port=cfg.grpc_port,
                              metrics_port=cfg.metrics_port, ready_timeout_s=cfg.ready_timeout_s, workspace=workspace,
                              remove_workspace=True, log_file=cfg.log_file, distribution=dist)
    except BaseException:
        shutil.rmtree(workspace, ignore_errors=True)
        raise
    say(f"starting {dist.describe()} on {cfg.host} ...")
    server.start(on_wait=on_wait)  # stops and removes the workspace itself when it fails
    return Serving(server=server, repository=repo, models=models, source=source, kind=source_kind,
                   precision=precision, written=written, distribution=dist)
