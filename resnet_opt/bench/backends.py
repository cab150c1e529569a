"""Backends: torch eager, TorchScript, PT2 (AOTInductor packages) and onnxruntime, each on CPU or CUDA (and
onnxruntime's TensorRT provider), and ``libtorch-cpp``: the native C++ runner (cpp/) on TorchScript and .pt2
artifacts, timed by its own ``--bench``.

A backend is *available* only when it really runs here: onnxruntime-gpu lists the CUDA and TensorRT providers even
on a machine without a GPU, so availability is decided by building a tiny session and checking which provider it
ended up on. Every runner takes a CPU float32 batch and returns CPU logits ("host in, host out"), so latencies are
comparable across backends: CUDA timings include the input upload and the logits download.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch

from resnet_opt.bench.variants import Variant
from resnet_opt.core.errors import BackendUnavailableError, BuildError, ConfigError
from resnet_opt.runtime.cpp_runner import build_runner, raw_batch_file, run_runner


@dataclass(frozen=True)
class BackendSpec:
    name: str  # torch-cpu, torchscript-cuda, ort-tensorrt, ...
    family: str  # torch | torchscript | onnx | pt2 | openvino | libtorch-cpp (the runtime family)
    device: str  # cpu | cuda
    provider: str | None = None  # onnxruntime execution provider
    kinds: tuple[str, ...] = ()  # variant kinds it runs, when more than its family

    def runs(self, kind: str) -> bool:
        return kind == self.family or kind in self.kinds

    @property
    def uses_cuda(self) -> bool:
        return self.device == "cuda"


BACKENDS: dict[str, BackendSpec] = {
    b.name: b
    for b in (
        BackendSpec("torch-cpu", "torch", "cpu"),
        BackendSpec("torch-cuda", "torch", "cuda"),
        BackendSpec("torchscript-cpu", "torchscript", "cpu"),
        BackendSpec("torchscript-cuda", "torchscript", "cuda"),
        BackendSpec("pt2-cpu", "pt2", "cpu"),
        BackendSpec("pt2-cuda", "pt2", "cuda"),
        BackendSpec("ort-cpu", "onnx", "cpu", "CPUExecutionProvider"),
        BackendSpec("ort-cuda", "onnx", "cuda", "CUDAExecutionProvider"),
        BackendSpec("ort-tensorrt", "onnx", "cuda", "TensorrtExecutionProvider"),
        BackendSpec("libtorch-cpp", "libtorch-cpp", "cpu", kinds=("torchscript", "pt2")),
        # OpenVINO's CPU plugin (optional extra): our ONNX artifacts (FP32/FP16/INT8 QDQ) and OpenVINO IR artifacts
        BackendSpec("openvino-cpu", "openvino", "cpu", None, ("onnx", "openvino")),
    )
}
# shorthand groups accepted by --backends
GROUPS: dict[str, tuple[str, ...]] = {
    "cpu": ("torch-cpu", "torchscript-cpu", "pt2-cpu", "ort-cpu"),
    "cuda": ("torch-cuda", "torchscript-cuda", "pt2-cuda", "ort-cuda"),
    "gpu": ("torch-cuda", "torchscript-cuda", "pt2-cuda", "ort-cuda"),
    "tensorrt": ("ort-tensorrt",),
    "trt": ("ort-tensorrt",),
    "torch": ("torch-cpu", "torch-cuda"),
    "torchscript": ("torchscript-cpu", "torchscript-cuda"),
    "pt2": ("pt2-cpu", "pt2-cuda"),
    "ort": ("ort-cpu", "ort-cuda", "ort-tensorrt"),
    "onnxruntime": ("ort-cpu", "ort-cuda", "ort-tensorrt"),
    "cpp": ("libtorch-cpp",),
    "openvino": ("openvino-cpu",),
    "ov": ("openvino-cpu",),
    "all": tuple(BACKENDS),
}


def parse_backends(text: str | list[str] | tuple[str, ...]) -> list[BackendSpec]:
    """``"cpu,cuda"`` / ``"ort-cpu,torch-cuda"`` / ``["cpu"]`` -> backend specs (order kept, duplicates dropped)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for raw in items:
        tok = str(raw).strip().lower()
        if not tok:
            continue
        if tok in GROUPS:
            expanded: tuple[str, ...] = GROUPS[tok]
        elif tok in BACKENDS:
            expanded = (tok,)
        else:
            valid = ", ".join(list(GROUPS)[:4] + list(BACKENDS))
            raise ConfigError(f"unknown backend {raw.strip()!r}; valid: {valid}")
        names += [n for n in expanded if n not in names]
    if not names:
        raise ConfigError("no backend given; use e.g. --backends cpu or --backends cpu,cuda")
    return [BACKENDS[n] for n in names]


