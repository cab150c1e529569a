"""Export stage: model source -> validated ONNX, TorchScript or PT2 (AOTInductor) artifact folder (model file +
manifest.json).

The folder is written with :func:`resnet_opt.core.artifact.atomic_dir`: a failed export or validation leaves nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from resnet_opt.core.artifact import atomic_dir
from resnet_opt.core.manifest import KINDS, Architecture, FileEntry, Manifest, write_manifest
from resnet_opt.core.registry import kind_info, kind_names, kind_table
from resnet_opt.core.env import cpu_info, library_versions
from resnet_opt.core.errors import ConfigError
from resnet_opt.core.results import ArtifactResult
from resnet_opt.export import (
    DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME, Pt2Settings, ValidationInputs, tolerance_for, validation_inputs,
)
from resnet_opt.export.common import OWN_OPTIONS, Exporter, ExportSettings
from resnet_opt.export.validate import DEFAULT_COUNT, ValidationReport
from resnet_opt.resnet import ModelSource, ModelSpec
from resnet_opt.resnet.io import fit_preprocessing, nonstandard_widths

# the export formats and their file names are the registered kinds' (resnet_opt.core.kinds): live views of KINDS
FORMATS = kind_names(lambda info: info.exportable)
PROVIDER_NAMES = ("cpu", "cuda", "tensorrt", "auto")


@dataclass
class ExportConfig:
    """The export stage's settings, each checked once in :meth:`validate` before the model is loaded.

    ``data``: validate on real images of this data spec (else seeded random inputs); for a random or weights source
    it also sets the input size and preprocessing when ``input_size`` is not given. ``pt2``: the AOTInductor settings
    of a ``pt2`` export (device, freezing, max_autotune; default :class:`Pt2Settings`); ``inference_precision``: the
    OpenVINO precision hint of an ``openvino`` export (f32 or bf16)."""

    fmt: str
    out: str | os.PathLike
    source: ModelSpec = field(default_factory=ModelSpec)
    input_size: int | None = None
    opset: int = DEFAULT_OPSET
    dynamic_batch: bool = True
    fp16: bool = False
    data: str | None = None
    preset: str | None = None
    count: int = DEFAULT_COUNT
    atol: float | None = None
    rtol: float | None = None
    min_top1_agreement: float | None = None
    frozen: bool = True
    optimize: bool | str = "auto"
    provider: str = "cpu"
    pt2: Pt2Settings | None = None
    inference_precision: str = "f32"
    overwrite: bool = True  # the library replaces a previous resnet-opt folder; the CLI asks for --overwrite

    @property
    def exporter(self) -> Exporter:
        """The format's registered :class:`~resnet_opt.export.common.Exporter` (after :meth:`validate`)."""
        return kind_info(str(self.fmt).lower()).resolve("exporter")

    @property
    def settings(self) -> ExportSettings:
        """The format settings as the exporter takes them (normalized by :meth:`validate`)."""
        return ExportSettings(opset=self.opset, dynamic_batch=self.dynamic_batch, fp16=self.fp16,
                              provider=self.provider, frozen=self.frozen, optimize=self.optimize, pt2=self.pt2,
                              inference_precision=str(self.inference_precision))

    @property
    def precision(self) -> str:
        return self.exporter.precision(self.settings)

    def validate(self, *, check_source: bool = True) -> None:
        """``check_source=False`` when the caller passes a loaded model (``export_artifact(..., loaded=...)``)."""
        from resnet_opt.core.artifact import check_output_dir
        from resnet_opt.core.checks import check_input_size, check_int

        self.fmt = str(self.fmt).lower()
        if self.fmt not in FORMATS:
            raise ConfigError(f"unknown export format {self.fmt!r}; valid: {', '.join(FORMATS)}")
        exporter = self.exporter
        settings = self.settings
        for option, (label, unset) in OWN_OPTIONS.items():  # a format-only setting asked of another format
            value = getattr(settings, option)
            asked = value.lower() != str(unset).lower() if isinstance(value, str) else value is not unset
            if asked and option not in exporter.options:
                takers = [e.title for e in (kind_info(k).resolve("exporter") for k in FORMATS) if option in e.options]
                raise ConfigError(f"{label}: available for {' and '.join(takers)} only")
        settings = exporter.check(settings)
        self.pt2, self.inference_precision = settings.pt2, settings.inference_precision
        check_int("--count", self.count, 1, 10_000)
        check_input_size(self.input_size)
        tolerance_for(self.precision, atol=self.atol, rtol=self.rtol, min_top1_agreement=self.min_top1_agreement)
        if self.optimize not in ("auto", True, False):
            raise ConfigError(f"--optimize must be auto, on or off, got {self.optimize!r}")
        if str(self.provider).strip().lower() not in PROVIDER_NAMES:
            raise ConfigError(f"unknown provider {self.provider!r}; valid: {', '.join(PROVIDER_NAMES)}")
        if self.data is not None:
            from resnet_opt.data import parse_data_spec

            parse_data_spec(self.data, preset=self.preset)
        if check_source:
            self.source.validate()
        check_output_dir(self.out, overwrite=self.overwrite)


