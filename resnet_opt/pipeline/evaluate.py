"""Evaluate a model folder or an exported artifact on labelled data."""

from __future__ import annotations

import os
from typing import Any

from resnet_opt.core.errors import DataError
from resnet_opt.core.manifest import open_artifact
from resnet_opt.data import build_loader, input_size_for, num_classes_for, parse_data_spec, require_labelled
from resnet_opt.engine import distributed, evaluate, reduce_result
from resnet_opt.runtime import load_artifact


def evaluate_path(path: str | os.PathLike, data: str = "digits", *, preset: str | None = None, split: str = "val",
                  batch_size: int = 64, limit: int | None = None, provider: str = "cpu",
                  progress: bool = False) -> dict[str, Any]:
    spec = parse_data_spec(data, preset=preset)
    require_labelled(spec, "evaluation")
    art = open_artifact(path)  # every kind, one opener (manifest and file hashes checked)
    want, given = art.manifest.input_size, input_size_for(spec)
    if want is not None and given is not None and want != given:
        raise DataError(f"{art.path} takes {want} px images but {spec} gives {given} px; evaluate it with data of "
                        f"its own size (e.g. digits:{want})" if spec.kind == "digits" else
                        f"{art.path} takes {want} px images but {spec} gives {given} px")
    pred = load_artifact(art, provider=provider)  # the data spec brings its own preprocessing
    fn: Any = pred.logits
    n_out = pred.num_classes
    kind = art.kind
    p = art.path
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
