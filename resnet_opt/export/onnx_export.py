"""Raw FP32 ONNX export of a torch model (no validation here: see validate.py / the export stage)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from resnet_opt.core.errors import ExportError

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 17
SUPPORTED_OPSETS = range(13, 22)


def export_onnx(model: nn.Module, path: str | os.PathLike, *, input_size: int = 224, opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = True, batch: int = 1) -> Path:
    """Export ``model`` (eval mode, CPU, float32) to ``path`` with input ``input`` and output ``logits``.

    Uses torch's TorchScript-based exporter (``dynamo=False``): on these ResNets it is fast and robust and emits the
    asked opset directly (the dynamo exporter currently fails to down-convert to opset 17)."""
    if opset not in SUPPORTED_OPSETS:
        raise ExportError(f"unsupported ONNX opset {opset}; supported: {SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}")
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
