"""Static INT8 post-training quantization of an OpenVINO model with NNCF, OpenVINO's own quantizer (optional extra:
``pip install 'resnet-opt[openvino]'`` brings openvino and nncf).

* :func:`quantize_ov` — ``nncf.quantize`` with its defaults (preset ``performance`` for a CNN: symmetric int8
  weights per output channel and symmetric activations; fast bias correction), calibrated on the images given;
* with a budget, ``nncf.quantize_with_accuracy_control`` (absolute top-1 drop in points, measured by our own
  ``validation_fn`` on labelled images): NNCF ranks the quantized operations by their contribution to the drop and
  reverts the worst to floating point, at most ``max_reverted`` of them;
* :func:`ov_int8_summary` — what the written IR holds: op counts, the Convolution / MatMul layers with int8
  weights and those left in floating point.

Builds only on core (never imports resnet_opt.export / runtime); :func:`nncf_unavailable_reason` says why it
cannot run (no openvino, no nncf).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from resnet_opt.core.errors import BackendUnavailableError, QuantizationError, first_line

__all__ = ["nncf_unavailable_reason", "nncf_version", "NncfResult", "quantize_ov", "ov_int8_summary", "METHOD"]

METHOD = "nncf"  # the only calibration "method" of this target: NNCF's own range estimators (its default preset)
LAYER_TYPES = ("Convolution", "GroupConvolution", "MatMul")


@functools.lru_cache(maxsize=1)
def nncf_unavailable_reason() -> str | None:
    """None when NNCF and OpenVINO import, else why not (one line)."""
    try:
        import openvino  # noqa: F401
    except ImportError as e:
        return f"the openvino target needs OpenVINO and NNCF: pip install 'resnet-opt[openvino]' ({e})"
    try:
        with _quiet():
            import nncf  # noqa: F401
    except ImportError as e:
        return f"the openvino target needs NNCF, OpenVINO's quantizer: pip install 'resnet-opt[openvino]' ({e})"
    except Exception as e:  # noqa: BLE001 - a broken install is "not usable"
        return f"NNCF cannot be imported: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
    return None


def nncf_version() -> str | None:
    if nncf_unavailable_reason():
        return None
    import nncf

    return str(nncf.__version__)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """NNCF logs, warns and draws progress bars; the CLI output (and --json) stays ours."""
    loggers = [logging.getLogger(n) for n in ("nncf", "torch.utils.cpp_extension", "")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)



@dataclass
class NncfResult:
    model: Any  # openvino.Model (INT8: FakeQuantize on activations, int8 weights)
    settings: dict[str, Any]
    calibration_seconds: float
    gate: dict[str, Any] | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def quantize_ov(model: Any, calibration: Sequence[np.ndarray], *, max_drop: float | None = None,
                validation: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
                max_reverted: int | None = None,
                log: Callable[[str], None] | None = None) -> NncfResult:
    """INT8 ``openvino.Model`` from the FP32 ``model`` (an ``openvino.Model``), calibrated on ``calibration``
    (float32 N×3×H×W arrays, one per NNCF data item).

    With ``max_drop`` (top-1 points) the accuracy-controlled flow runs on ``validation`` (``(images, labels)``
    batches): layers are reverted to floating point until the drop NNCF measures is within ``max_drop``, at most
    ``max_reverted`` of them. Raises BackendUnavailableError without NNCF, QuantizationError when NNCF fails."""
    why = nncf_unavailable_reason()
    if why:
        raise BackendUnavailableError(why)
    if not calibration:
        raise QuantizationError("no calibration images: the calibration data is empty")
    say = log or (lambda _m: None)
    import nncf

    data = [np.ascontiguousarray(a, dtype=np.float32) for a in calibration]
    settings: dict[str, Any] = {
        "format": "OpenVINO IR, INT8 (FakeQuantize on activations, int8 weights)",
        "tool": "nncf.quantize" if max_drop is None else "nncf.quantize_with_accuracy_control",
        "nncf": str(nncf.__version__), "preset": "NNCF default (performance for a CNN: symmetric int8 weights per "
                                                 "output channel, symmetric activations)",
        "fast_bias_correction": True, "subset_size": len(data), "target_device": "ANY (NNCF default)",
    }
    t0 = time.perf_counter()
    try:
        with _quiet():
            calib = nncf.Dataset(data)
            if max_drop is None:
                q = nncf.quantize(model, calib, subset_size=len(data), fast_bias_correction=True)
            else:
                if not validation:
                    raise QuantizationError("--max-accuracy-drop needs labelled validation images")
                from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

                params = AdvancedAccuracyRestorerParameters(
                    **({"max_num_iterations": int(max_reverted)} if max_reverted is not None else {}))
                q = nncf.quantize_with_accuracy_control(
                    model, calib, nncf.Dataset(list(validation)), _top1_fn(), max_drop=float(max_drop),
                    drop_type=nncf.DropType.ABSOLUTE, subset_size=len(data), fast_bias_correction=True,
                    advanced_accuracy_restorer_parameters=params)
    except (QuantizationError, BackendUnavailableError):
        raise
    except Exception as e:  # noqa: BLE001 - NNCF / OpenVINO raise many types
        raise QuantizationError(f"NNCF quantization failed: {first_line(e)[:300]}") from e
    secs = time.perf_counter() - t0
    summary = ov_int8_summary(q)
    gate = None
    if max_drop is not None:
        gate = {"tool": "nncf.quantize_with_accuracy_control", "budget": float(max_drop), "drop_type": "absolute",
                "metric": "top-1 (percent) on the labelled eval images, computed by resnet-opt's validation_fn",
                "max_reverted": max_reverted, "reverted_layers": summary["fp32_layers"]}
        say(f"NNCF accuracy control: {len(summary['fp32_layers'])} layer(s) kept in floating point")
    return NncfResult(model=q, settings=settings, calibration_seconds=secs, gate=gate, summary=summary)


def _top1_fn() -> Callable[[Any, Any], float]:
    """NNCF's ``validation_fn``: top-1 (percent) of a compiled OpenVINO model over ``(images, labels)`` batches."""

    def validate(compiled: Any, items: Any) -> float:
        right = total = 0
        out = compiled.outputs[0]
        for x, y in items:
            logits = np.asarray(compiled(np.ascontiguousarray(x, dtype=np.float32))[out])
            right += int((logits.argmax(axis=1) == np.asarray(y)).sum())
            total += int(np.asarray(y).shape[0])
        return 100.0 * right / max(total, 1)

    return validate


