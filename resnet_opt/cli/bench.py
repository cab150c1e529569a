"""bench command: measure variants on backends; the comparison table and headline (pipeline prints them too)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from resnet_opt.cli.app import app
from resnet_opt.cli.common import (
    JsonOpt, ModelDirOpt, WeightsOpt, accuracy_change, console, handle_errors, show_progress, speed_change,
)
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


# short backend names for narrow terminals (the files keep the full ones)
_SHORT_BACKENDS = {"torch-cpu": "torch", "torch-cuda": "torch-cu", "torchscript-cpu": "ts", "torchscript-cuda": "ts-cu",
                   "ort-cpu": "ort", "ort-cuda": "ort-cu", "ort-tensorrt": "ort-trt"}


def comparison_table(result: Any, title: str | None = None, width: int = 180) -> Table:
    """The comparison table of a BenchResult, laid out for a terminal ``width`` columns wide: below 110 columns
    the size and top-5 columns are left out (they stay in report.md / results.csv) and headers and backend names
    are shortened; variant names wrap rather than being cut, so rows stay distinguishable."""
    from resnet_opt.bench.report import quality_metric, summary_rows

    rows = summary_rows(result)
    metric = quality_metric(result)
    bss = list(result.config.get("batch_sizes") or [1])
    b0 = min(bss)
    narrow = width < 110
    t = Table(title=title or result.title, box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
              padding=(0, 1), collapse_padding=narrow, pad_edge=not narrow)
    longest = max((len(r["variant"]) for r in rows), default=7)
    t.add_column("variant", overflow="fold", min_width=min(longest, 12 if narrow else 40))
    t.add_column("backend", overflow="fold")
    t.add_column("prec", no_wrap=True)
    num = {"justify": "right", "no_wrap": True}
    sep = "\n" if narrow else " "  # narrow: two-line headers, so numbers keep their width
    if not narrow:
        t.add_column("MB", **num)
    if metric == "top1":
        t.add_column(f"top-1{sep}%", **num)
        if not narrow:
            t.add_column("top-5 %", **num)
    t.add_column(f"agree{sep}%", **num)
    t.add_column(f"p50 ms{sep}@{b0}", **num)
    t.add_column(f"× ref{sep}@{b0}", **num)
    for bs in bss:
        t.add_column(f"img/s{sep}@{bs}", **num)

    def f(v: Any, fmt: str = "{:.2f}") -> str:
        if v is None:
            return "—"
        if narrow and fmt in ("{:.2f}", "{:.1f}", "{:.2f}×"):  # 3-4 significant digits keep the columns narrow
            unit = "×" if fmt.endswith("×") else ""
            return (f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}") + unit
        return fmt.format(v)

    for r in rows:
        backend = _SHORT_BACKENDS.get(r["backend"], r["backend"]) if narrow else r["backend"]
        cells = [r["variant"], backend, r["precision"] or ""]
        if not narrow:
            cells.append(f(r["size_bytes"] / 1e6 if r["size_bytes"] else None, "{:.1f}"))
        if metric == "top1":
            cells.append("—" if r["top1"] is None else f"{r['top1']:.2f}")  # accuracy keeps two decimals
            if not narrow:
                cells.append(f(r["top5"]))
        flag = "!" if b0 in r["unstable_batches"] else ""
        cells += [f(r["agreement"], "{:.1f}") if not narrow or r["agreement"] is None else f"{r['agreement']:.1f}",
                  f(r["p50_ms"]) + flag, f(r["speedup"], "{:.2f}×")]
        cells += [f(r[f"ips@{bs}"], "{:.1f}") + ("!" if bs in r["unstable_batches"] and bs != b0 else "")
                  for bs in bss]
        t.add_row(*cells)
    return t


def print_comparison(result: Any, title: str | None = None, out: Console | None = None) -> None:
    """The comparison table of a BenchResult on the console, then what was skipped or failed (once) and a warning
    when a timing cell was unstable."""
    from resnet_opt.bench.report import baseline_row, unstable_warning

    # a terminal, or a width the user set (COLUMNS): that width; a pipe or file: wide enough for every column
    out = out or (console if console.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit()
                  else Console(width=max(console.width, 180)))
    out.print(comparison_table(result, title, width=out.width))
    base = baseline_row(result)
    if base is not None:
        short = "; ts = torchscript, ort = onnxruntime" if out.width < 110 else ""
        out.print(f"[dim]× ref: speed-up over {base.variant} on {base.backend} (p50); agree: % of images given the "
                  f"reference's top-1; img/s = batch / p50{short}; full table in the report[/dim]")
    by_reason: dict[str, list[str]] = {}
    for b, why in (result.backends or {}).items():
        if why:
            by_reason.setdefault(why, []).append(b)
    for why, names in by_reason.items():  # once each, after the table (backends sharing a reason on one line)
        out.print(f"[dim]skipped {', '.join(names)}: {why}[/dim]")
    for r in result.rows:
        if r.status == "error":
            out.print(f"[red]error[/red] {r.variant} on {r.backend}: {r.reason}")
        elif r.status == "skipped" and r.backend == "-":  # a whole variant that no selected backend runs
            out.print(f"skipped variant {r.variant}: {r.reason}")
    warn = unstable_warning(result, detail=False)
    if warn:
        out.print(f"[yellow]warning:[/yellow] {warn} Every cell's spread is in the report.")


def headline(result: Any) -> list[str]:
    """The answer in two lines: the fastest variant at the smallest batch against the reference, with its accuracy
    (or agreement) next to the reference's."""
    from resnet_opt.bench.report import baseline_row, quality_metric, summary_rows

    rows = [r for r in summary_rows(result) if r["p50_ms"] is not None]
    base = baseline_row(result)
    if not rows or base is None:
        return []
    b0 = rows[0]["batch"]
    ref = next((r for r in rows if r["variant"] == base.variant and r["backend"] == base.backend), None)
    best = min(rows, key=lambda r: r["p50_ms"])
    if ref is None or best is ref:
        return [f"fastest at batch {b0}: {best['variant']} on {best['backend']}, {best['p50_ms']:.2f} ms (the reference)"]
    if quality_metric(result) == "top1" and best["top1"] is not None and ref["top1"] is not None:
        q = f"top-1 {best['top1']:.2f} % vs {ref['top1']:.2f} % ({accuracy_change(ref['top1'] - best['top1'])})"
    else:
        q = f"agreement with it {best['agreement']:.1f} %" if best["agreement"] is not None else "quality not measured"
    # like for like first: what the precision change buys on the same runtime, then the gain over the reference
    # (which also counts the change of runtime)
    peers = [r for r in rows if r["backend"] == best["backend"] and r["precision"] == "fp32" and r is not best
             and r is not ref]
    like = ""
    if best["precision"] != "fp32" and peers:
        peer = min(peers, key=lambda r: r["p50_ms"])
        like = (f"{speed_change(peer['p50_ms'], best['p50_ms'])} than {peer['variant']} (FP32, same runtime, "
                f"{peer['p50_ms']:.2f} ms) and ")
    return [f"fastest at batch {b0}: {best['variant']} on {best['backend']}, {best['p50_ms']:.2f} ms = {like}"
            f"{speed_change(ref['p50_ms'], best['p50_ms'])} than {ref['variant']} ({ref['p50_ms']:.2f} ms); {q}"]


