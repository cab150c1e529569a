"""bench and pipeline commands: measure variants on backends, and the one-command optimisation pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from resnet_opt.cli.app import app
from resnet_opt.cli.common import JsonOpt, ModelDirOpt, ThreadsOpt, WeightsOpt, console, handle_errors, show_progress
from resnet_opt.core.artifact import to_json
from resnet_opt.core.errors import ConfigError


def parse_batch_sizes(text: str) -> list[int]:
    out: list[int] = []
    for tok in str(text).split(","):
        tok = tok.strip()
        if not tok:
            continue
        try:
            b = int(tok)
        except ValueError:
            raise ConfigError(f"bad batch size {tok!r}; expected positive integers, e.g. --batch-sizes 1,8,32") from None
        if b < 1:
            raise ConfigError(f"batch sizes must be at least 1, got {b}")
        if b not in out:
            out.append(b)
    if not out:
        raise ConfigError("no batch size given; e.g. --batch-sizes 1,8")
    return out


def print_comparison(result: Any, title: str | None = None) -> None:
    """The comparison table of a BenchResult, on the console."""
    from resnet_opt.bench.report import quality_metric, summary_rows

    rows = summary_rows(result)
    metric = quality_metric(result)
    bss = list(result.config.get("batch_sizes") or [1])
    b0 = min(bss)
    t = Table(title=title or result.title)
    cols = ["variant", "backend", "prec", "MB"] + (["top-1 %", "top-5 %"] if metric == "top1" else []) + \
        ["agree %", f"p50 ms @{b0}", f"× ref @{b0}"] + [f"img/s @{bs}" for bs in bss]
    for c in cols:
        t.add_column(c, justify="left" if c in ("variant", "backend", "prec") else "right")

    def f(v: Any, fmt: str = "{:.2f}") -> str:
        return "—" if v is None else fmt.format(v)

    for r in rows:
        cells = [r["variant"], r["backend"], r["precision"] or "", f(r["size_bytes"] / 1e6 if r["size_bytes"] else None, "{:.1f}")]
        if metric == "top1":
            cells += [f(r["top1"]), f(r["top5"])]
        cells += [f(r["agreement"]), f(r["p50_ms"]), f(r["speedup"], "{:.2f}×")] + [f(r[f"ips@{bs}"], "{:.1f}") for bs in bss]
        t.add_row(*cells)
    out = console if console.is_terminal else Console(width=max(console.width, 180))
    out.print(t)
    skipped = {b: why for b, why in (result.backends or {}).items() if why}
    for b, why in skipped.items():
        console.print(f"[dim]skipped {b}: {why}[/dim]")
    for r in result.rows:
        if r.status == "error":
            console.print(f"[red]error[/red] {r.variant} on {r.backend}: {r.reason}")


@app.command("bench")
@handle_errors
def bench_cmd(
    artifacts: Optional[List[Path]] = typer.Argument(None, metavar="ARTIFACT_DIR",
                                                     help="Artifact folders (ONNX / TorchScript + manifest.json) or "
                                                          "model folders (config.json + model.safetensors)."),
    report: Path = typer.Option(..., "--report", help="Folder for report.md, results.json, results.csv and the plot."),
    depth: Optional[str] = typer.Option(None, "--depth", help="Also measure a random-init eager ResNet of this depth."),
    weights: Optional[Path] = WeightsOpt,
    model: Optional[Path] = ModelDirOpt,
    backends: str = typer.Option("cpu,cuda", "--backends",
                                 help="cpu, cuda, tensorrt, all, or names: torch-cpu, torch-cuda, torchscript-cpu, "
                                      "torchscript-cuda, ort-cpu, ort-cuda, ort-tensorrt (comma-separated)."),
    batch_sizes: str = typer.Option("1,8", "--batch-sizes", help="Comma-separated batch sizes."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch and onnxruntime (intra-op)."),
    data: Optional[str] = typer.Option(None, "--data", help="digits[:SIZE], imagefolder:PATH (accuracy) or "
                                                              "synthetic[:SIZE] (agreement only)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate accuracy on this many validation images."),
    iterations: int = typer.Option(50, "--iterations", help="Timed runs per batch size (at most)."),
    warmup: int = typer.Option(5, "--warmup", help="Untimed warm-up runs per batch size."),
    time_budget: float = typer.Option(10.0, "--time-budget", help="Seconds per (variant, backend, batch size) cell."),
    rounds: int = typer.Option(1, "--rounds", help="Interleave the timed runs across variants in this many rounds."),
    input_size: Optional[int] = typer.Option(None, "--input-size", help="Input size for --depth (default: the data's, else 224)."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Classes for --depth (default: the data's, else 1000)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="Variant name used as the FP32 reference."),
    as_json: bool = JsonOpt,
) -> None:
    """Latency (p50/p90/p99, throughput, first inference) and accuracy or agreement of every variant on every backend."""
    from resnet_opt.bench import BenchConfig, TimingConfig
    from resnet_opt.pipeline.bench import bench_paths

    cfg = BenchConfig(backends=[b.strip() for b in backends.split(",")], batch_sizes=parse_batch_sizes(batch_sizes),
                      threads=threads, data=data, eval_limit=limit, reference=reference,
                      timing=TimingConfig(warmup=warmup, iterations=iterations, time_budget_s=time_budget, rounds=rounds))
    log = None if as_json else (lambda m: console.print(f"[dim]{m}[/dim]"))
    result, paths = bench_paths(artifacts or [], cfg, report, depth=depth, weights=weights, model_dir=model,
                                input_size=input_size, num_classes=num_classes,
                                progress=show_progress() and not as_json, log=log)
    if as_json:
        typer.echo(to_json(result))
        return
    print_comparison(result)
    console.print(f"report: {paths['markdown']}  (results.json, results.csv, {paths['plot'].name})")


@app.command("pipeline")
@handle_errors
def pipeline_cmd(
    out: Path = typer.Option(..., "--out", help="Folder for every stage's output and the final report."),
    depth: Optional[str] = typer.Option(None, "--depth", help="ResNet depth to train (default 18); with --weights, "
                                                                "the depth of the weights (default: inferred)."),
    data: str = typer.Option("digits", "--data", help="digits[:SIZE] or imagefolder:PATH (labelled)."),
    model: Optional[Path] = ModelDirOpt,
    weights: Optional[Path] = WeightsOpt,
    epochs: int = typer.Option(8, "--epochs", help="Training epochs (when training from scratch)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Train on a seeded subset of this many images."),
    prune: Optional[float] = typer.Option(None, "--prune", help="Prune this fraction of channels (0 < r < 1)."),
    finetune_epochs: int = typer.Option(3, "--finetune-epochs", help="Fine-tune epochs after pruning."),
    distill: bool = typer.Option(False, "--distill", help="Fine-tune with distillation from the unpruned model."),
    importance: str = typer.Option("taylor", "--importance", help="Pruning importance: taylor (default), l1, l2 or group."),
    calib_size: int = typer.Option(128, "--calib-size", help="Calibration images for INT8 quantization."),
    method: Optional[str] = typer.Option(None, "--method", help="ONNX INT8 calibration: minmax, percentile or entropy "
                                                                "(default: the quantize stage's)."),
    torch_int8: bool = typer.Option(True, "--torch-int8/--no-torch-int8", help="Also build the PyTorch INT8 TorchScript."),
    backends: str = typer.Option("cpu,cuda", "--backends", help="Backends to benchmark on (see `bench`)."),
    batch_sizes: str = typer.Option("1,32", "--batch-sizes", help="Batch sizes to benchmark."),
    iterations: int = typer.Option(30, "--iterations", help="Timed runs per batch size (at most)."),
    time_budget: float = typer.Option(5.0, "--time-budget", help="Seconds per (variant, backend, batch size) cell."),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", help="Validation images for accuracy (default: all)."),
    seed: int = typer.Option(0, "--seed"),
    threads: Optional[int] = ThreadsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Train (or load), prune, fine-tune, quantize, export, validate and benchmark; one report comparing every variant."""
    from resnet_opt.bench import parse_backends
    from resnet_opt.pipeline.pipeline import PipelineConfig, run_pipeline

    specs = parse_backends(backends)
    bss = parse_batch_sizes(batch_sizes)
    cfg = PipelineConfig(out=out, depth=depth, data=data, model_dir=model, weights=weights, epochs=epochs,
                         limit=limit, prune=prune, finetune_epochs=finetune_epochs, distill=distill,
                         importance=importance,
                         calib_size=calib_size, method=method, torch_int8=torch_int8,
                         backends=[b.name for b in specs], batch_sizes=bss, iterations=iterations,
                         time_budget_s=time_budget, eval_limit=eval_limit, seed=seed, threads=threads)
    log = None if as_json else (lambda m: console.print(m))
    res = run_pipeline(cfg, progress=show_progress() and not as_json, log=log)
    if as_json:
        typer.echo(to_json(res.summary()))
    else:
        print_comparison(res.bench, title=res.bench.title)
        console.print(f"report: {res.report_paths['markdown']}  ({res.seconds:.0f}s)")
    if res.failed:
        names = ", ".join(f"{s.name} ({s.error})" for s in res.failed)
        typer.echo(f"error: {len(res.failed)} stage(s) failed: {' '.join(names.split())}", err=True)
        raise typer.Exit(1)
