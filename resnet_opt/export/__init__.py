"""Export: TorchScript and ONNX artifacts, validated against PyTorch.

* :func:`to_onnx` / :func:`to_torchscript` write one validated model file (see :mod:`.validate` for what is checked
  and the per-precision tolerances);
* :func:`export_onnx` is the raw FP32 exporter (no validation) used by the quantization stage;
* :func:`convert_float_to_float16` makes the FP16 ONNX variant (float32 I/O).

Fixed tensor names: input ``input`` (N×3×H×W float32, dynamic batch axis ``batch`` by default), output ``logits``.
The artifact folder (model file + manifest.json) is written by :mod:`resnet_opt.pipeline.export`.
"""

from resnet_opt.export.common import INPUT_NAME, OUTPUT_NAME, ExportResult
from resnet_opt.export.fp16 import convert_float_to_float16
from resnet_opt.export.onnx_export import (
    DEFAULT_OPSET,
    SUPPORTED_OPSETS,
    check_opset,
    export_onnx,
    to_onnx,
)
from resnet_opt.export.torchscript_export import to_torchscript
from resnet_opt.export.validate import (
    TOLERANCES,
    Tolerance,
    ValidationInputs,
    ValidationReport,
    check_onnx_file,
    compare_logits,
    tolerance_for,
    validate_onnx,
    validate_torchscript,
    validation_inputs,
)

__all__ = [
    "DEFAULT_OPSET", "INPUT_NAME", "OUTPUT_NAME", "SUPPORTED_OPSETS", "ExportResult", "check_opset", "export_onnx",
    "to_onnx", "to_torchscript", "convert_float_to_float16", "TOLERANCES", "Tolerance", "ValidationInputs",
    "ValidationReport", "check_onnx_file", "compare_logits", "tolerance_for", "validate_onnx", "validate_torchscript",
    "validation_inputs",
]
