"""optimize command: the fastest artifact for this machine within an accuracy budget, found automatically."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from resnet_opt.cli.app import app
from resnet_opt.cli.choices import Importance, choice_option
from resnet_opt.cli.common import (
    DepthOpt, JsonOpt, NumClassesOpt, ThreadsOpt, WeightsOpt, console, handle_errors, model_spec, set_threads,
    show_progress,
)
from resnet_opt.core.artifact import to_json
from resnet_opt.core.errors import ReportBudgetError


def _ratios(text: Optional[str]) -> Any:
    if text is None:
        return None
    from resnet_opt.core.errors import ConfigError

    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--ratios must be comma-separated numbers in (0, 1), e.g. 0.25,0.5,0.75; got {text!r}") \
            from None


@app.command("optimize")
@handle_errors
def optimize_cmd(
    *,
    depth: DepthOpt = None,
    weights: WeightsOpt = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="A trained resnet-opt model folder (train / prune "
                                                                 "output) to optimize.")] = None,
    num_classes: NumClassesOpt = None,
    out: Path = typer.Option(..., "--out", help="Work folder: levels/ (every artifact built), candidates.json + "
                             "candidates.md, pareto.png, best/ (the chosen artifact). Running the same search again "
                             "resumes from it."),
    data: Optional[str] = typer.Option(None, "--data", help="Labelled data: digits[:SIZE], fashion-mnist[:SIZE] or "
                                       "imagefolder:PATH (default: the model folder's). Candidates are scored on its "
                                       "val split; the choice is reported on its test split where it has one."),
    preset: Optional[str] = typer.Option(None, "--preset", help="ImageNet preprocessing preset for imagefolder: v1 or v2."),
    max_drop: float = typer.Option(0.5, "--max-drop", help="Top-1 points a candidate may lose against the FP32 source "
                                   "(val split)."),
    target_latency_ms: Optional[float] = typer.Option(None, "--target-latency-ms", help="Also require this latency "
                                                      "(p50 at --batch, ms, on this machine)."),
    batch: int = typer.Option(1, "--batch", help="Batch size the latency is measured at."),
    runtimes: str = typer.Option("auto", "--runtimes", help="Comma list of onnxruntime, openvino, torch, pt2, "
                                 "onnxruntime-cuda, tensorrt, torch-cuda; auto = onnxruntime, OpenVINO when installed, "
                                 "torch eager, and the CUDA ones where a GPU runs them (pt2 only when named: an "
                                 "AOTInductor compile per artifact); all = every usable one."),
    precisions: str = typer.Option("auto", "--precisions", help="Comma list of int8, fp32, bf16; auto = int8, fp32, "
                                   "and bf16 when OpenVINO and the CPU run it."),
    budget_minutes: float = typer.Option(30.0, "--budget-minutes", help="Bound on the search: no new pruning level "
                                         "starts once it would pass this (the source level always runs)."),
    ratios: Optional[str] = typer.Option(None, "--ratios", help="Coarse pruning levels (channel ratios), tried in "
                                         "increasing order (default 0.25,0.5,0.75)."),
    refine_steps: int = typer.Option(2, "--refine-steps", help="Bisection steps between the largest passing and the "
                                     "smallest failing ratio."),
    importance: Importance = choice_option(Importance.taylor, "--importance", help="Channel importance: l1, l2, group or "
                                                                                 "taylor."),
    round_to: str = typer.Option("auto", "--round-to", help="Channel multiple per group, or auto (measured on this "
                                 "CPU's kernels for the target runtime)."),
    finetune_epochs: int = typer.Option(5, "--finetune-epochs", help="Distilled fine-tune epochs of every pruned level."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Fine-tune peak learning rate (default: the trainer's)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Fine-tune on a seeded subset of this many training images."),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", help="Score each candidate on a seeded subset of "
                                             "this many val images."),
    calib_size: int = typer.Option(128, "--calib-size", help="INT8 calibration images (training split)."),
    iterations: int = typer.Option(50, "--iterations", help="Timed runs per candidate."),
    seed: int = typer.Option(0, "--seed"),
    threads: ThreadsOpt = None,
    overwrite: bool = typer.Option(False, "--overwrite", help="Start afresh in an existing optimize work folder "
                                   "(removes only what optimize wrote there). Without it the same search resumes."),
    as_json: JsonOpt = False,
) -> None:
    """Search pruning levels (distilled fine-tune) x precision (INT8 with the accuracy gate, FP32, BF16) x runtime
    (onnxruntime, OpenVINO, torch eager, .pt2; onnxruntime CUDA/TensorRT and torch on CUDA where a GPU runs them) for
    the fastest artifact within --max-drop of the FP32 source, on this machine at --batch. Exit 1, naming the closest
    candidates, when none qualifies; exit 1 too when the choice breaks --max-drop on the test split (kept in best/)."""
    from resnet_opt.pipeline.optimize import DEFAULT_RATIOS, OptimizeConfig, optimize_model

    cfg = OptimizeConfig(out=out, source=model_spec(model, depth, weights, num_classes), data=data, preset=preset,
                         max_drop=max_drop,
                         target_latency_ms=target_latency_ms, batch=batch, runtimes=runtimes, precisions=precisions,
                         budget_minutes=budget_minutes, ratios=_ratios(ratios) or DEFAULT_RATIOS,
                         refine_steps=refine_steps, importance=importance.value, round_to=round_to,
                         finetune_epochs=finetune_epochs, lr=lr, train_limit=limit, eval_limit=eval_limit,
                         calib_size=calib_size, iterations=iterations, seed=seed, threads=threads, overwrite=overwrite)
    set_threads(threads)
    log = None if as_json else (lambda m: console.print(m, highlight=False, markup=False))
    over: ReportBudgetError | None = None
    try:
        res = optimize_model(cfg, progress=show_progress() and not as_json, log=log)  # validated there first
    except ReportBudgetError as e:  # the choice broke the budget on the test split: say what it is, then exit 1
        res, over = e.result, e
    if as_json:
        typer.echo(to_json(res))
        if over is not None:
            raise over
        return
    c, r = res.chosen, res.report
    assert c is not None
    test = (f"{r['split']} top-1 {r['top1']:.2f} % vs {r['fp32_source_top1']:.2f} % FP32" if r else "")
    speed = (f", {r['latency_ms']:.3f} ms = {r['speedup_vs_fp32_eager']:.2f}x the FP32 eager source's "
             f"{r['fp32_source_latency_ms']:.3f} ms" if r.get("speedup_vs_fp32_eager") else "")
    console.print(f"chosen {c.id} ({c.precision} on {c.runtime}){speed}; {test}: {res.why}. "
                  f"Saved {res.best} ({res.seconds / 60:.1f} min; table {res.files['table']})",
                  highlight=False, markup=False)
    if over is not None:
        raise over
