"""OpenVINO IR export: the validated ONNX export path, then OpenVINO's ``convert_model`` / ``save_model``.

The IR is ``model.xml`` (graph) + ``model.bin`` (weights, kept in FP32: ``compress_to_fp16=False``). It is
validated with OpenVINO's CPU plugin against the PyTorch model with the same checks and tolerances as an ONNX
export (:func:`resnet_opt.export.validate.validate_openvino`); a failure leaves nothing behind. OpenVINO is an
optional extra: without it the export raises BackendUnavailableError naming the install command.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from resnet_opt.core.artifact import work_dir
from resnet_opt.core.errors import BackendUnavailableError, ConfigError, ExportError
from resnet_opt.export.common import Exporter, ExportExtras, ExportResult, ExportSettings
from resnet_opt.export.onnx_export import DEFAULT_OPSET, check_opset, export_onnx


def to_openvino(model: nn.Module, path: str | os.PathLike, *, input_size: int = 224, opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = True, inference_precision: str = "f32", validate: bool = True,
                inputs: Any = None, tolerance: Any = None) -> ExportResult:
    """Export ``model`` to an OpenVINO IR at ``path`` (``.xml``; the ``.bin`` beside it) and validate it.

    ``inference_precision``: the precision hint the artifact is validated with and records for the runtime
    (``f32``, or ``bf16`` on CPUs with AVX512_BF16/AMX)."""
    from resnet_opt.export import validate as V
    from resnet_opt.engine.openvino_session import (
        bf16_unavailable_reason, openvino_unavailable_reason, openvino_version,
    )
    from resnet_opt.export.common import export_target, num_classes_of, prepared

    why = openvino_unavailable_reason()
    if why:
        raise BackendUnavailableError(why)
    hint = str(inference_precision).lower()
    if hint not in ("f32", "bf16"):
        raise ConfigError(f"OpenVINO inference precision must be f32 or bf16, got {inference_precision!r}")
    if hint == "bf16" and bf16_unavailable_reason():
        raise BackendUnavailableError(f"BF16 is not available: {bf16_unavailable_reason()}")
    check_opset(opset)
    path = export_target(path, input_size, ".xml")
    if path.suffix != ".xml":
        raise ConfigError(f"an OpenVINO IR path ends in .xml, got {path.name}")
    import openvino as ov

    m = prepared(model)
    precision = "bf16" if hint == "bf16" else "fp32"
    tmp_xml = path.parent / f".{path.stem}.tmp-{os.getpid()}.xml"
    tmp_bin = tmp_xml.with_suffix(".bin")
    final_bin = path.with_suffix(".bin")
    try:
        with work_dir("ov") as d:
            onnx_path = export_onnx(m, Path(d) / "model.onnx", input_size=input_size, opset=opset,
                                    dynamic_batch=dynamic_batch)
            try:
                ovm = ov.convert_model(str(onnx_path))
                ov.save_model(ovm, str(tmp_xml), compress_to_fp16=False)
            except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError with long messages
                raise ExportError(f"OpenVINO conversion failed: {str(e).strip().splitlines()[0][:300]}") from e
        report = None
        if validate:
            vin = V.inputs_for(inputs, input_size)
            report = V.validate_openvino(tmp_xml, m, vin, precision=precision, tolerance=tolerance,
                                         inference_precision=hint, name=path.name)
        os.replace(tmp_bin, final_bin)
        os.replace(tmp_xml, path)
    except BaseException:
        tmp_xml.unlink(missing_ok=True)
        tmp_bin.unlink(missing_ok=True)
        raise
    n_cls = num_classes_of(m, input_size)
    b = -1 if dynamic_batch else 1
    details = {"format": "openvino", "method": "torch.onnx.export (dynamo=False) -> openvino.convert_model -> "
                                               "openvino.save_model(compress_to_fp16=False)",
               "opset": opset, "dynamic_batch": dynamic_batch, "openvino": openvino_version(),
               "inference_precision_hint": hint, "weights_file": final_bin.name}
    return ExportResult(path=path, format="openvino", precision=precision, input_shape=[b, 3, input_size, input_size],
                        output_shape=[b, n_cls], validation=report, details=details)


def _export(model: nn.Module, path: Path, s: ExportSettings, *, input_size: int, inputs: Any, tolerance: Any,
            log: Any = None) -> ExportResult:
    return to_openvino(model, path, input_size=input_size, opset=s.opset, dynamic_batch=s.dynamic_batch,
                       inference_precision=s.inference_precision, inputs=inputs, tolerance=tolerance)


def _check(s: ExportSettings) -> ExportSettings:
    from dataclasses import replace

    from resnet_opt.engine.openvino_session import bf16_unavailable_reason, openvino_unavailable_reason

    hint = str(s.inference_precision).lower()
    if hint not in ("f32", "bf16"):
        raise ConfigError(f"--precision must be fp32 or bf16, got {s.inference_precision!r}")
    why = openvino_unavailable_reason() or (bf16_unavailable_reason() if hint == "bf16" else None)
    if why:
        raise BackendUnavailableError(why)
    return replace(s, inference_precision=hint)


def _extras(res: ExportResult) -> ExportExtras:
    """Both IR files are listed (open_artifact checks model.bin against its sha256 too), and the OpenVINO section."""
    d = res.details
    return ExportExtras(files=[(d["weights_file"], "weights")],
                        sections={"openvino": {"weights_file": d["weights_file"],
                                               "inference_precision_hint": d["inference_precision_hint"],
                                               "version": d["openvino"]}},
                        versions={"openvino": d["openvino"]})


# kind "openvino" registers this (resnet_opt.core.kinds.openvino)
KIND_EXPORTER = Exporter(title="OpenVINO", export=_export, check=_check, options=frozenset({"inference_precision"}),
                    extras=_extras)
