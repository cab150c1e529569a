"""What every exporter shares: tensor names, the export result, target-path checks, model preparation, and
TorchScript loading. Imported by the exporters and by :mod:`resnet_opt.export.validate` (no cycles)."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_opt.core.errors import ConfigError, ExportError

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "ExportResult", "ExportSettings", "ExportExtras", "Exporter", "OWN_OPTIONS",
           "export_target", "tmp_beside", "prepared", "num_classes_of",
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


@dataclass(frozen=True)
class ExportSettings:
    """The format settings of one export, as the export stage checked them; each :class:`Exporter` reads the ones of
    its format (``options`` names those only some formats take)."""

    opset: int
    dynamic_batch: bool
    fp16: bool
    provider: str
    frozen: bool
    optimize: bool | str
    pt2: Any  # Pt2Settings | None
    inference_precision: str


# the settings only some formats take: name -> (how an error names it, its value when not asked for)
OWN_OPTIONS: dict[str, tuple[str, Any]] = {
    "fp16": ("FP16 export (--fp16, for GPU onnxruntime/TensorRT)", False),
    "pt2": ("AOTInductor settings (--device, --max-autotune, --no-freezing)", None),
    "inference_precision": ("an inference precision hint (--precision bf16)", "f32"),
}


@dataclass(frozen=True)
class ExportExtras:
    """What a format adds to its artifact's manifest: files beside the model file ((name, role) pairs, hashed and
    checked like it), manifest sections, library versions."""

    files: list[tuple[str, str]] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


def _no_extras(_res: ExportResult) -> ExportExtras:
    return ExportExtras()


def _as_is(settings: ExportSettings) -> ExportSettings:
    return settings


@dataclass(frozen=True)
class Exporter:
    """How one artifact kind is exported, named by its registration (``register_kind(..., exporter=
    "resnet_opt.export.MODULE:NAME")``) and run by the export stage:

    * ``export(model, path, settings, *, input_size, inputs, tolerance, log)`` writes the file at ``path`` and
      validates it against ``model`` (an :class:`ExportResult`);
    * ``check(settings)`` refuses the settings this format cannot take, before any work, and returns them
      normalized (e.g. the default AOTInductor settings filled in);
    * ``options``: which of :data:`OWN_OPTIONS` this format takes (the stage refuses the others for it);
    * ``extras(result)``: files, sections and versions the manifest adds for this format."""

    title: str
    export: Callable[..., ExportResult]
    check: Callable[[ExportSettings], ExportSettings] = _as_is
    options: frozenset[str] = frozenset()
    extras: Callable[[ExportResult], ExportExtras] = _no_extras

    def precision(self, settings: ExportSettings) -> str:
        """The precision of the file written with these settings (picks the registered file name)."""
        if settings.fp16 and "fp16" in self.options:
            return "fp16"
        if "inference_precision" in self.options and str(settings.inference_precision).lower() == "bf16":
            return "bf16"
        return "fp32"


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
