"""onnxruntime sessions that only claim a GPU provider when it really runs nodes.

onnxruntime-gpu lists ``CUDAExecutionProvider`` and ``TensorrtExecutionProvider`` as available even on a machine
without a GPU (or without CUDA / TensorRT libraries); asking for them then logs errors and silently runs on the CPU.
:class:`OnnxSession` therefore

1. creates the session with the requested provider first and CPU as the fallback, with onnxruntime's own console
   noise captured (it goes into the error message instead);
2. checks that the requested provider is the session's first provider;
3. runs one profiled inference and counts, from onnxruntime's profile, which provider ran each node — so a
   partial fall-back (e.g. INT8 ``QLinearConv`` / QDQ nodes that the CUDA provider has no kernel for run on the
   CPU) is reported, and a session in which the GPU provider ran no node at all is refused.

``provider="auto"`` tries CUDA, then falls back to the CPU with a :class:`ProviderFallbackWarning`. An explicitly
requested provider that does not work raises :class:`BackendUnavailableError`.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from resnet_opt.core.artifact import work_dir
from resnet_opt.core.errors import ArtifactError, BackendUnavailableError, ConfigError, ResNetOptWarning

PROVIDERS = ("cpu", "cuda", "tensorrt", "auto")
ORT_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
SHORT_NAMES = {v: k for k, v in ORT_NAMES.items()}
_NP_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


class ProviderFallbackWarning(ResNetOptWarning):
    """A requested accelerator was not usable (``auto``) or did not run every node."""


def check_provider_name(provider: str) -> str:
    p = str(provider).strip().lower()
    if p not in PROVIDERS:
        raise ConfigError(f"unknown provider {provider!r}; valid: {', '.join(PROVIDERS)}")
    return p


@contextlib.contextmanager
def _captured_output() -> Iterator[io.StringIO]:
    """Capture Python prints and the C++ library's writes to fds 1 and 2 (onnxruntime logs provider failures
    there). The captured text is available after the block."""
    buf = io.StringIO()
    sys.stdout.flush()
    sys.stderr.flush()
    saved: list[tuple[int, int]] = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(tmp.fileno(), fd)
                except OSError:
                    pass
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                yield buf
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            for fd, dup in saved:
                os.dup2(dup, fd)
                os.close(dup)
            tmp.seek(0)
            buf.write(tmp.read().decode(errors="replace"))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _reason(log: str) -> str:
    """The most telling line of onnxruntime's provider-failure log, without colours and source locations."""
    text = _ANSI.sub("", log)
    for pat in (r"error: ([^\n]*cannot open shared object file[^\n]*)", r"(Failed to create \w+ExecutionProvider[^\n.]*)",
                r"(CUDA failure[^\n]*)", r"(no CUDA-capable device[^\n]*)", r"(Require [^\n]*?)\. "):
        m = re.search(pat, text)
        if m:
            return m.group(1).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "*****" not in ln]
    return lines[0][:200] if lines else "the provider could not be created"


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return _ANSI.sub("", s.splitlines()[0]) if s else type(e).__name__


