"""train command: a ResNet trained on labelled data (best epoch kept, resumable, seeded)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from resnet_opt.cli.app import app
from resnet_opt.cli.choices import Amp, Augment, Optimizer, Stem, choice_option
from resnet_opt.cli.common import (
    DepthOpt, JsonOpt, NprocOpt, ThreadsOpt, WeightsOpt, console, handle_errors, launched, model_spec, print_result,
    set_threads, show_progress,
)
from resnet_opt.core.artifact import to_json


@app.command("train")
@handle_errors
def train_cmd(
    out: Path = typer.Option(..., "--out", help="Run folder: best model (config.json + model.safetensors) and resumable state."),
    depth: DepthOpt = "18",
    data: str = typer.Option("digits", "--data", help="digits[:SIZE], fashion-mnist[:SIZE] or imagefolder:PATH."),
    preset: Optional[str] = typer.Option(None, "--preset", help="ImageNet preprocessing preset for imagefolder: v1 or v2."),
    epochs: int = typer.Option(8, "--epochs"),
    batch_size: int = typer.Option(64, "--batch-size"),
    optimizer: Optimizer = choice_option(Optimizer.adamw, "--optimizer", help="adamw or sgd."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default 1e-3 adamw / 0.1 sgd, ×batch/64)."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay"),
    label_smoothing: float = typer.Option(0.1, "--label-smoothing"),
    warmup_epochs: float = typer.Option(1.0, "--warmup-epochs"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    amp: Amp = choice_option(Amp.off, "--amp", help="Mixed precision: off, bf16 or fp16 (fp16: CUDA only, with a gradient "
                                                   "scaler)."),
    augment: Augment = choice_option(Augment.none, "--augment", help="none, flip-shift (random left-right flips and shifts of "
                                                          "up to 1/8 of the side) or flip-shift-erase (the same, then a "
                                                          "random rectangle erased in half the images: the Fashion-MNIST "
                                                          "recipe)."),
    stem: Stem = choice_option(Stem.imagenet, "--stem", help="imagenet (torchvision's 7x7 stride-2 conv and max pool) or "
                               "small (one 3x3 stride-1 conv, no pool: for 28-32 px images; 16x the stem-to-layer1 "
                               "resolution, recorded in config.json)."),
    zero_init_residual: bool = typer.Option(False, "--zero-init-residual", help="Start every residual block as the "
                                            "identity (its last BatchNorm scale 0): much faster early training for "
                                            "deep bottleneck models such as ResNet-50 from scratch."),
    weights: WeightsOpt = None,
    resume: bool = typer.Option(False, "--resume", help="Continue from the run folder's train_state.pt."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start again over an existing run folder (trained in a "
                                   "temporary folder; the old run is replaced only when the new one is complete)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Train on a seeded subset of this many images."),
    threads: ThreadsOpt = None,
    nproc: NprocOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a ResNet on labelled data (cosine schedule, best checkpoint kept, resumable, seeded).

    Multi-process: --nproc N, or torchrun --nproc-per-node N -m resnet_opt train ... (--batch-size is the global
    batch, split across processes)."""
    from resnet_opt.engine import TrainConfig
    from resnet_opt.pipeline.train import TrainStageConfig, train_model

    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, optimizer=optimizer.value, lr=lr, weight_decay=weight_decay,
                      label_smoothing=label_smoothing, warmup_epochs=warmup_epochs, seed=seed, device=device, amp=amp.value,
                      augment=augment.value)
    stage = TrainStageConfig(out=out, source=model_spec(None, depth, weights), data=data, preset=preset,
                             resume=resume, overwrite=overwrite, limit=limit, threads=threads, train=cfg, stem=stem.value,
                             zero_init_residual=zero_init_residual)
    if launched(nproc, threads, stage):
        return
    set_threads(threads)
    bars = show_progress() and not as_json
    log = None if as_json or bars else (lambda m: console.print(m))
    res = train_model(stage, progress=bars, log=log)  # checks every setting and the run folder before any work
    if as_json:
        typer.echo(to_json(res))
        return
    print_result(f"best val top-1 {res.best_top1:.2f}% at epoch {res.best_epoch} of {res.epochs_run} (that epoch is "
                 f"kept) ({res.seconds:.1f}s)", res.out)
