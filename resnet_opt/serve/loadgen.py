"""A bounded load generator for a Triton server, on tritonclient (HTTP or gRPC), and the in-process figure beside it.

For each concurrency ``c`` of a sweep, ``c`` client threads (one tritonclient client each) send requests back to back
until the cell's request count or time limit is reached, whichever comes first; every request has its own timeout.
A cell reports throughput (requests and images per second of wall time), latency percentiles of the successful
requests, the error count with the first messages, and — from Triton's statistics extension — how many model
executions served those requests, i.e. the batch size the dynamic batcher really formed.

Inputs: an FP32 model gets seeded random tensors of its own shape (latency does not depend on the values); a BYTES
(image) model gets the encoded image files given, in turn. :func:`inprocess_throughput` runs the same artifact
through :func:`resnet_opt.runtime.load` in this process, the figure serving is compared with.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from resnet_opt.core.errors import BackendUnavailableError, ConfigError, DataError

PROTOCOLS = ("http", "grpc")
MAX_CONCURRENCY = 64
MAX_REQUESTS = 100_000
MAX_TIME_LIMIT_S = 600.0
DEFAULT_SWEEP = (1, 2, 4, 8, 16)

__all__ = ["LoadConfig", "CellResult", "LoadResult", "InProcessResult", "run_load", "inprocess_throughput",
           "parse_url", "percentile", "PROTOCOLS", "DEFAULT_SWEEP"]


def parse_url(url: str, protocol: str | None = None) -> tuple[str, str]:
    """(protocol, host:port) from ``host:port``, ``http://host:port`` or ``grpc://host:port``."""
    u = str(url).strip()
    scheme = None
    for s in ("http://", "grpc://", "https://"):
        if u.lower().startswith(s):
            scheme, u = s[:-3], u[len(s):]
    if scheme == "https":
        raise ConfigError("serve-bench speaks plain HTTP and gRPC to a server on this network; https:// is not "
                          "supported")
    u = u.rstrip("/")
    if protocol is not None:
        p = str(protocol).strip().lower()
        if p not in PROTOCOLS:
            raise ConfigError(f"--protocol must be http or grpc, got {protocol!r}")
        if scheme is not None and scheme != p:
            raise ConfigError(f"URL {url!r} says {scheme} but --protocol says {p}")
        scheme = p
    host, sep, port = u.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535 or "/" in u:
        raise ConfigError(f"URL must be HOST:PORT (optionally http:// or grpc://), got {url!r}")
    return scheme or "http", f"{host}:{int(port)}"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


@dataclass
class LoadConfig:
    url: str
    model: str
    protocol: str | None = None  # default: from the URL's scheme, else http
    concurrency: list[int] = field(default_factory=lambda: list(DEFAULT_SWEEP))
    requests: int = 200  # per cell
    time_limit_s: float = 20.0  # per cell
    batch: int = 1  # images per request
    images: list[str] | None = None  # encoded image files, for a BYTES model
    warmup: int = 4  # requests before the first cell (not counted)
    request_timeout_s: float = 60.0
    seed: int = 0

    def validate(self) -> tuple[str, str]:
        proto, addr = parse_url(self.url, self.protocol)
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError("--model must name a model on the server")
        c = list(self.concurrency)
        if not c or any(isinstance(x, bool) or not isinstance(x, int) or not 1 <= x <= MAX_CONCURRENCY for x in c):
            raise ConfigError(f"--concurrency must be integers between 1 and {MAX_CONCURRENCY}, got {self.concurrency}")
        for what, v, hi in (("--requests", self.requests, MAX_REQUESTS), ("--batch", self.batch, 1024)):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise ConfigError(f"{what} must be between 1 and {hi}, got {v!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or not 0 <= self.warmup <= 1000:
            raise ConfigError(f"--warmup must be between 0 and 1000, got {self.warmup!r}")
        for what, v, hi in (("--time-limit", self.time_limit_s, MAX_TIME_LIMIT_S),
                            ("request timeout", self.request_timeout_s, MAX_TIME_LIMIT_S)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= hi or not math.isfinite(v):
                raise ConfigError(f"{what} must be more than 0 and at most {hi:.0f} seconds, got {v!r}")
        return proto, addr


@dataclass
class CellResult:
    protocol: str
    concurrency: int
    batch: int
    requests: int  # sent (ok + errors)
    ok: int
    errors: int
    wall_s: float
    throughput_rps: float  # successful requests per second of wall time
    images_per_s: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    stopped_by: str  # "requests" or "time limit"
    error_examples: list[str] = field(default_factory=list)
    server_executions: int | None = None  # model executions Triton ran for these requests
    server_inferences: int | None = None  # images (batch items) it ran
    mean_executed_batch: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadResult:
    url: str
    model: str
    input_name: str
    input_datatype: str
    input_shape: list[int]
    max_batch_size: int
    dynamic_batching: bool | None
    cells: list[CellResult]
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "cells"}, "cells": [c.to_dict() for c in self.cells]}