# ------------------------------------------------------------------ availability
@contextlib.contextmanager
def _capture_fd2() -> Iterator[list[str]]:
    """Capture what native code writes to stderr (onnxruntime logs provider load failures there) and stdout, and
    what Python code prints (onnxruntime prints its "EP Error" banner when a provider falls back) wherever
    ``sys.stdout`` points (a test runner's buffer, say)."""
    box: list[str] = []
    printed = io.StringIO()
    try:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        saved_err, saved_out = os.dup(2), os.dup(1)
    except (OSError, ValueError, AttributeError):
        with contextlib.redirect_stdout(printed):
            yield box
        box.append(printed.getvalue())
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            os.dup2(tmp.fileno(), 2)
            os.dup2(tmp.fileno(), 1)
            with contextlib.redirect_stdout(printed):
                yield box
        finally:
            import sys

            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os.dup2(saved_err, 2)
            os.dup2(saved_out, 1)
            os.close(saved_err)
            os.close(saved_out)
            tmp.seek(0)
            box.append(tmp.read().decode(errors="replace") + printed.getvalue())


def _ort_failure_reason(log: str) -> str | None:
    m = re.search(r"with error: ([^\n\r]+)", log)
    if m:
        return m.group(1).strip()
    m = re.search(r"Please install ([^\n\r.]+)", log)
    if m:
        return "install " + m.group(1).strip()
    return None


def _tiny_onnx() -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "W")
    node = helper.make_node("Conv", ["x", "W"], ["y"], pads=[1, 1, 1, 1])
    g = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def _ort_providers(provider: str) -> list[Any]:
    if provider == "CPUExecutionProvider":
        return ["CPUExecutionProvider"]
    if provider == "CUDAExecutionProvider":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if provider == "TensorrtExecutionProvider":
        cache = os.path.join(tempfile.gettempdir(), "resnet-opt-trt-cache")
        return [("TensorrtExecutionProvider", {"trt_engine_cache_enable": True, "trt_engine_cache_path": cache}),
                "CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ConfigError(f"unknown onnxruntime provider {provider}")


def _ort_session(model: bytes | str, provider: str, threads: int | None, quiet: bool = False):
    from resnet_opt.engine.onnx_session import ort_session

    return ort_session(model, threads=threads, providers=_ort_providers(provider), log_level=4 if quiet else 3)


@functools.lru_cache(maxsize=None)
def unavailable_reason(name: str) -> str | None:
    """None when backend ``name`` really runs here, else a one-line reason."""
    spec = BACKENDS[name]
    if spec.family == "libtorch-cpp":
        try:
            build_runner()
        except BuildError as e:
            return f"the C++ runner cannot be built here: {e}"
        return None
    if spec.family == "openvino":
        from resnet_opt.engine.openvino_session import openvino_unavailable_reason

        return openvino_unavailable_reason()
    if spec.family in ("torch", "torchscript", "pt2"):
        if spec.device == "cpu":
            return None
        if not torch.cuda.is_available():
            return "no CUDA GPU visible to torch (torch.cuda.is_available() is False)"
        return None
    try:
        import onnxruntime as ort
    except ImportError as e:  # pragma: no cover - onnxruntime is a dependency
        return f"onnxruntime is not importable: {e}"
    if spec.provider not in ort.get_available_providers():
        return f"onnxruntime {ort.__version__} was built without {spec.provider}"
    if spec.provider == "CPUExecutionProvider":
        return None
    # listed is not enough (onnxruntime-gpu lists CUDA/TensorRT without a GPU): build a session and check it
    with _capture_fd2() as box:
        try:
            sess = _ort_session(_tiny_onnx(), spec.provider, 1, quiet=True)
            used = sess.get_providers()
            sess.run(None, {"x": np.zeros((1, 3, 8, 8), np.float32)})
            err = None
        except Exception as e:  # noqa: BLE001 - any failure means "not usable"
            used, err = [], str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    log = box[0] if box else ""
    if err is not None:
        return f"{spec.provider} session failed: {err}"
    if not used or used[0] != spec.provider:
        why = _ort_failure_reason(log)
        return f"{spec.provider} is listed but a session fell back to {used[0] if used else 'nothing'}" + \
            (f" ({why})" if why else "")
    return None


# ------------------------------------------------------------------ runners
class Runner:
    """A loaded variant on one backend. ``prepare(bs)`` makes an input, ``run(x)`` is what is timed (host in,
    host out, synchronised), ``logits(x)`` maps a CPU batch to CPU float32 logits for accuracy."""

    backend: BackendSpec
    variant: Variant
    provider_used: str | None = None
    notes: list[str]

    def __init__(self, backend: BackendSpec, variant: Variant):
        self.backend, self.variant, self.notes = backend, variant, []

    def prepare(self, batch_size: int, seed: int = 0) -> Any:
        g = torch.Generator().manual_seed(seed)
        return torch.randn(batch_size, 3, self.variant.input_size, self.variant.input_size, generator=g)

    def run(self, x: Any) -> Any:
        raise NotImplementedError

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.asarray(self.run(x))).float()

    def sync(self) -> None:
        if self.backend.uses_cuda and torch.cuda.is_available():
            torch.cuda.synchronize()

    def close(self) -> None:
        pass


