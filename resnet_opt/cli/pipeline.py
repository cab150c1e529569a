"""pipeline command: train (or load), prune, quantize, export and benchmark in one run, one report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from resnet_opt.cli.app import app
from resnet_opt.cli.choices import Importance, choice_option
from resnet_opt.cli.bench import headline, parse_batch_sizes, print_comparison
from resnet_opt.cli.common import (
    JsonOpt, ModelDirOpt, OverwriteOpt, ThreadsOpt, WeightsOpt, console, handle_errors, print_result, show_progress,
)
from resnet_opt.core.artifact import to_json


@app.command("pipeline")
@handle_errors
def pipeline_cmd(
    out: Path = typer.Option(..., "--out", help="Folder for every stage's output and the final report."),
    depth: Optional[str] = typer.Option(None, "--depth", help="ResNet depth to train (default 18); with --weights, "
                                                                "the depth of the weights (default: inferred)."),
    data: str = typer.Option("digits", "--data", help="digits[:SIZE], fashion-mnist[:SIZE] or imagefolder:PATH (labelled)."),
    model: ModelDirOpt = None,
    weights: WeightsOpt = None,
    epochs: int = typer.Option(8, "--epochs", help="Training epochs (when training from scratch)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Train on a seeded subset of this many images."),
    prune: Optional[float] = typer.Option(None, "--prune", help="Prune this fraction of channels (0 < r < 1)."),
    finetune_epochs: int = typer.Option(3, "--finetune-epochs", help="Fine-tune epochs after pruning."),
    distill: bool = typer.Option(False, "--distill", help="Fine-tune with distillation from the unpruned model."),
    importance: Importance = choice_option(Importance.taylor, "--importance", help="Pruning importance: taylor (default), "
                                                                                 "l1, l2 or group."),
    calib_size: int = typer.Option(128, "--calib-size", help="Calibration images for INT8 quantization."),
    method: Optional[str] = typer.Option(None, "--method", help="ONNX INT8 calibration: minmax, percentile or entropy "
                                                                "(default: the quantize stage's)."),
    triton: bool = typer.Option(False, "--triton", help="End with a Triton model repository of the ONNX FP32 "
                                                       "artifact (OUT/triton; see `export triton`)."),
    torch_int8: bool = typer.Option(True, "--torch-int8/--no-torch-int8", help="Also build the PyTorch INT8 artifact "
                                    "(PT2E, an AOTInductor .pt2 package)."),
    pt2: bool = typer.Option(True, "--pt2/--no-pt2", help="Also export the FP32 AOTInductor .pt2 package (a C++ "
                             "compile: about a minute for ResNet-18 on 2 cores)."),
    backends: str = typer.Option("cpu,cuda", "--backends", help="Backends to benchmark on (see `bench`)."),
    batch_sizes: str = typer.Option("1,32", "--batch-sizes", help="Batch sizes to benchmark."),
    iterations: int = typer.Option(30, "--iterations", help="Timed runs per batch size (at most)."),
    time_budget: float = typer.Option(5.0, "--time-budget", help="Seconds per (variant, backend, batch size) cell."),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", help="Validation images for accuracy (default: all)."),
    seed: int = typer.Option(0, "--seed"),
    threads: ThreadsOpt = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train (or load), prune, fine-tune, quantize, export, validate and benchmark; one report comparing every variant."""
    from resnet_opt.bench import parse_backends
    from resnet_opt.pipeline.pipeline import PipelineConfig, run_pipeline

    specs = parse_backends(backends)
    bss = parse_batch_sizes(batch_sizes)
    from resnet_opt.resnet import ModelSpec

    cfg = PipelineConfig(out=out, source=ModelSpec(depth=depth, model_dir=model, weights=weights), data=data,
                         overwrite=overwrite,
                         epochs=epochs,
                         limit=limit, prune=prune, finetune_epochs=finetune_epochs, distill=distill,
                         importance=importance.value,
                         calib_size=calib_size, method=method, torch_int8=torch_int8, triton=triton, pt2=pt2,
                         backends=[b.name for b in specs], batch_sizes=bss, iterations=iterations,
                         time_budget_s=time_budget, eval_limit=eval_limit, seed=seed, threads=threads)
    log = None if as_json else (lambda m: console.print(m))
    res = run_pipeline(cfg, progress=show_progress() and not as_json, log=log)
    if as_json:
        typer.echo(to_json(res.summary()))
    else:
        print_comparison(res.bench, title=res.bench.title)
        for line in headline(res.bench):
            console.print(line)
        built = ", ".join(f"{Path(s.out).name}/" for s in res.stages
                          if s.status == "ok" and s.out and s.name != "benchmark")
        print_result(f"built {built or 'nothing'} ({res.seconds:.0f}s in all)", f"{res.out}/")
        print_result("report", res.report_paths["markdown"])
    if res.failed:
        names = ", ".join(f"{s.name} ({s.error})" for s in res.failed)
        typer.echo(f"error: {len(res.failed)} stage(s) failed: {' '.join(names.split())}", err=True)
        raise typer.Exit(1)