def _client_module(protocol: str) -> Any:
    try:
        if protocol == "http":
            import tritonclient.http as mod
        else:
            import tritonclient.grpc as mod
    except Exception as e:  # noqa: BLE001 - ImportError, or tritonclient's RuntimeError for a missing extra
        raise BackendUnavailableError(f"tritonclient[{protocol}] is not installed: pip install 'resnet-opt[serve]' "
                                      f"({' '.join(str(e).split())[:160]})") from e
    return mod


def _model_io(mod: Any, protocol: str, addr: str, model: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, config) of ``model`` as plain dicts; a clear error when the server or model is not there."""
    from tritonclient.utils import InferenceServerException

    client = mod.InferenceServerClient(addr) if protocol == "http" else mod.InferenceServerClient(addr)
    try:
        try:
            if not client.is_server_live():
                raise ConfigError(f"the Triton server at {addr} is not live")
        except InferenceServerException as e:
            raise ConfigError(f"no Triton server answers at {addr} ({protocol}): {' '.join(str(e).split())[:200]}") \
                from None
        except Exception as e:  # noqa: BLE001 - connection refused and friends, per client library
            raise ConfigError(f"no Triton server answers at {addr} ({protocol}): {type(e).__name__}: "
                              f"{' '.join(str(e).split())[:200]}") from None
        try:
            if protocol == "http":
                meta, cfg = client.get_model_metadata(model), client.get_model_config(model)
            else:
                meta = _message_dict(client.get_model_metadata(model))
                cfg = _message_dict(client.get_model_config(model)).get("config", {})
        except InferenceServerException as e:
            raise ConfigError(f"model {model!r} is not available at {addr}: {' '.join(str(e).split())[:200]}") \
                from None
    finally:
        client.close()
    return meta, cfg


def _message_dict(msg: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(msg, preserving_proto_field_name=True)


def _stats(mod: Any, protocol: str, addr: str, model: str) -> tuple[int, int] | None:
    """(inference_count, execution_count) of ``model`` from Triton's statistics extension, or None."""
    try:
        client = mod.InferenceServerClient(addr)
        try:
            s = client.get_inference_statistics(model)
        finally:
            client.close()
        s = s if protocol == "http" else _message_dict(s)
        st = (s.get("model_stats") or [{}])[0]
        return int(st.get("inference_count", 0)), int(st.get("execution_count", 0))
    except Exception:  # noqa: BLE001 - statistics are a bonus, not a reason to fail the run
        return None


