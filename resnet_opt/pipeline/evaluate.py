"""Evaluate a model folder or an exported artifact on labelled data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from resnet_opt.core.errors import ArtifactError, DataError
from resnet_opt.data import build_loader, num_classes_for, parse_data_spec, require_labelled
from resnet_opt.engine import distributed, evaluate, reduce_result
from resnet_opt.resnet import is_model_dir, load_model


def evaluate_path(path: str | os.PathLike, data: str = "digits", *, preset: str | None = None, split: str = "val",
                  batch_size: int = 64, limit: int | None = None, provider: str = "cpu",
                  progress: bool = False) -> dict[str, Any]:
    spec = parse_data_spec(data, preset=preset)
    require_labelled(spec, "evaluation")
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"model or artifact {p} does not exist")
    if is_model_dir(p):
        model = load_model(p)
        fn: Any = model
        n_out = model.arch.num_classes
        kind = "model"
    else:
        from resnet_opt.runtime import load as load_artifact  # exported artifacts (ONNX / TorchScript)

        pred = load_artifact(p, provider=provider)
        fn = pred.logits
        n_out = pred.num_classes
        kind = pred.kind
    n_data = num_classes_for(spec)
    if n_out is not None and n_data is not None and n_out != n_data:
        raise DataError(f"{p} predicts {n_out} classes but {spec} has {n_data}")
    with distributed.session("cpu") as ctx:
        loader = build_loader(spec, split, batch_size=batch_size, limit=limit, replicas=ctx.world_size,
                              rank=ctx.rank)
        r = reduce_result(evaluate(fn, loader, progress=progress and ctx.is_main), ctx)
    res = {"model": str(p), "kind": kind, "data": str(spec), "split": split, **r.to_dict()}
    if ctx.enabled:
        res["distributed"] = ctx.to_dict()
    return res
