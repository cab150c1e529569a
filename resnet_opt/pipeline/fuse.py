"""Fuse stage: model source -> BatchNorm folded into the convs -> a model folder (config.json records
``"fused": true``), checked against the unfused model before it is written."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from resnet_opt.core.errors import ValidationError
from resnet_opt.core.results import StageResult
from resnet_opt.optimize.fuse import fuse_bn, fused_pairs, max_rel_diff
from resnet_opt.resnet import ModelSpec, count_params, save_model

__all__ = ["FuseConfig", "FuseResult", "fuse_model", "FUSE_RTOL"]

FUSE_RTOL = 1e-5  # max |fused - unfused| / max |unfused| on the check inputs


@dataclass
class FuseConfig:
    """The fuse stage's settings, checked once in :meth:`validate` (before the model is loaded)."""

    out: str | os.PathLike
    source: ModelSpec = field(default_factory=ModelSpec)
    check_images: int = 4
    overwrite: bool = True  # the library replaces a previous resnet-opt folder; the CLI asks for --overwrite

    def validate(self) -> None:
        from resnet_opt.core.artifact import check_output_dir
        from resnet_opt.core.checks import check_int

        check_int("check images", self.check_images, 1, 1024)
        self.source.validate()
        check_output_dir(self.out, overwrite=self.overwrite)


@dataclass
class FuseResult(StageResult):
    """The fused model folder and what the check found."""

    out: Path
    architecture: str
    folded: int  # BatchNorms folded into their convs
    max_rel_diff: float  # fused vs unfused logits, relative to the largest unfused logit
    parameters_before: int
    parameters_after: int
    seconds: float
    source: dict[str, Any]


def fuse_model(config: FuseConfig, *, log: Callable[[str], None] | None = None) -> FuseResult:
    """Fold every BN of the source model and save the result as a model folder at ``config.out`` (written
    atomically).

    The fused model is compared with the unfused one on ``check_images`` seeded random inputs at the source's input
    size; a relative difference above ``FUSE_RTOL`` is a ValidationError (nothing is written)."""
    say = log or (lambda _m: None)
    config.validate()
    out, check_images = Path(config.out), config.check_images
    t0 = time.perf_counter()
    src = config.source.load()
    model = src.model.eval()
    pairs = fused_pairs(model)
    fused = fuse_bn(model)
    x = torch.randn(max(1, check_images), 3, src.input_size, src.input_size, generator=torch.Generator().manual_seed(0))
    rel = max_rel_diff(model, fused, x)
    if not rel <= FUSE_RTOL:
        raise ValidationError(f"fused model differs from the original by {rel:.2e} (relative) > {FUSE_RTOL:g}")
    say(f"folded {len(pairs)} BatchNorms into their convs; max relative logit difference {rel:.2e}")
    extra: dict[str, Any] = {"stage": "fuse", "source": src.describe(),
                             "fusion": {"folded": len(pairs), "pairs": [list(p) for p in pairs],
                                        "check": {"inputs": int(x.shape[0]), "input_size": src.input_size,
                                                  "max_rel_diff": rel, "rtol": FUSE_RTOL}}}
    if config.source.model_dir is not None:
        recorded = (config.source.model_config() or {}).get("data")
        if recorded:
            extra["data"] = recorded  # so quantize --model on the fused folder calibrates on the same data
    save_model(fused, out, input_size=src.input_size, preprocessing=src.preprocessing, class_names=src.class_names,
               extra=extra)
    return FuseResult(out=out, architecture=model.arch.name, folded=len(pairs), max_rel_diff=rel,
                      parameters_before=count_params(model), parameters_after=count_params(fused),
                      seconds=time.perf_counter() - t0, source=src.describe())