@dataclass
class ExportStageResult(ArtifactResult):
    """The validated artifact folder: its typed manifest and the validation report (also in the manifest)."""

    validation: ValidationReport | None = None


FILE_NAMES = kind_table(lambda: {(k, p): f for k, info in KINDS.items() for p, f in info.files.items() if p != "int8"})


def _architecture(model: Any, num_classes: int) -> Architecture:
    from resnet_opt.resnet import ResNet

    arch = getattr(model, "arch", None)
    return Architecture(depth=getattr(arch, "depth", None), num_classes=int(num_classes),
                        widths=nonstandard_widths(model) if isinstance(model, ResNet) else {})


def export_artifact(config: ExportConfig, *, loaded: ModelSource | None = None,
                    log: Callable[[str], None] | None = None) -> ExportStageResult:
    """Export ``loaded`` (a model already in memory), or the model of ``config.source``, to ``config.out``, validated
    against PyTorch. Returns the typed manifest written and the validation report."""
    t0 = time.perf_counter()
    cfg = config
    cfg.validate(check_source=loaded is None)
    fmt, precision, input_size, data, preset = cfg.fmt, cfg.precision, cfg.input_size, cfg.data, cfg.preset
    tol = tolerance_for(precision, atol=cfg.atol, rtol=cfg.rtol, min_top1_agreement=cfg.min_top1_agreement)
    source = loaded
    say = log or (lambda _m: None)
    if source is None:
        source = cfg.source.load()
    pre = source.preprocessing  # None: the model records none, and none is guessed for it
    size = int(input_size or source.input_size)
    spec_pre = None
    if data is not None:
        from resnet_opt.data import parse_data_spec, preprocessing_for

        spec = parse_data_spec(data, preset=preset)
        spec_pre = preprocessing_for(spec)
        if source.kind != "model_dir" and input_size is None:
            size, pre = spec_pre.crop, spec_pre  # the data decides the input of an un-trained/ImageNet model
    pre = fit_preprocessing(pre, size) if pre is not None else None

    say(f"the export will be checked against PyTorch on {data + ' val images' if data else 'random inputs'} at {size} px")
    vin: ValidationInputs = validation_inputs(input_size=size, data=data, count=cfg.count, preset=preset)
    model = source.model
    fname = FILE_NAMES[(fmt, precision)]
    with atomic_dir(cfg.out) as tmp:
        say(f"exporting {getattr(getattr(model, 'arch', None), 'name', type(model).__name__)} to {fmt} ({precision}) ...")
        res = cfg.exporter.export(model, tmp / fname, cfg.settings, input_size=size, inputs=vin, tolerance=tol,
                                  log=say)
        details = dict(res.details)
        compile_info = details.pop("compile", None)
        extras = cfg.exporter.extras(res)
        sections: dict[str, Any] = {"export": details, **extras.sections}
        if compile_info is not None:
            sections["compile"] = compile_info
        more_files = [FileEntry(name, role=role) for name, role in extras.files]
        versions = {**library_versions(), **extras.versions}
        manifest = Manifest.for_export(
            kind=fmt, file=fname, precision=precision, source=source.manifest_source(),
            architecture=_architecture(model, res.output_shape[-1]), input_shape=res.input_shape,
            output_shape=res.output_shape, input_name=INPUT_NAME, output_name=OUTPUT_NAME, preprocessing=pre,
            class_names=source.class_names, validation=res.validation.to_dict(), sections=sections,
            more_files=more_files, versions=versions, cpu=cpu_info())
        written = write_manifest(tmp, manifest)
    return ExportStageResult(out=Path(cfg.out), manifest=written, seconds=time.perf_counter() - t0,
                             validation=res.validation)