@app.command("bench")
@handle_errors
def bench_cmd(
    artifacts: Optional[List[Path]] = typer.Argument(None, metavar="ARTIFACT_DIR",
                                                     help="Artifact folders (ONNX / TorchScript + manifest.json) or "
                                                          "model folders (config.json + model.safetensors)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write report.md, results.json, results.csv "
                                                                "and the plot into this folder (default: the console "
                                                                "table only)."),
    depth: Optional[str] = typer.Option(None, "--depth", help="Also measure a random-init eager ResNet of this depth (latency only; "
                                                              "never the reference of trained artifacts)."),
    weights: WeightsOpt = None,
    model: ModelDirOpt = None,
    backends: str = typer.Option("cpu,cuda", "--backends",
                                 help="cpu, cuda, tensorrt, all, or names: torch-cpu, torch-cuda, torchscript-cpu, "
                                      "torchscript-cuda, ort-cpu, ort-cuda, ort-tensorrt, libtorch-cpp (the C++ runner) "
                                      "(comma-separated)."),
    batch_sizes: str = typer.Option("1,8", "--batch-sizes", help="Comma-separated batch sizes."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch and onnxruntime (intra-op)."),
    data: Optional[str] = typer.Option(None, "--data", help="digits[:SIZE], fashion-mnist[:SIZE], imagefolder:PATH "
                                                              "(accuracy) or synthetic[:SIZE] (agreement only)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate accuracy on this many validation images."),
    iterations: int = typer.Option(50, "--iterations", help="Timed runs per batch size (at most)."),
    warmup: int = typer.Option(5, "--warmup", help="Untimed warm-up runs per batch size."),
    time_budget: float = typer.Option(10.0, "--time-budget", help="Seconds per (variant, backend, batch size) cell."),
    rounds: int = typer.Option(1, "--rounds", help="Interleave the timed runs across variants in this many rounds."),
    input_size: Optional[int] = typer.Option(None, "--input-size", help="Input size for --depth (default: the data's, else 224)."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Classes for --depth (default: the data's, else 1000)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="The reference for agreement and speed-ups: a variant name or one of "
                                                  "the folders given (default: the first trained FP32 model folder; a "
                                                  "random --depth model only when nothing is trained)."),
    fresh_peaks: bool = typer.Option(False, "--fresh-peaks",
                                     help="Measure the CPU's GEMM peaks (the roofline) in every timing round, beside the "
                                          "rows (about 1 s a round), instead of reading the cached ones: on a VM whose "
                                          "speed drifts, % of peak then compares figures measured at the same time."),
    as_json: JsonOpt = False,
) -> None:
    """Latency (p50/p90/p99, throughput, first inference) and accuracy or agreement of every variant on every backend."""
    from resnet_opt.bench import BenchConfig, TimingConfig
    from resnet_opt.core.artifact import check_writable
    from resnet_opt.pipeline.bench import bench_paths

    cfg = BenchConfig(backends=[b.strip() for b in backends.split(",")], batch_sizes=parse_batch_sizes(batch_sizes),
                      threads=threads, data=data, eval_limit=limit, reference=reference, roofline_refresh=fresh_peaks,
                      timing=TimingConfig(warmup=warmup, iterations=iterations, time_budget_s=time_budget, rounds=rounds))
    if report is not None:
        check_writable(report, what="report folder")
    log = None if as_json else (lambda m: console.print(f"[dim]{m}[/dim]"))
    # bench_paths checks cfg (BenchConfig.validate) before any folder is read
    result, paths = bench_paths(artifacts or [], cfg, report, depth=depth, weights=weights, model_dir=model,
                                input_size=input_size, num_classes=num_classes,
                                progress=show_progress() and not as_json, log=log)
    if as_json:
        typer.echo(to_json(result))
        return
    print_comparison(result)
    for line in headline(result):
        console.print(line)
    if paths:
        console.print(f"report: {paths['markdown']}  (results.json, results.csv, {paths['plot'].name})")
    else:
        console.print("[dim](--report DIR also writes report.md, results.json, results.csv and a plot)[/dim]")
