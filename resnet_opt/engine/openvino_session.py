"""OpenVINO sessions (optional: ``pip install 'resnet-opt[openvino]'``): availability, compiling a model with an
explicit precision hint, running it. The runtime predictor and loader are in :mod:`resnet_opt.runtime.openvino`;
export validation uses the session from here (engine sits below export and runtime).

OpenVINO's CPU plugin reads ONNX files directly (FP32, FP16 and our INT8 QDQ artifacts: it fuses the
Quantize/Dequantize pairs into its own INT8 kernels) and its own IR (``model.xml`` + ``model.bin``, the ``openvino``
artifact kind written by ``resnet-opt export openvino``).

Precision. On CPUs with AVX512_BF16 or AMX the plugin's *default* ``INFERENCE_PRECISION_HINT`` is bf16, so it runs an
FP32 model in BF16 without saying so. Here the hint is always set explicitly: ``f32`` for FP32/FP16/INT8 artifacts
(what export validation compared against PyTorch) unless ``inference_precision="bf16"`` is asked for, which needs a
BF16-capable CPU (:func:`bf16_unavailable_reason`). The precision the compiled model really uses is read back from
OpenVINO and reported (``ran_precision``), so a row is labelled with what ran.

"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from resnet_opt.core.errors import ArtifactError, BackendUnavailableError, ConfigError

KIND = "openvino"
HINTS = ("f32", "bf16")
# OpenVINO element type names -> our precision labels
_TYPE_LABELS = {"f32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16", "f16": "fp16", "float16": "fp16"}


@functools.lru_cache(maxsize=1)
def openvino_unavailable_reason() -> str | None:
    """None when OpenVINO imports and has a CPU device, else why not."""
    try:
        import openvino as ov
    except ImportError as e:
        return f"OpenVINO is not installed (pip install 'resnet-opt[openvino]'): {e}"
    try:
        if "CPU" not in ov.Core().available_devices:
            return "OpenVINO has no CPU device here"
    except Exception as e:  # noqa: BLE001 - a broken install is "not usable"
        return f"OpenVINO cannot start: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
    return None


def openvino_version() -> str | None:
    try:
        import openvino as ov

        return ov.__version__.split("-")[0]
    except ImportError:
        return None


@functools.lru_cache(maxsize=1)
def cpu_capabilities() -> tuple[str, ...]:
    """OpenVINO's CPU ``OPTIMIZATION_CAPABILITIES`` (e.g. FP32, INT8, BF16); empty when OpenVINO is absent."""
    if openvino_unavailable_reason():
        return ()
    import openvino as ov

    try:
        return tuple(str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # noqa: BLE001
        return ()


def bf16_unavailable_reason() -> str | None:
    """None when this CPU runs BF16 natively (AVX512_BF16 or AMX-BF16) through OpenVINO, else why not."""
    from resnet_opt.core.env import cpu_info, has_bf16

    why = openvino_unavailable_reason()
    if why:
        return why
    if not has_bf16():
        return (f"this CPU ({cpu_info()['model']}) has neither AVX512_BF16 nor AMX-BF16; BF16 needs e.g. AMD Zen 4+ "
                "or Intel Cooper Lake / Sapphire Rapids+")
    if "BF16" not in cpu_capabilities():
        return "OpenVINO's CPU plugin does not list BF16 among its capabilities here"
    return None


def precision_label(ov_type: Any) -> str:
    t = str(getattr(ov_type, "get_type_name", lambda: ov_type)()).lower()
    t = t.replace("<type: '", "").replace("'>", "")
    return _TYPE_LABELS.get(t, t)


def compile_model(model_file: str | os.PathLike, *, threads: int | None = None,
                  inference_precision: str | None = None, performance: str = "LATENCY",
                  batch: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Read an ONNX or IR file and compile it for OpenVINO's CPU plugin with an explicit precision hint; ``batch``:
    reshape a dynamic batch axis to this static size first.

    Returns ``(compiled model, info)``; ``info["ran_precision"]`` is the precision the plugin reports it uses."""
    why = openvino_unavailable_reason()
    if why:
        raise BackendUnavailableError(why)
    hint = str(inference_precision or "f32").lower()
    if hint not in HINTS:
        raise ConfigError(f"unknown OpenVINO inference precision {inference_precision!r}; valid: {', '.join(HINTS)}")
    if hint == "bf16":
        why = bf16_unavailable_reason()
        if why:
            raise BackendUnavailableError(f"BF16 inference is not available: {why}")
    import openvino as ov

    core = ov.Core()
    cfg: dict[str, Any] = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": performance}
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        cfg["INFERENCE_NUM_THREADS"] = int(threads)
    try:
        model = core.read_model(str(model_file))
        if batch is not None:
            shape = model.inputs[0].get_partial_shape()
            shape[0] = int(batch)
            model.reshape({model.inputs[0]: shape})
        compiled = core.compile_model(model, "CPU", cfg)
    except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError with long messages
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ArtifactError(f"OpenVINO cannot load {Path(model_file).name}: {msg[:300]}") from e
    ran = precision_label(compiled.get_property("INFERENCE_PRECISION_HINT"))
    info = {"runtime": f"openvino {openvino_version()} (CPU)", "requested_precision_hint": hint,
            "ran_precision": ran, "threads": threads, "performance_hint": performance}
    return compiled, info


def _manifest_input_size(manifest: dict[str, Any]) -> int | None:
    shape = (manifest.get("input") or {}).get("shape")
    if isinstance(shape, list) and len(shape) == 4 and isinstance(shape[-1], int) and shape[-1] > 0:
        return int(shape[-1])
    return None


# a dynamic-batch model is also compiled for a static batch of each of the first STATIC_SHAPES batch sizes it runs:
# at batch 1 the static-shape compile ran 1-9 % faster, at batch 8 up to 6 % (ResNet-50 INT8 and pruned INT8 on an
# AVX-512 VNNI Zen 4, benchmarks/results/openvino_static.md); each size costs one compile (under a second) on first use
STATIC_SHAPES = (1, 2, 4, 8)


class OpenVINOSession:
    """A compiled model with one infer request: float32 N×3×H×W in, float32 logits out. A model with a dynamic batch
    axis runs batch sizes in :data:`STATIC_SHAPES` on a model reshaped to that static batch, compiled on first use
    (``static_shapes=False``: always the dynamic one)."""

    def __init__(self, model_file: str | os.PathLike, *, threads: int | None = None,
                 inference_precision: str | None = None, static_shapes: bool = True) -> None:
        self.compiled, self.info = compile_model(model_file, threads=threads, inference_precision=inference_precision)
        self._file, self._threads, self._precision = model_file, threads, inference_precision
        self.static_shapes = bool(static_shapes)
        self._static: dict[int, Any] = {}
        self.request = self.compiled.create_infer_request()
        inp = self.compiled.inputs[0]
        out = self.compiled.outputs[0]
        ps, os_ = inp.get_partial_shape(), out.get_partial_shape()
        self.input_shape = [d.get_length() if d.is_static else -1 for d in ps]
        self.output_shape = [d.get_length() if d.is_static else -1 for d in os_]
        self.static_batch = self.input_shape[0] if self.input_shape and self.input_shape[0] > 0 else None
        self.ran_precision = self.info["ran_precision"]
        self.info["static_shapes"] = list(STATIC_SHAPES) if self.static_shapes and self.static_batch is None else None

    @property
    def static_compiled(self) -> list[int]:
        """The batch sizes compiled with a static shape so far."""
        return sorted(self._static)

    def _request_for(self, n: int) -> Any:
        if not self.static_shapes or self.static_batch is not None or n not in STATIC_SHAPES:
            return self.request
        if n not in self._static:
            compiled, _ = compile_model(self._file, threads=self._threads, inference_precision=self._precision,
                                        batch=n)
            self._static[n] = compiled.create_infer_request()
        return self._static[n]

    def run_numpy(self, x: np.ndarray) -> np.ndarray:
        req = self._request_for(int(x.shape[0]))
        req.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return req.get_output_tensor(0).data.copy()

    def run(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        return torch.from_numpy(np.asarray(self.run_numpy(arr), dtype=np.float32))


__all__ = ["KIND", "HINTS", "openvino_unavailable_reason", "openvino_version", "bf16_unavailable_reason",
           "cpu_capabilities", "compile_model", "precision_label", "OpenVINOSession"]
