"""ONNX export of a torch model: the raw FP32 exporter (:func:`export_onnx`) and the validated one (:func:`to_onnx`).

Tensor names are fixed across the tool: input ``input`` (N×3×H×W float32; the batch axis is the dynamic axis
``batch`` unless a static batch is asked for) and output ``logits`` (N×classes float32). The FP16 variant keeps these
float32 inputs and outputs (Cast nodes inside the graph), see :mod:`resnet_opt.export.fp16`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_opt.core.errors import ConfigError, ExportError
from resnet_opt.export import validate as V
from resnet_opt.export.common import (
    INPUT_NAME, OUTPUT_NAME, Exporter, ExportResult, ExportSettings, export_target, num_classes_of, prepared,
    tmp_beside,
)

DEFAULT_OPSET = 17
SUPPORTED_OPSETS = range(13, 22)
EXPORTER = "torch.onnx.export (TorchScript-based exporter, dynamo=False)"


def check_opset(opset: int) -> int:
    """Raise an ExportError naming the supported range unless ``opset`` is in it."""
    if not isinstance(opset, int) or isinstance(opset, bool) or opset not in SUPPORTED_OPSETS:
        raise ExportError(f"unsupported ONNX opset {opset}; supported: {SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}")
    return opset


def export_onnx(model: nn.Module, path: str | os.PathLike, *, input_size: int = 224, opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = True, batch: int = 1) -> Path:
    """Export ``model`` (eval mode, CPU, float32) to ``path`` with input ``input`` and output ``logits``.

    No validation here (see :func:`to_onnx`). Puts ``model`` in eval mode on the CPU in float32.

    Uses torch's TorchScript-based exporter (``dynamo=False``): on these ResNets it is fast and robust and emits the
    asked opset directly (the dynamo exporter currently fails to down-convert to opset 17)."""
    check_opset(opset)
    path = Path(path)
    model = model.eval().float().to("cpu")
    x = torch.randn(batch, 3, input_size, input_size)
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              opset_version=opset, dynamic_axes=axes, do_constant_folding=True, dynamo=False)
    except Exception as e:  # noqa: BLE001 - the exporter raises many types
        raise ExportError(f"ONNX export failed: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from e
    return path


def to_onnx(model: nn.Module, path: str | os.PathLike, *, opset: int = DEFAULT_OPSET, dynamic_batch: bool = True,
            fp16: bool = False, input_size: int = 224, static_batch: int = 1, validate: bool = True,
            inputs: Any = None, tolerance: Any = None, provider: str = "cpu") -> ExportResult:
    """Export ``model`` to ONNX at ``path`` and validate it against the model before keeping it.

    * ``dynamic_batch``: the batch axis is the dynamic axis ``batch``; else fixed at ``static_batch``.
    * ``fp16``: FP16 weights and compute, float32 input/output (Cast nodes), converted from the FP32 export with
      :func:`resnet_opt.export.fp16.convert_float_to_float16`; validated against the FP32 torch model with the FP16
      tolerance.
    * ``inputs``: a :class:`~resnet_opt.export.validate.ValidationInputs` (e.g. real images); default seeded random.
    * ``tolerance``: a :class:`~resnet_opt.export.validate.Tolerance`; default per precision (``TOLERANCES``).

    The file is written beside ``path`` under a temporary name and renamed only after validation passed; a failure
    raises (ExportError / ValidationError / AtolError) and leaves nothing at ``path``."""
    import onnx


    check_opset(opset)
    if static_batch < 1:
        raise ConfigError(f"static batch must be at least 1, got {static_batch}")
    path = export_target(path, input_size, ".onnx")
    m = prepared(model)
    precision = "fp16" if fp16 else "fp32"
    tmp = tmp_beside(path, ".onnx")
    try:
        export_onnx(m, tmp, input_size=input_size, opset=opset, dynamic_batch=dynamic_batch,
                    batch=1 if dynamic_batch else static_batch)
        details: dict[str, Any] = {"format": "onnx", "opset": opset, "dynamic_batch": dynamic_batch,
                                   "exporter": EXPORTER, "input_name": INPUT_NAME, "output_name": OUTPUT_NAME}
        if fp16:
            from resnet_opt.export.fp16 import convert_float_to_float16

            onnx.save(convert_float_to_float16(onnx.load(str(tmp))), str(tmp))
            details["fp16"] = {"method": "FP32 export, then initializers/constants converted to FP16 with the onnx "
                                         "library (resnet_opt.export.fp16)",
                               "io_dtype": "float32 (Cast nodes at input and output)"}
        report = None
        if validate:
            vin = V.inputs_for(inputs, input_size)
            report = V.validate_onnx(tmp, m, vin, precision=precision, tolerance=tolerance, provider=provider,
                                     name=path.name)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    n_cls = num_classes_of(m, input_size)
    b = -1 if dynamic_batch else static_batch
    return ExportResult(path=path, format="onnx", precision=precision, input_shape=[b, 3, input_size, input_size],
                        output_shape=[b, n_cls], validation=report, details=details)


def _export(model: nn.Module, path: Path, s: ExportSettings, *, input_size: int, inputs: Any, tolerance: Any,
            log: Any = None) -> ExportResult:
    return to_onnx(model, path, opset=s.opset, dynamic_batch=s.dynamic_batch, fp16=s.fp16, input_size=input_size,
                   inputs=inputs, tolerance=tolerance, provider=s.provider)


def _check(s: ExportSettings) -> ExportSettings:
    check_opset(s.opset)
    return s


# kind "onnx" registers this (resnet_opt.core.kinds.onnx)
KIND_EXPORTER = Exporter(title="ONNX", export=_export, check=_check, options=frozenset({"fp16"}))