class TorchRunner(Runner):
    def __init__(self, backend: BackendSpec, variant: Variant, module: torch.nn.Module):
        super().__init__(backend, variant)
        self.device = torch.device("cuda" if backend.uses_cuda else "cpu")
        self.module = module.eval().to(self.device)
        self.provider_used = f"torch ({self.device.type})"

    @torch.inference_mode()
    def run(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(x.to(self.device))
        if isinstance(y, (tuple, list)):
            y = y[0]
        y = y.float().cpu()  # device -> host copy; synchronises on CUDA
        return y

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)

    def close(self) -> None:
        self.module = None  # type: ignore[assignment]
        if self.backend.uses_cuda and torch.cuda.is_available():
            torch.cuda.empty_cache()


class OrtRunner(Runner):
    """onnxruntime through :class:`resnet_opt.engine.onnx_session.OnnxSession`, which refuses a GPU provider that
    does not really run nodes and reports nodes that silently fall back to the CPU."""

    _SHORT = {"CPUExecutionProvider": "cpu", "CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "tensorrt"}

    def __init__(self, backend: BackendSpec, variant: Variant, threads: int | None):
        import warnings

        from resnet_opt.engine.onnx_session import OnnxSession

        super().__init__(backend, variant)
        assert backend.provider is not None and variant.file is not None
        short = self._SHORT[backend.provider]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sess = OnnxSession(variant.file, short, threads=threads, probe=short != "cpu")
        self.notes += list(sess.warnings)
        self.session = sess.session
        self.provider_used = sess.providers[0]
        if getattr(sess, "node_providers", None):
            self.notes.append("nodes per provider: " + ", ".join(f"{k} {v}" for k, v in sess.node_providers.items()))
        self.input_name = sess.input_name
        self.input_dtype = sess.input_dtype
        self.static_batch = sess.static_batch

    def prepare(self, batch_size: int, seed: int = 0) -> np.ndarray:
        return super().prepare(batch_size, seed).numpy().astype(self.input_dtype)

    def run(self, x: Any) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.numpy()
        if x.dtype != self.input_dtype:
            x = x.astype(self.input_dtype)
        return self.session.run(None, {self.input_name: x})[0]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        n = int(x.shape[0])
        if self.static_batch is None or n == self.static_batch:
            return torch.from_numpy(np.asarray(self.run(x), dtype=np.float32))
        sb, outs = self.static_batch, []
        for i in range(0, n, sb):  # a fixed batch dimension: run in chunks, zero-padding the last one
            chunk = x[i:i + sb]
            k = int(chunk.shape[0])
            if k < sb:
                chunk = torch.cat([chunk, chunk.new_zeros((sb - k, *chunk.shape[1:]))])
            outs.append(torch.from_numpy(np.asarray(self.run(chunk), dtype=np.float32))[:k])
        return torch.cat(outs)

    def close(self) -> None:
        self.session = None


class CppRunner(Runner):
    """The C++ runner, out of process. ``run(x)`` sends a batch as a raw float32 file and reads the logits back (for
    quality); latency comes from the runner's own ``--bench`` (``bench_external``), so process start-up and model
    loading are not timed. ``own_load_ms`` / ``own_first_ms``: the runner's own load and first-inference times."""

    def __init__(self, backend: BackendSpec, variant: Variant, threads: int | None):
        super().__init__(backend, variant)
        if variant.path is None:
            raise BackendUnavailableError("the C++ runner needs an artifact folder")
        self.binary = build_runner()
        self.threads = threads
        info = run_runner(self.binary, variant.path, bench=True, batch=1, warmup=0, iters=1, threads=threads)
        self.own_load_ms = float(info["load_ms"])
        self.own_first_ms = float(info["bench"]["first_ms"])
        self.provider_used = f"libtorch {info.get('libtorch')} C++ ({info.get('device')}, {info.get('threads')} threads)"
        if info.get("optimized_for_inference"):
            self.notes.append("optimize_for_inference applied on load (as the manifest records)")

    def run(self, x: Any) -> np.ndarray:
        with raw_batch_file(torch.as_tensor(x).float()) as f:
            out = run_runner(self.binary, self.variant.path, top_k=1, threads=self.threads,
                             extra=["--raw", str(f), "--logits"])
        return np.asarray([p["logits"] for p in out["predictions"]], dtype=np.float32)

    def bench_external(self, batch_size: int, warmup: int, iterations: int) -> list[float]:
        """Seconds per timed run, measured inside the runner."""
        out = run_runner(self.binary, self.variant.path, bench=True, batch=batch_size, warmup=warmup,
                         iters=iterations, threads=self.threads)
        return [ms / 1e3 for ms in out["bench"]["samples_ms"]]
class Pt2Runner(Runner):
    """An AOTInductor package, loaded as ``runtime.load`` does (:func:`resnet_opt.runtime.pt2.load_pt2`)."""

    def __init__(self, backend: BackendSpec, variant: Variant):
        from resnet_opt.core.manifest import open_artifact
        from resnet_opt.runtime.pt2 import load_pt2

        super().__init__(backend, variant)
        assert variant.path is not None
        self.predictor = load_pt2(open_artifact(variant.path), provider=backend.device)
        self.provider_used = f"AOTInductor ({self.predictor.provider})"
        self.load_ms = getattr(self.predictor, "load_ms", None)
        if self.load_ms is not None:
            self.notes.append(f"package load {self.load_ms:.0f} ms (compiled at export)")

    @torch.inference_mode()
    def run(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor.logits(x)  # host in, host out (synchronises on CUDA)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)

    def close(self) -> None:
        self.predictor = None  # type: ignore[assignment]
class OpenVINORunner(Runner):
    """OpenVINO's CPU plugin with an explicit precision hint (``f32`` unless the variant asks for ``bf16``); the
    precision the compiled model really runs is reported as ``ran_precision`` (the row's label)."""

    def __init__(self, backend: BackendSpec, variant: Variant, threads: int | None):
        from resnet_opt.engine.openvino_session import OpenVINOSession

        super().__init__(backend, variant)
        assert variant.file is not None
        self.session = OpenVINOSession(variant.file, threads=threads, inference_precision=variant.inference_precision)
        ran = self.session.ran_precision
        self.provider_used = f"openvino CPU ({ran})"
        self.notes.append(f"OpenVINO precision hint {self.session.info['requested_precision_hint']}, ran {ran}")
        # an FP32/FP16 model is labelled with what ran (BF16 on BF16-capable CPUs when asked); INT8 stays INT8
        self.ran_precision = ran if variant.precision in ("fp32", "fp16") and ran != variant.precision else None
        self.static_batch = self.session.static_batch

    def prepare(self, batch_size: int, seed: int = 0) -> np.ndarray:
        return super().prepare(batch_size, seed).numpy()

    def run(self, x: Any) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.numpy()
        return self.session.run_numpy(x)

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]


def check_compatible(backend: BackendSpec, variant: Variant) -> str | None:
    """None when ``backend`` can run ``variant``, else why not (used to skip, not to fail)."""
    if not backend.runs(variant.kind):
        return f"{variant.kind} variant, {backend.family} backend"
    if backend.uses_cuda and variant.cpu_only:
        return variant.cpu_only
    if not backend.uses_cuda and variant.cuda_only:
        return variant.cuda_only
    return None


def make_runner(backend: BackendSpec, variant: Variant, threads: int | None = None) -> Runner:
    """Load ``variant`` on ``backend``. Raises BackendUnavailableError when it cannot run there."""
    why = check_compatible(backend, variant)
    if why:
        raise BackendUnavailableError(why)
    why = unavailable_reason(backend.name)
    if why:
        raise BackendUnavailableError(why)
    if backend.family == "torch":
        return TorchRunner(backend, variant, variant.build_torch_model())
    if backend.family == "torchscript":
        from resnet_opt.export.common import load_ts, optimize_loaded

        mod = load_ts(variant.file, map_location="cuda" if backend.uses_cuda else "cpu")
        if variant.optimize_on_cpu and not backend.uses_cuda:
            mod = optimize_loaded(mod)  # recorded at export as faster on CPU; cannot be saved, so applied on load
        return TorchRunner(backend, variant, mod)
    if backend.family == "libtorch-cpp":
        return CppRunner(backend, variant, threads)
    if backend.family == "pt2":
        return Pt2Runner(backend, variant)
    if backend.family == "openvino":
        return OpenVINORunner(backend, variant, threads)
    return OrtRunner(backend, variant, threads)


def set_threads(threads: int | None) -> None:
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(int(threads))
