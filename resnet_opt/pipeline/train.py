"""Train stage: data spec + model source -> a run folder holding the best model in our folder format."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from resnet_opt.core.artifact import atomic_dir, check_output_dir
from resnet_opt.core.errors import ConfigError, DataError
from resnet_opt.core.results import StageResult
from resnet_opt.data import build_loader, class_names_for, parse_data_spec, preprocessing_for, require_labelled
from resnet_opt.engine import TrainConfig, distributed, load_train_state, seed_everything, train
from resnet_opt.resnet import ModelSpec, ResNet, model_from_weights, parse_depth, save_model

__all__ = ["TrainStageConfig", "TrainResult", "train_model"]

STATE_FILE = "train_state.pt"


@dataclass
class TrainStageConfig:
    """Everything ``resnet-opt train`` is asked, checked once in :meth:`validate` before any data is read.

    The run folder ``out``: a new (or empty) folder is trained into in place, so an interrupted run can be continued
    with ``resume``. An existing run folder is refused unless ``resume`` (continue it from its ``train_state.pt``) or
    ``overwrite`` (train from scratch into a temporary folder beside it; the old run is replaced only when the new one
    is complete, so an interrupted ``--overwrite`` run leaves the old run intact). A folder resnet-opt did not write
    is never replaced."""

    out: str | os.PathLike
    source: ModelSpec = field(default_factory=lambda: ModelSpec(depth=18))  # --depth or --weights
    data: str = "digits"
    preset: str | None = None
    resume: bool = False
    overwrite: bool = False
    limit: int | None = None
    threads: int | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    stem: str = "imagenet"  # a new model's stem (resnet_opt.resnet.STEMS); --weights decide their own
    zero_init_residual: bool = False  # a new model's residual blocks start as the identity (ResNet.zero_init_residual)

    def validate(self) -> None:
        self._validate()
        from resnet_opt.resnet import parse_stem

        self.stem = parse_stem(self.stem)
        if self.stem != "imagenet" and self.source.weights is not None:
            raise ConfigError("--stem is for a new model; --weights bring their own stem (read from conv1)")
        if self.zero_init_residual and self.source.weights is not None:
            raise ConfigError("--zero-init-residual is for a new model; --weights already set every BatchNorm")

    def _validate(self) -> None:
        from resnet_opt.core.checks import MAX_COUNT, check_int, check_threads

        self.train.validate()
        check_int("--limit", self.limit, 1, MAX_COUNT, optional=True)
        check_threads(self.threads)
        if self.source.model_dir is not None:
            raise ConfigError("train starts from --depth (random init) or --weights FILE; to fine-tune a model "
                              "folder use prune --finetune-epochs or qat")
        if self.source.num_classes is not None:
            raise ConfigError("train takes the class count from its data; leave --num-classes out")
        self.source.validate()
        if self.resume and self.overwrite:
            raise ConfigError("give --resume (continue the run) or --overwrite (start again), not both")
        out = Path(self.out)
        if self.resume:
            if not (out / STATE_FILE).is_file():
                raise ConfigError(f"nothing to resume: {out} has no {STATE_FILE}")
            check_output_dir(out, overwrite=True, what="run folder")
            st = load_train_state(out / STATE_FILE)  # unsafe or corrupt: refused now, not after the data is loaded
            if st["epoch"] > self.train.epochs:
                raise ConfigError(f"{out / STATE_FILE} has run {st['epoch']} epochs but --epochs is "
                                  f"{self.train.epochs}; give at least that many epochs to resume")
        else:
            check_output_dir(out, overwrite=self.overwrite, what="run folder")
        parse_data_spec(self.data, preset=self.preset)


@dataclass
class TrainResult(StageResult):
    """The run folder and its best epoch."""

    out: Path
    best_top1: float
    best_epoch: int
    epochs_run: int
    seconds: float
    data: str
    architecture: str
    history: list[dict[str, Any]]
    config: dict[str, Any]
    distributed: dict[str, Any] | None = None  # under torchrun: world size, backend, launcher

    omit_when_none = ("distributed",)


def train_model(
    config: TrainStageConfig,
    *,
    model: ResNet | None = None,
    teacher: Any = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    on_epoch: Callable[[Any], Any] | None = None,
) -> TrainResult:
    """Train (or fine-tune ``model``) on ``config.data`` and keep the best epoch in ``config.out``.

    ``model``: fine-tune this model instead of building one from ``config.source`` (the prune stage's fine-tune; the
    run folder is then not checked); ``teacher``: distil from it. ``progress``: a bar per epoch on stderr; ``log``: a
    line per epoch; ``on_epoch``: called with each :class:`~resnet_opt.engine.train.EpochRecord` (see
    :func:`resnet_opt.engine.train`)."""
    cfg = config.train
    if model is None:  # a stage run (the CLI): check the run folder and every setting before any work
        config.validate()
    else:
        cfg.validate()
    resume, overwrite, weights, depth = config.resume, config.overwrite, config.source.weights, config.source.depth
    spec = parse_data_spec(config.data, preset=config.preset)
    require_labelled(spec, "training")
    names = class_names_for(spec)
    if not names:
        raise DataError(f"data spec {spec} has no classes")
    if model is None:
        seed_everything(cfg.seed)  # the initial weights are part of a seeded, reproducible run
        if weights is not None:
            model = model_from_weights(weights, depth=parse_depth(depth) if depth is not None else None)
            if model.arch.num_classes != len(names):
                raise DataError(f"weights have {model.arch.num_classes} classes but {spec} has {len(names)}")
        else:
            model = ResNet(parse_depth(depth if depth is not None else 18), num_classes=len(names), stem=config.stem)
            if config.zero_init_residual:
                model.zero_init_residual()
    elif model.arch.num_classes != len(names):
        raise DataError(f"the model has {model.arch.num_classes} classes but {spec} has {len(names)}")
    pre = preprocessing_for(spec)
    out = Path(config.out)

    def save(m: ResNet, folder: Path) -> None:
        save_model(m, folder, input_size=pre.crop, preprocessing=pre.to_dict(), class_names=names,
                   extra={"data": str(spec)}, in_place=True)

    # an existing run replaced with --overwrite: train into a temporary folder, swapped in when complete
    replace = not resume and out.exists() and any(out.iterdir())
    with distributed.session(cfg.device) as ctx:
        per_rank = per_rank_batch(cfg.batch_size, ctx)
        train_loader = build_loader(spec, "train", batch_size=per_rank, shuffle=True, seed=cfg.seed,
                                    limit=config.limit, drop_last=True, replicas=ctx.world_size, rank=ctx.rank)
        val_loader = build_loader(spec, "val", batch_size=256, replicas=ctx.world_size, rank=ctx.rank)
        if log and ctx.enabled and ctx.is_main:
            log(f"{ctx.world_size} processes ({ctx.backend}): {per_rank} images per process per step "
                f"(global batch {cfg.batch_size})")
        # only rank 0 writes: the other ranks never touch the run folder
        swap = replace and ctx.is_main
        with (atomic_dir(out, overwrite=overwrite) if swap else contextlib.nullcontext(out)) as work:
            res = train(model, train_loader, val_loader, cfg, out_dir=Path(work), save_fn=save, resume=resume,
                        teacher=teacher, progress=progress, log=log, on_epoch=on_epoch, dist=ctx)
    return TrainResult(out=out, best_top1=res.best_top1, best_epoch=res.best_epoch, epochs_run=res.epochs_run,
                       seconds=res.seconds, data=str(spec), architecture=model.arch.name,
                       history=[dict(h.__dict__) for h in res.history], config=dict(cfg.__dict__),
                       distributed=ctx.to_dict() if ctx.enabled else None)


def per_rank_batch(batch_size: int, ctx: distributed.DistContext) -> int:
    """``--batch-size`` is the global batch: each of the ``world_size`` processes takes an equal part of it, so a
    multi-process run follows the same recipe (learning rate, steps per epoch) as one process."""
    if batch_size % ctx.world_size:
        raise ConfigError(f"--batch-size {batch_size} (the global batch) must be divisible by the number of "
                          f"processes ({ctx.world_size})")
    return batch_size // ctx.world_size