def _payloads(meta: dict[str, Any], cfg: LoadConfig) -> tuple[str, str, list[int], list[np.ndarray]]:
    inputs = meta.get("inputs") or []
    if len(inputs) != 1:
        raise ConfigError(f"model {cfg.model!r} has {len(inputs)} inputs; serve-bench drives one-input models")
    inp = inputs[0]
    name, dtype = inp["name"], inp["datatype"]
    dims = [int(d) for d in inp["shape"]]
    if dims and dims[0] == -1:
        dims = dims[1:]  # the batch axis
    if dtype == "BYTES":
        if not cfg.images:
            raise ConfigError(f"model {cfg.model!r} takes encoded images (BYTES): give image files with --images")
        blobs = []
        for f in cfg.images:
            try:
                blobs.append(Path(f).read_bytes())
            except OSError as e:
                raise DataError(f"cannot read image {f}: {e.strerror or e}") from None
        arrays = []
        for i in range(max(1, min(64, len(blobs)))):
            sel = [blobs[(i * cfg.batch + j) % len(blobs)] for j in range(cfg.batch)]
            arrays.append(np.array(sel, dtype=np.object_).reshape([cfg.batch] + [1] * len(dims)))
        return name, dtype, dims, arrays
    if dtype != "FP32":
        raise ConfigError(f"model {cfg.model!r} takes {dtype}; serve-bench sends FP32 tensors or BYTES images")
    if any(d < 1 for d in dims):
        raise ConfigError(f"model {cfg.model!r} input shape {inp['shape']} has a variable axis besides the batch")
    rng = np.random.default_rng(cfg.seed)
    return name, dtype, dims, [rng.standard_normal([cfg.batch] + dims).astype(np.float32) for _ in range(4)]


def _drive(conc: int, cfg: LoadConfig, make_client: Callable[[], Any],
           one: Callable[[Any, int], None]) -> tuple[list[float], list[str], float]:
    """``conc`` client threads, released together, send requests until ``cfg.requests`` are sent between them or
    ``cfg.time_limit_s`` has passed: (each answered request's seconds, each failure's message, the wall time)."""
    lat: list[float] = []
    errs: list[str] = []
    lock = threading.Lock()
    counter = [0]
    start_gate = threading.Barrier(conc + 1)
    t_start = [0.0]
    deadline = [0.0]

    def worker() -> None:
        client = make_client()
        try:
            start_gate.wait()
            while True:
                with lock:
                    k = counter[0]
                    if k >= cfg.requests or time.monotonic() >= deadline[0]:
                        return
                    counter[0] += 1
                t0 = time.perf_counter()
                try:
                    one(client, k)
                    dt = time.perf_counter() - t0
                    with lock:
                        lat.append(dt)
                except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        errs.append(" ".join(str(e).split())[:200] or type(e).__name__)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
    for t in threads:
        t.start()
    t_start[0] = time.monotonic()
    deadline[0] = t_start[0] + cfg.time_limit_s
    start_gate.wait()
    for t in threads:
        t.join(timeout=cfg.time_limit_s + cfg.request_timeout_s + 10)
    wall = time.monotonic() - t_start[0]
    return lat, errs, wall


