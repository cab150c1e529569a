"""Quantize stage: model source -> BN fusion -> FP32 ONNX (resnet_opt.export) -> static INT8 (resnet_opt.optimize)
-> measured against FP32 -> an artifact folder (INT8 model file + manifest.json), written atomically.

Targets:

* ``onnx`` (default): onnxruntime QDQ model ``model_int8.onnx`` (per-channel int8 weights; activation type and
  reduce_range from the CPU's instruction set); optional accuracy gate that keeps sensitive layers in FP32;
* ``torch``: PT2E INT8 (torchao ``X86InductorQuantizer``) compiled by AOTInductor into ``model.pt2`` (artifact kind
  ``pt2``), see :mod:`resnet_opt.optimize.quantize_pt2e`;
* ``torchscript-fx`` (legacy): torch.ao FX x86 INT8, traced + frozen TorchScript ``model_int8.ts`` (both APIs are
  deprecated upstream; kept while torch ships them);
* ``openvino``: NNCF (OpenVINO's own quantizer, ``nncf.quantize`` defaults, fast bias correction) on the FP32 model
  converted to OpenVINO, written as an OpenVINO IR ``model.xml`` + ``model.bin`` (artifact kind ``openvino``); the
  accuracy gate through ``nncf.quantize_with_accuracy_control``, see :mod:`resnet_opt.pipeline.quantize_openvino`
  (openvino extra).

Data: calibration images come from the TRAINING split of the data spec (``calib``), eval images from the VAL split,
so the agreement / accuracy figures are never measured on calibration images. A random-init model (``--depth`` only)
is calibrated on synthetic images and only agreement with FP32 is reported (accuracy is not meaningful then).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from resnet_opt.core.artifact import work_dir
from resnet_opt.core.manifest import Architecture, FileEntry, Manifest
from resnet_opt.core.env import cpu_info, library_versions
from resnet_opt.core.errors import ConfigError, DataError, ValidationError
from resnet_opt.core.results import ArtifactResult
from resnet_opt.data import (
    DataSpec, build_loader, class_names_for, num_classes_for, parse_data_spec, preprocessing_for, require_labelled,
)
from resnet_opt.core.registry import kind_table, kinds_by_target
from resnet_opt.engine import accuracy_from_logits, agreement, batched_logits, materialize
from resnet_opt.resnet import ModelSource, ModelSpec
from resnet_opt.resnet.io import nonstandard_widths
from resnet_opt.pipeline.int8_build import (
    Int8Build, Int8Job, batch1_latency, latency_measurements, write_int8_folder,
)

__all__ = ["TARGETS", "FILE_NAMES", "QuantizeConfig", "QuantizeResult", "quantize_model"]

# the targets are the registered kinds' (resnet_opt.core.kinds): each kind with an INT8 builder names its --target,
# and the file it writes is that kind's int8 file (live views of the registry)
TARGETS = kinds_by_target("int8_builder")
KIND_OF_TARGET = kind_table(lambda: {t: i.name for t, i in TARGETS.items()})
FILE_NAMES = kind_table(lambda: {t: i.files["int8"] for t, i in TARGETS.items()})
GATED_TARGETS = ("onnx", "openvino")  # targets with --max-accuracy-drop
DEFAULT_EVAL_LABELLED = 1000
DEFAULT_EVAL_SYNTHETIC = 32


@dataclass
class QuantizeConfig:
    """The quantize stage's settings, each checked once in :meth:`validate` before the model is loaded. ``out`` and
    ``source`` are required by :func:`quantize_model`; a config without them still checks the quantization
    settings (the pipeline builds one before its source exists)."""

    out: str | os.PathLike | None = None
    source: ModelSpec = field(default_factory=ModelSpec)
    overwrite: bool = True  # the library replaces a previous resnet-opt folder; the CLI asks for --overwrite
    target: str = "onnx"
    data: str | None = None  # data spec; default: the model folder's, else synthetic for a random model
    preset: str | None = None  # imagefolder preprocessing preset (v1 / v2)
    calib_size: int = 128  # calibration images, from the training split
    eval_size: int | None = None  # eval images from the val split (default 1000 labelled / 32 synthetic)
    method: str | None = None  # onnx: minmax | percentile | entropy (default percentile); torch(-fx): minmax | histogram
    max_accuracy_drop: float | None = None  # points of top-1; enables the accuracy gate (onnx, openvino targets)
    max_excluded: int | None = None  # layers the gate may keep in FP32 (default a quarter of them)
    per_channel: bool = True
    activation_type: str | None = None  # None: chosen from the CPU
    reduce_range: bool | None = None  # None: chosen from the CPU
    min_agreement: float = 90.0  # top-1 agreement with FP32 (percent) below which a trained model's INT8 is an error
    latency_runs: int = 30
    threads: int | None = None
    opset: int = 17
    seed: int = 0
    sensitivity_images: int = 16  # calibration images used to rank layer sensitivity (gated mode)

    def resolved_method(self) -> str:
        if self.method is not None:
            return str(self.method).strip().lower()
        if self.target == "openvino":
            return "nncf"
        from resnet_opt.optimize.quantize_onnx import DEFAULT_METHOD
        from resnet_opt.optimize.quantize_pt2e import DEFAULT_PT2E_METHOD
        from resnet_opt.optimize.quantize_torch import DEFAULT_TORCH_METHOD

        return {"onnx": DEFAULT_METHOD, "torch": DEFAULT_PT2E_METHOD}.get(self.target, DEFAULT_TORCH_METHOD)

    def validate(self) -> None:
        from resnet_opt.optimize.quantize_onnx import ACTIVATION_TYPES, check_method
        from resnet_opt.optimize.quantize_pt2e import check_pt2e_method
        from resnet_opt.optimize.quantize_torch import check_torch_method

        t = str(self.target).lower()
        if t not in TARGETS:
            raise ConfigError(f"unknown target {self.target!r}; valid: {', '.join(TARGETS)}")
        self.target = t
        if t == "openvino":
            if self.method is not None:
                raise ConfigError("--method applies to the onnx, torch and torchscript-fx targets; the openvino target "
                                  "uses NNCF's own range estimators (nncf.quantize defaults)")
            if self.activation_type is not None or self.reduce_range is not None or not self.per_channel:
                raise ConfigError("--activation-type / --reduce-range / --per-tensor apply to the onnx and torch "
                                  "targets; the openvino target uses NNCF's default preset (symmetric int8)")
        else:
            {"onnx": check_method, "torch": check_pt2e_method}.get(t, check_torch_method)(self.resolved_method())
        if not isinstance(self.calib_size, int) or self.calib_size < 1:
            raise ConfigError(f"--calib-size must be at least 1, got {self.calib_size}")
        if self.eval_size is not None and self.eval_size < 1:
            raise ConfigError(f"--eval-size must be at least 1, got {self.eval_size}")
        if self.max_accuracy_drop is not None:
            if not math.isfinite(self.max_accuracy_drop) or self.max_accuracy_drop < 0:
                raise ConfigError(f"--max-accuracy-drop must be a non-negative number of top-1 points, "
                                  f"got {self.max_accuracy_drop}")
            if t not in GATED_TARGETS:
                raise ConfigError("--max-accuracy-drop is available for the onnx target (it keeps layers in FP32 "
                                  "through onnxruntime's nodes_to_exclude) and the openvino target "
                                  "(nncf.quantize_with_accuracy_control)")
        if self.max_excluded is not None and self.max_excluded < 0:
            raise ConfigError(f"--max-excluded must be at least 0, got {self.max_excluded}")
        if self.activation_type is not None and str(self.activation_type).lower() not in ACTIVATION_TYPES:
            raise ConfigError(f"unknown activation type {self.activation_type!r}; valid: {', '.join(ACTIVATION_TYPES)}")
        if t == "torchscript-fx" and (self.activation_type not in (None, "uint8") or self.reduce_range is False
                                      or not self.per_channel):
            raise ConfigError("--activation-type / --reduce-range / --per-tensor apply to the ONNX and torch targets "
                              "(torchscript-fx uses torch's fixed x86 qconfig)")
        if t == "torch" and (self.activation_type not in (None, "uint8") or not self.per_channel):
            raise ConfigError("the torch (PT2E) target uses uint8 activations and per-channel weights "
                              "(X86InductorQuantizer); --activation-type / --per-tensor apply to the ONNX target")
        from resnet_opt.core.checks import check_float, check_int, check_threads

        check_float("--min-agreement", self.min_agreement, 0.0, 100.0)
        check_int("--latency-runs", self.latency_runs, 1, 100_000)
        check_threads(self.threads)
        if self.sensitivity_images < 1:
            raise ConfigError(f"sensitivity images must be at least 1, got {self.sensitivity_images}")
        from resnet_opt.export import check_opset

        check_opset(self.opset)
        if self.data is not None:
            spec = parse_data_spec(self.data, preset=self.preset)
        self.source.validate()
        if self.data is not None and self.source.model_dir is not None:
            from resnet_opt.data import fit_data_to_model

            fit_data_to_model(spec, int((self.source.model_config() or {}).get("input_size") or 224),
                              f"the model {self.source.model_dir}")
        if self.out is not None:
            from resnet_opt.core.artifact import check_output_dir

            check_output_dir(self.out, overwrite=self.overwrite)
        if t == "openvino":  # last: a bad setting is reported first, a missing extra before any work
            from resnet_opt.engine.openvino_session import openvino_unavailable_reason
            from resnet_opt.optimize.quantize_nncf import nncf_unavailable_reason

            why = openvino_unavailable_reason() or nncf_unavailable_reason()
            if why:
                from resnet_opt.core.errors import BackendUnavailableError

                raise BackendUnavailableError(why)


@dataclass
class QuantizeResult(ArtifactResult):
    """The INT8 artifact folder, its typed manifest, and the headline figures (all also in the manifest):
    accuracy on the val split (``None`` without labels), agreement with FP32, batch-1 latencies (ms, by model)."""

    top1_agreement: float = 0.0
    max_abs_diff: float = 0.0
    eval_images: int = 0
    accuracy_meaningful: bool = False
    fp32_top1: float | None = None
    int8_top1: float | None = None
    top1_drop: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    threads: int = 0
    size_bytes: dict[str, float] = field(default_factory=dict)
    excluded_layers: list[str] = field(default_factory=list)
    note: str | None = None
    compile: dict[str, Any] | None = None


# ---------------------------------------------------------------- helpers
def _resolve_data(cfg: QuantizeConfig, src: ModelSource, model_dir: str | os.PathLike | None) -> tuple[DataSpec, str]:
    """The data spec and where it came from ("option", "model folder", "synthetic")."""
    if cfg.data:
        return parse_data_spec(cfg.data, preset=cfg.preset), "option"
    if src.kind == "model_dir" and model_dir is not None:
        recorded = (src.config or {}).get("data")  # the config read once when the source was checked
        if recorded:
            return parse_data_spec(str(recorded), preset=cfg.preset), "model folder"
        raise ConfigError(f"model folder {model_dir} does not record its data spec; pass --data (e.g. digits or "
                          "imagefolder:PATH) to calibrate on real images")
    if src.kind == "weights":
        raise ConfigError("--weights needs --data to calibrate on real images (e.g. --data imagefolder:PATH); "
                          "--data synthetic calibrates on noise (latency only)")
    return parse_data_spec(f"synthetic:{src.input_size}"), "synthetic (random-init model)"


# ---------------------------------------------------------------- the stage
def quantize_model(config: QuantizeConfig, *, progress: bool = False,
                   log: Callable[[str], None] | None = None) -> QuantizeResult:
    """Quantize the model of ``config.source`` to INT8 and write the artifact folder ``config.out``.

    Returns the typed manifest written and the headline figures. Raises typed errors (nothing is written then)."""
    cfg = config
    cfg.validate()
    if cfg.out is None:
        raise ConfigError("quantize needs an output folder (--out)")
    say = log or (lambda _m: None)
    threads = int(cfg.threads or torch.get_num_threads())
    t_start = time.perf_counter()
    p = _prepare(cfg, progress, say)
    with work_dir("quantize") as td:
        fname = FILE_NAMES[cfg.target]
        job = Int8Job(cfg=cfg, method=cfg.resolved_method(), fused=p.fused, size=p.size, calib=p.calib,
                      x_eval=p.x_eval, y_eval=p.y_eval, fp32_ref=p.fp32_ref, meaningful=p.meaningful,
                      threads=threads, work=Path(td), qpath=Path(td) / fname, progress=progress, say=say)
        build = TARGETS[cfg.target].resolve("int8_builder")(job)
        validation, agr = _validation(cfg, p, build)
        say(f"measuring batch-1 latency ({cfg.latency_runs} runs each, {threads} threads) ...")
        lat = batch1_latency(p.model, build, p.size, cfg.latency_runs)
        fp32_size, int8_size = int(build.fp32_size or 0), build.size_bytes
        measurements = {
            "size_bytes": {"fp32": fp32_size, "int8": int8_size, "ratio": fp32_size / max(int8_size, 1),
                           "fp32_file": build.fp32_file},
            **latency_measurements(lat, size=p.size, threads=threads, runs=cfg.latency_runs),
            "cpu_note": ("this CPU has VNNI" if cpu_info().get("vnni") else
                         "this CPU has no VNNI (AVX2 u8s8 kernels): INT8 speed-ups here are well below VNNI/AMX CPUs'"),
        }
        quant = {**build.quant, "target": cfg.target,
                 "calibration": {"data": str(p.spec), "data_from": p.data_from,
                                 "split": "train" if p.spec.labelled else "synthetic", "images": len(p.calib),
                                 "requested": cfg.calib_size, "seed": cfg.seed}}
        if build.gate is not None:
            quant["accuracy_gate"] = build.gate
        sections: dict[str, Any] = {"quantization": quant, "seconds": time.perf_counter() - t_start,
                                    **build.sections}
        if build.compile is not None:
            sections["compile"] = build.compile
            measurements["load_ms"] = build.compile.get("load_ms")
        manifest = Manifest.for_quantized(
            kind=KIND_OF_TARGET[cfg.target], file=fname, stage="quantize", source=p.src.manifest_source(),
            architecture=Architecture.of_model(p.model, widths=nonstandard_widths(p.model), fused=True),
            input_size=p.size, preprocessing=p.pre, class_names=p.class_names, validation=validation,
            measurements=measurements, sections=sections,
            more_files=[FileEntry(n, role=r) for n, r in build.companions],
            versions={**library_versions(), **build.versions}, cpu=cpu_info())
        written = write_int8_folder(cfg.out, build, manifest)
    return QuantizeResult(
        out=Path(cfg.out), manifest=written, seconds=sections["seconds"], top1_agreement=agr["top1_agreement"],
        max_abs_diff=agr["max_abs_diff"], eval_images=int(p.x_eval.shape[0]), accuracy_meaningful=p.meaningful,
        fp32_top1=validation.get("fp32_top1"), int8_top1=validation.get("int8_top1"),
        top1_drop=validation.get("top1_drop"), latency_ms=dict(lat), threads=threads,
        size_bytes={k: v for k, v in measurements["size_bytes"].items() if k != "fp32_file"},
        excluded_layers=list(quant.get("excluded_layers") or []), note=validation.get("note"),
        compile=sections.get("compile"))


@dataclass
class _Prepared:
    """The quantize stage's inputs once checked: the source and its (fused) model, the data spec and where it came
    from, preprocessing, input size, calibration reader, eval images with labels and FP32 reference logits."""

    src: ModelSource
    model: Any
    fused: Any
    spec: DataSpec
    data_from: str
    pre: Any
    size: int
    meaningful: bool
    class_names: list[str] | None
    calib: Any
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    fp32_ref: torch.Tensor


def _prepare(cfg: QuantizeConfig, progress: bool, say: Callable[[str], None]) -> _Prepared:
    """Load the source, resolve and check the data against it, and gather the calibration and eval images and the
    FP32 reference logits."""
    model_dir = cfg.source.model_dir
    src = cfg.source.load()
    model = src.model.eval()
    spec, data_from = _resolve_data(cfg, src, model_dir)
    if src.kind == "model_dir":  # the model has its own input size: the data must match it (never a silent resize)
        from resnet_opt.data import fit_data_to_model

        spec = fit_data_to_model(spec, src.input_size, f"the model {model_dir}")
    if cfg.max_accuracy_drop is not None:
        require_labelled(spec, "--max-accuracy-drop")
        if not src.trained:
            raise ConfigError("--max-accuracy-drop needs a trained model (--weights or --model): the accuracy of a "
                              "random-init model means nothing")
    n_data = num_classes_for(spec)
    if n_data is not None and n_data != model.arch.num_classes:
        raise DataError(f"the model predicts {model.arch.num_classes} classes but {spec} has {n_data}")
    if spec.kind == "synthetic":
        pre = src.preprocessing
        size = int(spec.size or src.input_size)
        if pre is None or pre.crop != size:
            pre = preprocessing_for(spec)
    else:
        p = preprocessing_for(spec)
        pre, size = p, int(p.crop)
    labelled = spec.labelled
    meaningful = labelled and src.trained
    class_names = src.class_names or (class_names_for(spec) if labelled else None)
    eval_size = cfg.eval_size or (DEFAULT_EVAL_LABELLED if labelled else DEFAULT_EVAL_SYNTHETIC)
    said_from = {"option": "from --data", "model folder": "recorded in the model folder"}.get(data_from, data_from)
    say(f"quantizing {model.arch.name}{' (fused)' if model.arch.fused else ''} from {src.label}: "
        f"{model.arch.num_classes} classes, {size} px input; calibration data {spec} ({said_from})")
    if not src.trained:
        say("random-init model: calibration on synthetic images; accuracy figures are NOT meaningful, agreement only")

    # data: calibration from the training split, evaluation from the val split
    from resnet_opt.optimize.quantize_onnx import ImageDataReader

    calib = ImageDataReader(build_loader(spec, "calib", batch_size=32, limit=cfg.calib_size, seed=cfg.seed),
                            limit=cfg.calib_size, source="training" if labelled else "synthetic")
    x_eval, y_eval = materialize(build_loader(spec, "val", batch_size=64, limit=eval_size, seed=cfg.seed))
    if int(x_eval.shape[-1]) != size or int(calib.images[0].shape[-1]) != size:
        raise DataError(f"data {spec} gives {int(x_eval.shape[-1])} px images but the model input is {size} px")

    from resnet_opt.optimize import fuse_bn

    fused = fuse_bn(model)
    fp32_ref = batched_logits(model, x_eval, progress=progress, description="evaluating FP32 (PyTorch)")
    if not torch.isfinite(fp32_ref).all():
        raise ValidationError("the FP32 model produces non-finite logits on the eval images")

    return _Prepared(src=src, model=model, fused=fused, spec=spec, data_from=data_from, pre=pre, size=size,
                     meaningful=meaningful, class_names=class_names, calib=calib, x_eval=x_eval, y_eval=y_eval,
                     fp32_ref=fp32_ref)


def _validation(cfg: QuantizeConfig, p: _Prepared, build: Int8Build) -> tuple[dict[str, Any], dict[str, float]]:
    """The INT8 logits judged against FP32 on the eval images (never the calibration images): the manifest's
    validation section and the agreement; a trained model below ``--min-agreement`` is an error."""
    from resnet_opt.runtime import runtime_name

    int8_logits = build.int8_logits
    if not torch.isfinite(int8_logits).all():
        raise ValidationError("the INT8 model produces non-finite logits on the eval images")
    agr = agreement(p.fp32_ref, int8_logits)
    labelled, n = p.spec.labelled, int(p.x_eval.shape[0])
    validation: dict[str, Any] = {
        "reference": "PyTorch FP32 (the source model, already fused)" if p.model.arch.fused
                     else "PyTorch FP32 (the unfused source model)",
        "runtime": runtime_name(KIND_OF_TARGET[cfg.target], "cpu"),  # what ran the INT8 model for these figures
        "eval": {"data": str(p.spec), "split": "val" if labelled else "synthetic (seed differs from calibration)",
                 "images": n},
        "top1_agreement": agr["top1_agreement"],
        "max_abs_diff": agr["max_abs_diff"],
        "max_rel_diff": agr["max_rel_diff"],
        "fp32_export_max_rel_diff": build.fp32_check,
        "accuracy_meaningful": p.meaningful,
        "min_agreement": cfg.min_agreement if p.src.trained else None,
    }
    if labelled:
        a32, a8 = accuracy_from_logits(p.fp32_ref, p.y_eval), accuracy_from_logits(int8_logits, p.y_eval)
        validation.update(fp32_top1=a32.top1, int8_top1=a8.top1, top1_drop=a32.top1 - a8.top1,
                          fp32_top5=a32.top5, int8_top5=a8.top5)
    if not p.meaningful:
        validation["note"] = ("random-init model: accuracy figures are not meaningful; only agreement with FP32 is "
                              "reported" if not p.src.trained else
                              "unlabelled (synthetic) data: only agreement with FP32 is reported")
    if p.src.trained and agr["top1_agreement"] < cfg.min_agreement:
        raise ValidationError(
            f"INT8 model agrees with FP32 on only {agr['top1_agreement']:.1f}% of {n} eval "
            f"images (< --min-agreement {cfg.min_agreement:g}%); try another --method, more --calib-size, or "
            "--max-accuracy-drop to keep sensitive layers in FP32")
    return validation, agr
