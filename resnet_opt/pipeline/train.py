"""Train stage: data spec + model source -> a run folder holding the best model in our folder format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from resnet_opt.core.errors import ConfigError, DataError
from resnet_opt.data import build_loader, class_names_for, parse_data_spec, preprocessing_for, require_labelled
from resnet_opt.engine import TrainConfig, distributed, seed_everything, train
from resnet_opt.resnet import ResNet, model_from_weights, parse_depth, save_model


def train_model(
    *,
    depth: int | str | None = 18,
    data: str = "digits",
    out: str | os.PathLike,
    config: TrainConfig | None = None,
    preset: str | None = None,
    weights: str | os.PathLike | None = None,
    model: ResNet | None = None,
    resume: bool = False,
    limit: int | None = None,
    teacher: Any = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train (or fine-tune ``model``) on ``data`` and keep the best epoch in ``out``. Returns a summary."""
    cfg = config or TrainConfig()
    cfg.validate()
    spec = parse_data_spec(data, preset=preset)
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
            model = ResNet(parse_depth(depth if depth is not None else 18), num_classes=len(names))
    elif model.arch.num_classes != len(names):
        raise DataError(f"the model has {model.arch.num_classes} classes but {spec} has {len(names)}")
    pre = preprocessing_for(spec)
    out = Path(out)

    def save(m: ResNet, folder: Path) -> None:
        save_model(m, folder, input_size=pre.crop, preprocessing=pre.to_dict(), class_names=names,
                   extra={"data": str(spec)}, in_place=True)

    with distributed.session(cfg.device) as ctx:
        per_rank = per_rank_batch(cfg.batch_size, ctx)
        train_loader = build_loader(spec, "train", batch_size=per_rank, shuffle=True, seed=cfg.seed, limit=limit,
                                    drop_last=True, replicas=ctx.world_size, rank=ctx.rank)
        val_loader = build_loader(spec, "val", batch_size=256, replicas=ctx.world_size, rank=ctx.rank)
        if log and ctx.enabled and ctx.is_main:
            log(f"{ctx.world_size} processes ({ctx.backend}): {per_rank} images per process per step "
                f"(global batch {cfg.batch_size})")
        res = train(model, train_loader, val_loader, cfg, out_dir=out, save_fn=save, resume=resume, teacher=teacher,
                    progress=progress, log=log, dist=ctx)
    summary = {"out": str(out), "best_top1": res.best_top1, "best_epoch": res.best_epoch,
               "epochs_run": res.epochs_run, "seconds": res.seconds, "data": str(spec),
               "architecture": model.arch.name, "history": [h.__dict__ for h in res.history],
               "config": cfg.__dict__}
    if ctx.enabled:
        summary["distributed"] = ctx.to_dict()
    return summary


def per_rank_batch(batch_size: int, ctx: distributed.DistContext) -> int:
    """``--batch-size`` is the global batch: each of the ``world_size`` processes takes an equal part of it, so a
    multi-process run follows the same recipe (learning rate, steps per epoch) as one process."""
    if batch_size % ctx.world_size:
        raise ConfigError(f"--batch-size {batch_size} (the global batch) must be divisible by the number of "
                          f"processes ({ctx.world_size})")
    return batch_size // ctx.world_size