def ort_session(model: str | os.PathLike | bytes, *, threads: int | None = None,
                providers: Sequence[Any] = ("CPUExecutionProvider",), log_level: int | None = 3,
                profile_dir: str | None = None) -> Any:
    """THE onnxruntime ``InferenceSession`` factory (every session resnet-opt builds comes from here): all graph
    optimizations (the QDQ -> QLinear* fusions need them), sequential execution, ``threads`` intra-op threads and
    one inter-op thread when ``threads`` is given, onnxruntime's log at ``log_level`` (3: errors only; None keeps its
    default warnings, which :class:`OnnxSession` captures to explain a provider that failed), and profiling into
    ``profile_dir`` when given. ``model`` is a path or the serialized model. onnxruntime's own exceptions pass
    through: each caller words the error for its context."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if log_level is not None:
        so.log_severity_level = int(log_level)
    if threads is not None:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    if profile_dir is not None:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(profile_dir, "ort_profile")
    src = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(src, so, providers=list(providers))


class OnnxSession:
    """An onnxruntime session on a provider that is known to run nodes.

    Attributes: ``provider`` (short name actually used: cpu / cuda / tensorrt), ``providers`` (onnxruntime's list for
    the session), ``node_providers`` (provider -> number of nodes it ran in the profiled probe), ``warnings``,
    ``input_name``, ``input_shape`` (batch may be a string for a dynamic axis), ``input_dtype``, ``output_name``,
    ``static_batch`` (int or None)."""

    def __init__(self, path: str | os.PathLike, provider: str = "cpu", *, threads: int | None = None,
                 probe: bool = True, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or self.path.name
        self.requested = check_provider_name(provider)
        self.warnings: list[str] = []
        if not self.path.is_file():
            raise ArtifactError(f"ONNX model file {self.path} does not exist")
        if self.requested == "auto":
            try:
                self._open("cuda", threads, probe=True)
            except BackendUnavailableError as e:
                self._warn(f"provider auto: {e}; falling back to the CPU provider")
                self._open("cpu", threads, probe=probe)
        else:
            self._open(self.requested, threads, probe=probe or self.requested != "cpu")

    # ------------------------------------------------------------------ setup
    def _warn(self, msg: str) -> None:
        self.warnings.append(msg)
        warnings.warn(msg, ProviderFallbackWarning, stacklevel=3)

    def _open(self, provider: str, threads: int | None, *, probe: bool) -> None:
        import onnxruntime as ort

        want = ORT_NAMES[provider]
        if want not in ort.get_available_providers():
            raise BackendUnavailableError(f"{want} is not in this onnxruntime build "
                                          f"(available: {', '.join(ort.get_available_providers())})")
        chain = [want] + (["CUDAExecutionProvider"] if provider == "tensorrt" else []) + ["CPUExecutionProvider"]
        chain = list(dict.fromkeys(chain))
        with work_dir("ort") as prof:
            with _captured_output() as log:
                try:
                    sess = ort_session(self.path, threads=threads, providers=chain, log_level=None,
                                       profile_dir=prof if probe else None)
                except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
                    err = e
                else:
                    err = None
            if err is not None:
                msg = _first_line(err)
                if provider != "cpu" and any(k in msg for k in ("ExecutionProvider", "CUDA", "TensorRT", "cuda")):
                    raise BackendUnavailableError(f"{want} failed to start: {msg}") from err
                raise ArtifactError(f"{self.name} is not a loadable ONNX model: {msg}") from err
            used = sess.get_providers()
            if used[0] != want:
                raise BackendUnavailableError(f"{want} is not usable here: {_reason(log.getvalue())}")
            self._session = sess
            self.providers = used
            inp = sess.get_inputs()[0]
            out = sess.get_outputs()[0]
            self.input_name, self.input_shape, self.input_type = inp.name, list(inp.shape), inp.type
            self.output_name = out.name
            self.output_shape = list(out.shape)
            if inp.type not in _NP_DTYPES:
                raise ArtifactError(f"{self.name} input {inp.name!r} has unsupported type {inp.type}")
            self.input_dtype = _NP_DTYPES[inp.type]
            self.static_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
            self.node_providers: dict[str, int] = {}
            self.fallback_ops: dict[str, list[str]] = {}
            if probe:
                self._probe(provider, want)
            self.provider = provider

    def _probe(self, provider: str, want: str) -> None:
        """One profiled run on zeros: which provider ran which node."""
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in self.input_shape]
        x = np.zeros(shape, dtype=self.input_dtype)
        with _captured_output() as log:
            try:
                self._session.run(None, {self.input_name: x})
                err = None
            except Exception as e:  # noqa: BLE001
                err = e
            prof = self._session.end_profiling()
        if err is not None:
            if provider != "cpu":
                raise BackendUnavailableError(f"{want} could not run {self.name}: {_first_line(err)}") from err
            raise ArtifactError(f"{self.name} cannot run: {_first_line(err)}") from err
        counts: collections.Counter[str] = collections.Counter()
        ops: dict[str, set[str]] = collections.defaultdict(set)
        try:
            with open(prof) as f:
                events = json.load(f)
        except (OSError, json.JSONDecodeError):
            events = []
        for ev in events:
            args = ev.get("args") or {}
            if ev.get("cat") == "Node" and str(ev.get("name", "")).endswith("_kernel_time") and "provider" in args:
                counts[args["provider"]] += 1
                ops[args["provider"]].add(str(args.get("op_name", "?")))
        with contextlib.suppress(OSError):
            os.unlink(prof)
        self.node_providers = dict(counts)
        if provider != "cpu":
            mine = counts.get(want, 0) + (counts.get("CUDAExecutionProvider", 0) if provider == "tensorrt" else 0)
            if counts and mine == 0:
                raise BackendUnavailableError(f"{want} ran none of the nodes of {self.name} "
                                              f"(all ran on {', '.join(counts)}): {_reason(log.getvalue())}")
            others = {p: n for p, n in counts.items() if p not in (want, "CUDAExecutionProvider" if provider == "tensorrt" else want)}
            if others:
                total = sum(counts.values())
                self.fallback_ops = {p: sorted(ops[p]) for p in others}
                detail = "; ".join(f"{n} of {total} nodes ran on {p} ({', '.join(sorted(ops[p]))})" for p, n in others.items())
                self._warn(f"{want} does not run every node of {self.name}: {detail}")

    # ------------------------------------------------------------------ inference
    def run(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Logits of one batch as float32 CPU tensor (the batch must match a static batch axis)."""
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        arr = np.ascontiguousarray(arr, dtype=self.input_dtype)
        out = self._session.run([self.output_name], {self.input_name: arr})[0]
        return torch.from_numpy(np.asarray(out, dtype=np.float32))

    @property
    def session(self) -> Any:
        return self._session

    def describe(self) -> dict[str, Any]:
        return {"requested": self.requested, "provider": self.provider, "session_providers": self.providers,
                "node_providers": self.node_providers, "fallback_ops": self.fallback_ops, "warnings": self.warnings}


def ort_logits_fn(sess: Any) -> Any:
    """A tensor -> logits callable over an onnxruntime ``InferenceSession`` (its first input and output)."""
    name = sess.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(sess.run(None, {name: np.ascontiguousarray(x.detach().cpu().float().numpy())})[0])

    return run
