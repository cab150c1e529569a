"""eval command: top-1 / top-5 of a model or artifact on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from resnet_opt.cli.app import app
from resnet_opt.cli.choices import EvalSplit, choice_option
from resnet_opt.cli.common import (
    JsonOpt, NprocOpt, ThreadsOpt, console, handle_errors, launched, set_threads, show_progress,
)
from resnet_opt.core.artifact import to_json


@app.command("eval")
@handle_errors
def eval_cmd(
    model: Path = typer.Option(..., "--model", help="A model folder, or an exported artifact folder (ONNX / TorchScript)."),
    data: str = typer.Option("digits", "--data", help="digits[:SIZE], fashion-mnist[:SIZE] or imagefolder:PATH "
                                                       "(labelled)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="ImageNet preprocessing preset for imagefolder: v1 or v2."),
    split: EvalSplit = choice_option(EvalSplit.auto, "--split", help="auto (test where the data has a test split, as fashion-mnist "
                                                      "does; else val), test, val, train or calib."),
    batch_size: int = typer.Option(64, "--batch-size"),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate a seeded subset of this many images."),
    provider: str = typer.Option("cpu", "--provider", help="For ONNX artifacts: cpu, cuda, tensorrt, openvino or auto."),
    threads: ThreadsOpt = None,
    nproc: NprocOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Top-1, top-5 and image count of a model or artifact on labelled data (under torchrun / --nproc each process
    evaluates a share of the images and the counts are summed)."""
    from resnet_opt.pipeline.evaluate import EvalConfig, evaluate_path

    cfg = EvalConfig(model=model, data=data, preset=preset, split=split.value, batch_size=batch_size, limit=limit,
                     provider=provider, threads=threads)
    set_threads(threads)
    if launched(nproc, threads, cfg):
        return
    res = evaluate_path(cfg, progress=show_progress() and not as_json)  # validated there before any work
    if as_json:
        typer.echo(to_json(res))
        return
    console.print(f"top-1 {res.top1:.2f}%  top-5 {res.top5:.2f}%  images {res.count}  ({res.model} on {res.data} "
                  f"{res.split} split, run by {res.runtime})")
    if res.note:
        console.print(f"note: {res.note}")
