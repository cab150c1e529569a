"""fuse command: every BatchNorm folded into its conv."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from resnet_opt.cli.app import app
from resnet_opt.cli.common import (
    DepthOpt, JsonOpt, ModelDirOpt, NumClassesOpt, OverwriteOpt, WeightsOpt, handle_errors, model_spec, print_result,
)
from resnet_opt.core.artifact import to_json


@app.command("fuse")
@handle_errors
def fuse_cmd(
    *,
    depth: DepthOpt = None,
    weights: WeightsOpt = None,
    model: ModelDirOpt = None,
    num_classes: NumClassesOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Model folder to write (config.json with \"fused\": true + "
                                                    "model.safetensors).")],
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fold every BatchNorm into its conv (stem, blocks, downsample paths); checked against the unfused model."""
    from resnet_opt.pipeline.fuse import FuseConfig, fuse_model

    source = model_spec(model, depth, weights, num_classes)
    res = fuse_model(FuseConfig(out=out, source=source, overwrite=overwrite))  # validated there before any work
    if as_json:
        typer.echo(to_json(res))
        return
    print_result(f"{res.architecture}: {res.folded} BatchNorms folded, parameters {res.parameters_before:,} "
                 f"-> {res.parameters_after:,}, max relative difference {res.max_rel_diff:.1e}", res.out)