def ov_int8_summary(model: Any) -> dict[str, Any]:
    """Op counts of an OpenVINO model and its layers (Convolution / MatMul) with int8 weights (an int8/uint8
    constant or a FakeQuantize on the weight path) vs those left in floating point."""
    ops = Counter(op.get_type_name() for op in model.get_ops())
    q_layers, fp_layers = [], []
    for op in model.get_ops():
        if op.get_type_name() not in LAYER_TYPES:
            continue
        node = op.input_value(1).get_node()
        quantized = False
        for _ in range(8):  # int8 constant -> Convert -> (Subtract) -> Multiply -> layer, or FakeQuantize
            t = node.get_type_name()
            if t == "FakeQuantize":
                quantized = True
                break
            if t == "Constant":
                quantized = str(node.get_element_type()).lower() in ("<type: 'int8_t'>", "<type: 'uint8_t'>",
                                                                      "i8", "u8", "int8", "uint8")
                break
            if t not in ("Multiply", "Subtract", "Convert", "Reshape", "Transpose", "Unsqueeze"):
                break
            node = node.input_value(0).get_node()
        (q_layers if quantized else fp_layers).append(op.get_friendly_name())
    return {"op_counts": dict(sorted(ops.items())), "quantized_layers": len(q_layers), "fp32_layers": fp_layers,
            "fake_quantize": ops.get("FakeQuantize", 0)}
