"""prune command: structured channel pruning, optional fine-tune / distillation, before/after table."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table

from resnet_opt.cli.app import app
from resnet_opt.cli.choices import Importance, TargetPrecision, TargetRuntime, choice_option
from resnet_opt.cli.common import (
    DepthOpt, JsonOpt, ModelDirOpt, NprocOpt, NumClassesOpt, OverwriteOpt, ThreadsOpt, WeightsOpt, console,
    handle_errors, launched, model_spec, print_result, set_threads, show_progress,
)
from resnet_opt.core.artifact import to_json


def _si(n: float, unit: str = "") -> str:
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}{unit}"
    return f"{n:.3g}{unit}"


def _bytes(n: float) -> str:
    for div, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= div:
            return f"{n / div:.2f} {suffix}"
    return f"{int(n)} B"


def _fewer(b: float, a: float, word: str = "fewer") -> str:
    return f"{b / a:.2f}× {word}" if a else "-"


def summary_table(res: Any) -> Table:
    """The before / after table of a :class:`~resnet_opt.pipeline.prune.PruneStageResult`."""
    b, a = res.before, res.after
    p = res.pruning
    if p["mode"] == "ratio":
        how = f"ratio {p['ratio']:.3g}"
    elif p["mode"] == "target_latency":
        tl = p["hardware"]["target_latency"]
        goal = (f"{tl['target_speedup']:g}× faster = {tl['target_ms']:.2f} ms" if tl.get("target_speedup")
                else f"{tl['target_ms']:g} ms")
        how = f"target {goal} on {tl['runtime']} {tl['precision']} -> ratio {p['ratio']:.3g}"
    else:
        how = f"target {_si(p['target_macs'])} MACs"
    t = Table(title=f"prune ({how}, {p['importance']} importance, {res.input_size}×{res.input_size})")
    for c in ("", "before", "after", "change"):
        t.add_column(c, justify="left" if not c else "right")
    t.add_row("parameters", f"{b['parameters']:,}", f"{a['parameters']:,}", _fewer(b["parameters"], a["parameters"]))
    t.add_row("MACs", _si(b["macs"]), _si(a["macs"]), _fewer(b["macs"], a["macs"]))
    t.add_row("size on disk", _bytes(b["size_bytes"]), _bytes(a["size_bytes"]), _fewer(b["size_bytes"], a["size_bytes"], "smaller"))
    t.add_row(f"latency, batch 1, CPU, {res.threads} thr", f"{b['latency_ms']:.2f} ms", f"{a['latency_ms']:.2f} ms",
              _fewer(b["latency_ms"], a["latency_ms"], "faster"))
    tl = (p.get("hardware") or {}).get("target_latency")
    if tl and a.get("deployed_latency_ms") is not None:
        t.add_row(f"latency, batch 1, {tl['runtime']} {tl['precision']}", f"{tl['unpruned_ms']:.2f} ms",
                  f"{a['deployed_latency_ms']:.2f} ms", _fewer(tl["unpruned_ms"], a["deployed_latency_ms"], "faster"))
    if "top1" in b:
        t.add_row(f"top-1 ({res.data}, {b['count']} images)", f"{b['top1']:.2f} %", f"{a['top1']:.2f} %",
                  f"{a['top1'] - b['top1']:+.2f} pts")
        t.add_row("top-5", f"{b['top5']:.2f} %", f"{a['top5']:.2f} %", f"{a['top5'] - b['top5']:+.2f} pts")
    return t


def finetune_line(res: Any) -> str | None:
    """What fine-tuning did, and which epoch was kept (the last: unlike train, which keeps the best)."""
    ft = res.finetune
    if not ft:
        return None
    kd = " with distillation" if ft["distill"] else ""
    best = ""
    if ft.get("best_val_top1") is not None and ft.get("best_epoch") != ft["epochs"]:
        best = f"; the best epoch, {ft['best_epoch']}, reached {ft['best_val_top1']:.2f} %"
    after = res.after.get("top1")
    return (f"fine-tuned {ft['epochs']} epoch(s){kd}: top-1 {ft['top1_before_finetune']:.2f} % right after pruning -> "
            + (f"{after:.2f} %" if after is not None else "?")
            + f". The LAST epoch is kept (train keeps the best; prune does not pick on the val split it reports){best}")


@app.command("prune")
@handle_errors
def prune_cmd(
    *,
    depth: DepthOpt = None,
    weights: WeightsOpt = None,
    model: ModelDirOpt = None,
    num_classes: NumClassesOpt = None,
    out: Path = typer.Option(..., "--out", help="Output model folder (config.json + model.safetensors + manifest.json)."),
    ratio: Optional[float] = typer.Option(None, "--ratio", help="Fraction of channels removed per group, in (0, 1)."),
    target_macs: Optional[str] = typer.Option(None, "--target-macs", help="Prune to these MACs per image (±2 %): 2.0G, 500M, 2e9."),
    importance: Importance = choice_option(Importance.l2, "--importance", help="l1, l2 (filter norm), group (group "
                                                                             "magnitude) or taylor."),
    global_pruning: bool = typer.Option(False, "--global/--local", help="Rank channels across all layers (global) or per layer."),
    round_to: str = typer.Option("8", "--round-to", help="Keep a multiple of this many channels per group (1 = no rounding), or auto: the multiple (8/16/32/64) whose conv kernel runs best on this CPU for --target-runtime/--target-precision (measured, cached)."),
    target_latency_ms: Optional[float] = typer.Option(None, "--target-latency-ms", help="Prune until the batch-1 latency measured on --target-runtime/--target-precision meets this (bisection on the ratio)."),
    target_speedup: Optional[float] = typer.Option(None, "--target-speedup", help="Prune until the batch-1 latency measured on --target-runtime/--target-precision is this many times faster than the unpruned model's (the same target on any CPU)."),
    target_runtime: TargetRuntime = choice_option(TargetRuntime.onnxruntime, "--target-runtime", help="Runtime the model will run on: onnxruntime, openvino or torch (for --target-latency-ms / --target-speedup, and --round-to auto except on openvino)."),
    target_precision: TargetPrecision = choice_option(TargetPrecision.int8, "--target-precision", help="Precision it will run in: int8 (QDQ ONNX) or fp32."),
    iterative_steps: int = typer.Option(1, "--iterative-steps", help="Reach the ratio in this many pruning steps."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Layer whose output channels (and tied ones) are kept; repeatable, e.g. --ignore conv1."),
    data: Optional[str] = typer.Option(None, "--data", help="Labelled data for accuracy, Taylor importance and fine-tuning: digits[:SIZE], fashion-mnist[:SIZE] or imagefolder:PATH."),
    preset: Optional[str] = typer.Option(None, "--preset", help="ImageNet preprocessing preset for imagefolder: v1 or v2."),
    finetune_epochs: int = typer.Option(0, "--finetune-epochs", help="Fine-tune the pruned model for N epochs on --data."),
    distill: bool = typer.Option(False, "--distill", help="Fine-tune with knowledge distillation from the unpruned model."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Fine-tune peak learning rate (default: the trainer's)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Fine-tune batch size."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Fine-tune on a seeded subset of this many training images."),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", help="Measure accuracy on a seeded subset of this many images."),
    input_size: Optional[int] = typer.Option(None, "--input-size", help="Square input size for MACs and latency (default: the model's, else 224)."),
    latency_runs: int = typer.Option(20, "--latency-runs", help="Timed batch-1 runs per model (median reported)."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="Fine-tune device: auto, cpu or cuda."),
    threads: ThreadsOpt = None,
    overwrite: OverwriteOpt = False,
    nproc: NprocOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Structured channel pruning (Torch-Pruning dependency graph): residual-tied channels pruned together, the
    classifier kept whole; optional fine-tune (--distill: from the unpruned model); before/after table."""
    from resnet_opt.pipeline.prune import PruneConfig, prune_model

    set_threads(threads)  # checked against the CPU's bound first
    cfg = PruneConfig(out=out, source=model_spec(model, depth, weights, num_classes), ratio=ratio,
                      target_macs=target_macs, importance=importance.value, global_pruning=global_pruning,
                      ignored_layers=ignore or None, round_to=round_to,
                      iterative_steps=iterative_steps, target_latency_ms=target_latency_ms,
                      target_speedup=target_speedup,
                      target_runtime=target_runtime.value, target_precision=target_precision.value, data=data, preset=preset,
                      finetune_epochs=finetune_epochs, distill=distill, lr=lr, batch_size=batch_size,
                      train_limit=limit, eval_limit=eval_limit, seed=seed, device=device, input_size=input_size,
                      latency_runs=latency_runs, overwrite=overwrite)
    if launched(nproc, threads, cfg):
        return
    log = None if as_json else (lambda m: console.print(m))
    res = prune_model(cfg, progress=show_progress() and not as_json, log=log)  # validated there before any work
    if res.rank != 0:
        return  # a torchrun worker other than rank 0: rank 0 reports
    if as_json:
        typer.echo(to_json(res))
        return
    console.print(summary_table(res))
    line = finetune_line(res)
    if line:
        console.print(line)
    print_result(f"saved ({res.seconds:.1f}s)", res.out)