def run_load(cfg: LoadConfig, *, log: Callable[[str], None] | None = None) -> LoadResult:
    """Run the sweep (see the module doc). Raises ConfigError when the server or model is not there."""
    say = log or (lambda _m: None)
    proto, addr = cfg.validate()
    mod = _client_module(proto)
    from tritonclient.utils import InferenceServerException

    meta, mconf = _model_io(mod, proto, addr, cfg.model)
    name, dtype, dims, payloads = _payloads(meta, cfg)
    mbs = int(mconf.get("max_batch_size", 0) or 0)
    if mbs and cfg.batch > mbs:
        raise ConfigError(f"--batch {cfg.batch} is over model {cfg.model!r}'s max batch size {mbs}")
    dyn = "dynamic_batching" in mconf if mconf else None
    shape = [cfg.batch] + dims if mbs else dims

    def make_client() -> Any:
        if proto == "http":
            return mod.InferenceServerClient(addr, connection_timeout=cfg.request_timeout_s,
                                             network_timeout=cfg.request_timeout_s)
        return mod.InferenceServerClient(addr)

    def one(client: Any, k: int) -> None:
        x = payloads[k % len(payloads)]
        i = mod.InferInput(name, shape, dtype)
        i.set_data_from_numpy(x)
        if proto == "http":
            client.infer(cfg.model, [i])
        else:
            client.infer(cfg.model, [i], client_timeout=cfg.request_timeout_s)

    if cfg.warmup:
        c = make_client()
        try:
            for k in range(cfg.warmup):
                try:
                    one(c, k)
                except InferenceServerException:
                    break  # the cells will report it
        finally:
            c.close()
    cells = []
    for conc in cfg.concurrency:
        before = _stats(mod, proto, addr, cfg.model)
        lat, errs, wall = _drive(conc, cfg, make_client, one)
        after = _stats(mod, proto, addr, cfg.model)
        ms = sorted(x * 1000 for x in lat)
        ex = inf = None
        if before is not None and after is not None:
            inf, ex = after[0] - before[0], after[1] - before[1]
        sent = len(lat) + len(errs)
        cell = CellResult(
            protocol=proto, concurrency=conc, batch=cfg.batch, requests=sent, ok=len(lat), errors=len(errs),
            wall_s=round(wall, 3), throughput_rps=len(lat) / wall if wall > 0 else 0.0,
            images_per_s=len(lat) * cfg.batch / wall if wall > 0 else 0.0,
            p50_ms=percentile(ms, 50), p90_ms=percentile(ms, 90), p99_ms=percentile(ms, 99),
            mean_ms=float(np.mean(ms)) if ms else None,
            stopped_by="requests" if sent >= cfg.requests else "time limit",
            error_examples=sorted(set(errs))[:3], server_executions=ex, server_inferences=inf,
            mean_executed_batch=(inf / ex) if ex else None)
        say(f"{proto} c={conc}: {cell.ok}/{cell.requests} ok, {cell.throughput_rps:.1f} req/s, p50 "
            f"{cell.p50_ms or float('nan'):.1f} ms, p99 {cell.p99_ms or float('nan'):.1f} ms"
            + (f", mean executed batch {cell.mean_executed_batch:.2f}" if cell.mean_executed_batch else ""))
        cells.append(cell)
    return LoadResult(url=addr, model=cfg.model, input_name=name, input_datatype=dtype, input_shape=dims,
                      max_batch_size=mbs, dynamic_batching=dyn, cells=cells,
                      config={**asdict(cfg), "protocol": proto})


@dataclass
class InProcessResult:
    artifact: str
    kind: str
    precision: str
    provider: str
    threads: int | None
    batch: int
    iterations: int
    p50_ms: float
    p99_ms: float
    images_per_s: float  # batch / p50

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inprocess_throughput(artifact: str | os.PathLike, batch_sizes: Sequence[int] = (1,), *, provider: str = "cpu",
                         threads: int | None = None, iterations: int = 50, time_limit_s: float = 20.0,
                         warmup: int = 3, seed: int = 0) -> list[InProcessResult]:
    """The artifact's own throughput in this process (runtime.load, logits on seeded random tensors), per batch
    size: bounded by ``iterations`` and ``time_limit_s`` each."""
    import torch

    from resnet_opt.runtime import load

    if isinstance(iterations, bool) or not isinstance(iterations, int) or not 1 <= iterations <= MAX_REQUESTS:
        raise ConfigError(f"iterations must be between 1 and {MAX_REQUESTS}, got {iterations!r}")
    pred = load(artifact, provider=provider, threads=threads)
    rng = np.random.default_rng(seed)
    out = []
    for b in batch_sizes:
        x = torch.from_numpy(rng.standard_normal((int(b), 3, pred.input_size, pred.input_size)).astype(np.float32))
        with torch.inference_mode():
            for _ in range(warmup):
                pred.logits(x)
            times = []
            end = time.monotonic() + time_limit_s
            while len(times) < iterations and time.monotonic() < end:
                t0 = time.perf_counter()
                pred.logits(x)
                times.append(time.perf_counter() - t0)
        p50 = percentile([t * 1000 for t in times], 50) or float("nan")
        out.append(InProcessResult(artifact=str(artifact), kind=pred.kind, precision=pred.precision,
                                   provider=pred.provider, threads=threads, batch=int(b), iterations=len(times),
                                   p50_ms=p50, p99_ms=percentile([t * 1000 for t in times], 99) or float("nan"),
                                   images_per_s=int(b) * 1000 / p50 if p50 > 0 else 0.0))
    return out
