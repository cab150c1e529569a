"""Evaluate a model folder or an exported artifact on labelled data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_opt.core.errors import ArtifactError, DataError
from resnet_opt.core.manifest import open_artifact
from resnet_opt.core.results import StageResult
from resnet_opt.data import (build_loader, fit_data_to_model, num_classes_for, parse_data_spec, report_split,
                             require_labelled, require_split)
from resnet_opt.engine import distributed, evaluate, reduce_result
from resnet_opt.runtime import load_artifact, runtime_name

__all__ = ["EvalConfig", "EvalResult", "evaluate_path"]

SPLITS = ("auto", "test", "val", "train", "calib")


@dataclass
class EvalConfig:
    """The eval stage's settings, each checked once in :meth:`validate` before the model is loaded."""

    model: str | os.PathLike
    data: str = "digits"
    preset: str | None = None
    split: str = "auto"  # the test split where the data has one (fashion-mnist, imagefolder with test/), else val
    batch_size: int = 64
    limit: int | None = None
    provider: str = "cpu"
    threads: int | None = None

    def validate(self) -> None:
        from resnet_opt.core.checks import MAX_COUNT, check_batch_size, check_choice, check_int, check_threads
        from resnet_opt.runtime import check_runtime_provider

        self.split = check_choice("split", self.split, SPLITS)
        spec = parse_data_spec(self.data, preset=self.preset)
        self.split = report_split(spec) if self.split == "auto" else self.split
        require_split(spec, self.split)  # before the model is loaded
        check_batch_size(self.batch_size)
        check_int("--limit", self.limit, 1, MAX_COUNT, optional=True)
        check_threads(self.threads)
        self.provider = check_runtime_provider(self.provider)
        require_labelled(parse_data_spec(self.data, preset=self.preset), "evaluation")
        p = Path(self.model)
        if not p.exists():
            raise ArtifactError(f"model or artifact {p} does not exist")
        if not p.is_dir():
            from resnet_opt.core.manifest import folder_of_file

            p = folder_of_file(p)  # a file of an artifact or model folder: that folder, else an error naming it
            self.model = p
        if (p / "config.json").is_file() and not (p / "manifest.json").is_file():
            from resnet_opt.resnet import check_source_args

            check_source_args(model_dir=p)  # a model folder: its config and weights file, named precisely


@dataclass
class EvalResult(StageResult):
    """Top-1 / top-5 of one model or artifact on one split of a data spec."""

    model: Path
    kind: str
    data: str
    split: str
    top1: float
    top5: float
    count: int
    provider: str = "cpu"  # the execution provider asked for (ONNX / OpenVINO artifacts); torch kinds run on the CPU
    runtime: str = ""  # the runtime that ran it: onnxruntime CPU, OpenVINO CPU, PyTorch CPU ...
    # an INT8 artifact run on a runtime other than the one its manifest's figures came from: that runtime and its
    # figures ({"runtime", "top1", "images", "split"}), and a note that says so (INT8 kernels differ between runtimes)
    validated: dict[str, Any] | None = None
    note: str | None = None
    distributed: dict[str, Any] | None = None  # under torchrun: world size, backend, launcher

    omit_when_none = ("distributed", "validated", "note")


def evaluate_path(config: EvalConfig, *, progress: bool = False) -> EvalResult:
    """Evaluate the model folder or artifact ``config.model`` on ``config.data`` (its ``split``)."""
    cfg = config
    cfg.validate()
    spec = parse_data_spec(cfg.data, preset=cfg.preset)
    art = open_artifact(cfg.model)  # every kind, one opener (manifest and file hashes checked)
    pred = load_artifact(art, provider=cfg.provider)  # the data spec brings its own preprocessing
    fn: Any = pred.logits
    n_out = pred.num_classes
    p = art.path
    n_data = num_classes_for(spec)
    if n_out is not None and n_data is not None and n_out != n_data:
        raise DataError(f"{p} predicts {n_out} classes but {spec} has {n_data}")
    if spec.kind == "imagefolder" and cfg.preset is None and getattr(pred, "preprocessing", None) is not None:
        import dataclasses

        spec = dataclasses.replace(spec, preprocessing=pred.preprocessing)  # ordinary images, prepared as recorded
    size = art.manifest.input_size or pred.input_size
    if size is not None:  # data of another size is refused, never resized silently
        spec = fit_data_to_model(spec, int(size), f"{art.kind} {art.path}")
    with distributed.session("cpu") as ctx:
        loader = build_loader(spec, cfg.split, batch_size=cfg.batch_size, limit=cfg.limit, replicas=ctx.world_size,
                              rank=ctx.rank)
        r = reduce_result(evaluate(fn, loader, progress=progress and ctx.is_main), ctx)
    ran = runtime_name(art.kind, getattr(pred, "provider", cfg.provider))
    v = art.manifest.validation
    validated, note = _other_runtime(art.kind, art.manifest.precision, v.to_dict() if v is not None else None, ran)
    return EvalResult(model=Path(p), kind=art.kind, data=str(spec), split=cfg.split, top1=r.top1, top5=r.top5,
                      count=r.count, provider=cfg.provider, runtime=ran, validated=validated, note=note,
                      distributed=ctx.to_dict() if ctx.enabled else None)


def _other_runtime(kind: str, precision: str, validation: dict[str, Any] | None,
                   ran: str) -> tuple[dict[str, Any] | None, str | None]:
    """For an INT8 artifact run on ``ran`` when its validation figures came from another runtime: that runtime's
    figures and one note. Manifests from before ``validation.runtime`` was recorded ran it on their kind's own
    runtime on the CPU (quantize and qat validate there)."""
    v = validation or {}
    if str(precision).lower() != "int8" or not v:
        return None, None
    on = v.get("runtime") or runtime_name(kind, "cpu")
    if on == ran:
        return None, None
    ev = v.get("eval") or {}
    top1 = v.get("int8_top1") if v.get("accuracy_meaningful", True) else None
    validated = {"runtime": on, "top1": top1, "images": ev.get("images"), "split": ev.get("split")}
    at = ""
    if isinstance(top1, (int, float)):
        at = f" at top-1 {top1:.2f}%"
        if ev.get("images"):
            at += f" on {ev['images']} {ev.get('split') or 'eval'} images"
    return validated, f"INT8 kernels differ between runtimes: validated on {on}{at}; this ran on {ran}"
