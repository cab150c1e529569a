"""Export stage: model source -> validated ONNX or TorchScript artifact folder (model file + manifest.json).

The folder is written with :func:`resnet_opt.core.artifact.atomic_dir`: a failed export or validation leaves nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from resnet_opt.core.artifact import atomic_dir, sha256_file
from resnet_opt.core.manifest import write_manifest
from resnet_opt.core.env import cpu_info, library_versions
from resnet_opt.core.errors import ConfigError
from resnet_opt.export import (
    DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME, ValidationInputs, check_opset, to_onnx, to_torchscript, tolerance_for,
    validation_inputs,
)
from resnet_opt.export.validate import DEFAULT_COUNT
from resnet_opt.resnet import ModelSource, load_source
from resnet_opt.resnet.io import nonstandard_widths

FORMATS = ("onnx", "torchscript")
FILE_NAMES = {("onnx", "fp32"): "model.onnx", ("onnx", "fp16"): "model_fp16.onnx", ("torchscript", "fp32"): "model.ts"}


def _fit_preprocessing(pre: dict[str, Any], input_size: int) -> dict[str, Any]:
    """Preprocessing whose crop is ``input_size`` (same resize/crop ratio), for an export at another size."""
    from resnet_opt.data import Preprocessing

    p = Preprocessing.from_dict(pre)
    if p.crop == input_size:
        return p.to_dict()
    resize = max(input_size, int(round(input_size * p.resize / p.crop)))
    d = p.to_dict()
    d.update(resize=resize, crop=input_size, name=f"{p.name}@{input_size}")
    return d


def _architecture(model: Any, num_classes: int) -> dict[str, Any]:
    from resnet_opt.resnet import ResNet

    arch = getattr(model, "arch", None)
    return {"depth": getattr(arch, "depth", None), "num_classes": int(num_classes),
            "widths": nonstandard_widths(model) if isinstance(model, ResNet) else {}}


def export_artifact(
    fmt: str,
    *,
    out: str | os.PathLike,
    depth: int | str | None = None,
    weights: str | os.PathLike | None = None,
    model_dir: str | os.PathLike | None = None,
    source: ModelSource | None = None,
    num_classes: int | None = None,
    input_size: int | None = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    fp16: bool = False,
    data: str | None = None,
    preset: str | None = None,
    count: int = DEFAULT_COUNT,
    atol: float | None = None,
    rtol: float | None = None,
    min_top1_agreement: float | None = None,
    frozen: bool = True,
    optimize: bool | str = "auto",
    provider: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Export a model (``source``, or the ``depth`` / ``weights`` / ``model_dir`` trio) to ``out``.

    ``data``: validate on real images of this data spec (else seeded random inputs). For a random or weights source
    it also sets the input size and preprocessing when ``input_size`` is not given. Returns the manifest written
    (plus ``out``)."""
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "onnx":
        check_opset(opset)
    if fp16 and fmt != "onnx":
        raise ConfigError("FP16 export is available for ONNX only (the FP16 variant targets GPU onnxruntime/TensorRT)")
    if count < 1:
        raise ConfigError(f"--count must be at least 1, got {count}")
    precision = "fp16" if fp16 else "fp32"
    tol = tolerance_for(precision, atol=atol, rtol=rtol, min_top1_agreement=min_top1_agreement)
    if input_size is not None and input_size < 8:
        raise ConfigError(f"input size must be at least 8 px, got {input_size}")

    say = log or (lambda _m: None)
    if source is None:
        source = load_source(depth=depth, weights=weights, model_dir=model_dir, num_classes=num_classes)
    pre = dict(source.preprocessing or {})
    size = int(input_size or source.input_size)
    spec_pre = None
    if data is not None:
        from resnet_opt.data import parse_data_spec, preprocessing_for

        spec = parse_data_spec(data, preset=preset)
        spec_pre = preprocessing_for(spec)
        if source.kind != "model_dir" and input_size is None:
            size, pre = spec_pre.crop, spec_pre.to_dict()  # the data decides the input of an un-trained/ImageNet model
    pre = _fit_preprocessing(pre, size)

    say(f"validation inputs: {'data ' + data if data else 'random'} at {size} px")
    vin: ValidationInputs = validation_inputs(input_size=size, data=data, count=count, preset=preset)
    model = source.model
    fname = FILE_NAMES[(fmt, precision)]
    with atomic_dir(out) as tmp:
        say(f"exporting {getattr(getattr(model, 'arch', None), 'name', type(model).__name__)} to {fmt} ({precision}) ...")
        if fmt == "onnx":
            res = to_onnx(model, tmp / fname, opset=opset, dynamic_batch=dynamic_batch, fp16=fp16, input_size=size,
                          inputs=vin, tolerance=tol, provider=provider)
        else:
            res = to_torchscript(model, tmp / fname, frozen=frozen, optimize=optimize, input_size=size, inputs=vin,
                                 tolerance=tol)
        manifest: dict[str, Any] = {
            "kind": fmt,
            "file": fname,
            "precision": precision,
            "stage": "export",
            "source": source.describe(),
            "architecture": _architecture(model, res.output_shape[-1]),
            "input": {"name": INPUT_NAME, "shape": res.input_shape, "dtype": "float32"},
            "output": {"name": OUTPUT_NAME, "shape": res.output_shape, "dtype": "float32"},
            "preprocessing": pre,
            "class_names": source.class_names,
            "validation": res.validation.to_dict(),
            "export": res.details,
            "file_sha256": sha256_file(res.path),
            "file_size": res.path.stat().st_size,
            "versions": library_versions(),
            "cpu": cpu_info(),
        }
        write_manifest(tmp, manifest)
    manifest["out"] = str(Path(out))
    return manifest
