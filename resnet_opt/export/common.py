"""What every exporter shares: tensor names, the export result, target-path checks, model preparation, and
TorchScript loading. Imported by the exporters and by :mod:`resnet_opt.export.validate` (no cycles)."""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_opt.core.errors import ConfigError, ExportError

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "ExportResult", "export_target", "tmp_beside", "prepared", "num_classes_of",
           "load_ts", "optimize_loaded"]

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@dataclass
class ExportResult:
    """A validated export: the file written and what validation found. Usable as a path (``os.fspath``)."""

    path: Path
    format: str  # "onnx" | "torchscript"
    precision: str  # "fp32" | "fp16"
    input_shape: list[Any]  # [-1 or N, 3, H, W]
    output_shape: list[Any]  # [-1 or N, classes]
    validation: Any = None  # ValidationReport, or None when validate=False
    details: dict[str, Any] = field(default_factory=dict)  # format-specific export settings (for the manifest)

    def __fspath__(self) -> str:
        return str(self.path)


def export_target(path: str | os.PathLike, input_size: int, suffix: str) -> Path:
    """Check the arguments every exporter shares and create the target's parent folder."""
    if input_size < 8:
        raise ConfigError(f"input size must be at least 8 px, got {input_size}")
    path = Path(path)
    if path.exists() and path.is_dir():
        raise ExportError(f"{path} is a folder; give the {suffix} file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def tmp_beside(path: Path, suffix: str) -> Path:
    return path.parent / f".{path.name}.tmp-{os.getpid()}{suffix}"


def prepared(model: nn.Module) -> nn.Module:
    """A CPU float32 eval-mode copy, so the caller's model (device, dtype, mode) is left alone."""
    if not isinstance(model, nn.Module):
        raise ExportError(f"expected a torch nn.Module, got {type(model).__name__}")
    return copy.deepcopy(model).eval().float().to("cpu")


def num_classes_of(model: nn.Module, input_size: int) -> int:
    arch = getattr(model, "arch", None)
    if arch is not None and getattr(arch, "num_classes", None):
        return int(arch.num_classes)
    with torch.no_grad():
        return int(model(torch.zeros(1, 3, input_size, input_size)).shape[1])


def load_ts(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """THE TorchScript loader (runtime, bench, export validation and the Triton check use it): ``torch.jit.load``
    without its deprecation warnings (the Python one and, for INT8 files, torch's C++ notice about quantized
    tensors); a file torch cannot load is an ArtifactError quoting torch's first line."""
    from resnet_opt.core.errors import ArtifactError, first_line
    from resnet_opt.core.quiet import drop_native_stderr

    try:
        with warnings.catch_warnings(), drop_native_stderr():
            warnings.simplefilter("ignore")
            return torch.jit.load(str(path), map_location=map_location)
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError and others for corrupt archives
        raise ArtifactError(f"{path} is not a loadable TorchScript file: {first_line(e)[:200]}") from e


def optimize_loaded(module: Any) -> Any:
    """``torch.jit.optimize_for_inference`` of a loaded, frozen TorchScript module (CPU)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.optimize_for_inference(module.eval())
