"""Train stage: data spec + model source -> a run folder holding the best model in our folder format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from resnet_opt.core.errors import DataError
from resnet_opt.data import build_loader, class_names_for, parse_data_spec, preprocessing_for, require_labelled
from resnet_opt.engine import TrainConfig, seed_everything, train
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
    on_epoch: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Train (or fine-tune ``model``) on ``data`` and keep the best epoch in ``out``. Returns a summary.

    ``progress``: a bar per epoch on stderr; ``log``: a line per epoch; ``on_epoch``: called with each
    :class:`~resnet_opt.engine.train.EpochRecord` (see :func:`resnet_opt.engine.train`)."""
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
    train_loader = build_loader(spec, "train", batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed, limit=limit,
                                drop_last=True)
    val_loader = build_loader(spec, "val", batch_size=256)
    out = Path(out)

    def save(m: ResNet, folder: Path) -> None:
        save_model(m, folder, input_size=pre.crop, preprocessing=pre.to_dict(), class_names=names,
                   extra={"data": str(spec)}, in_place=True)

    res = train(model, train_loader, val_loader, cfg, out_dir=out, save_fn=save, resume=resume, teacher=teacher,
                progress=progress, log=log, on_epoch=on_epoch)
    return {"out": str(out), "best_top1": res.best_top1, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
            "seconds": res.seconds, "data": str(spec), "architecture": model.arch.name,
            "history": [h.__dict__ for h in res.history], "config": cfg.__dict__}
