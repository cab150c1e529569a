"""inspect command: what an artifact is, from its manifest (files checked against their sha256)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from resnet_opt.cli.app import app
from resnet_opt.cli.common import JsonOpt, console, handle_errors
from resnet_opt.core.artifact import to_json


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and abs(v) >= 10_000:
        return f"{v:,}"
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v)
    return str(v)


# stage settings worth a row (everything is in --json)
_SETTINGS = {"method", "activation_type", "weight_type", "reduce_range", "per_channel", "format", "target",
             "calibration.images", "calibration.data", "excluded_layers", "mode", "ratio", "importance",
             "macs_before", "macs_after", "epochs", "distill", "kept", "opset", "dynamic_batch", "frozen", "folded"}


def _short(v: Any) -> bool:
    """Numbers, flags and short strings go in the table; long explanations stay in --json."""
    if isinstance(v, str):
        return len(v) <= 40
    if isinstance(v, list):
        return 0 < len(v) <= 8 and len(", ".join(map(str, v))) <= 60
    return True


def inspect_table(info: Any) -> Table:
    """Two columns (what, value), grouped: identity, tensors, files, validation, measurements, provenance."""
    t = Table(title=f"{info.path}", show_header=False, expand=False)
    t.add_column("what", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")

    def section(name: str) -> None:
        t.add_row(f"[cyan]{name}[/cyan]", "")

    what = f"{info.kind}, {info.precision.upper()}: {info.kind_description}"
    arch = info.architecture or "?"
    traits = [x for x, on in (("fused", info.fused), ("pruned", info.pruned)) if on]
    if not info.trained:
        traits.append("RANDOM INIT: accuracy not meaningful")
    t.add_row("kind", what)
    t.add_row("model", f"{arch}, {info.num_classes} classes" + (f" ({', '.join(traits)})" if traits else ""))
    folder_only = info.stage == "model"  # a model folder without manifest.json (train, save_model)
    made = ("train or save_model (a model folder: config.json + weights, no manifest.json)" if folder_only
            else (info.stage or "?"))
    t.add_row("made by", made + (f" from {info.source.get('path')}" if info.source.get("path") else ""))
    if info.input:
        t.add_row("input", f"{info.input['name']} {info.input['shape']} {info.input.get('dtype', '')}".strip())
    if info.output:
        t.add_row("output", f"{info.output['name']} {info.output['shape']} {info.output.get('dtype', '')}".strip())
    pre = info.preprocessing or {}
    if pre:
        bits = [f"{pre.get('name', '')}".strip(), f"resize {pre.get('resize')}, crop {pre.get('crop')}"]
        if pre.get("grayscale"):
            bits.append("grayscale")
        if pre.get("mean") is not None:
            bits.append(f"mean {_value(pre['mean'])}, std {_value(pre.get('std'))}")
        t.add_row("preprocessing", "; ".join(b for b in bits if b))
    else:
        t.add_row("preprocessing", "[yellow]none recorded: predict cannot prepare images for it[/yellow]")
    if info.class_names:
        names = info.class_names
        t.add_row("classes", ", ".join(names[:20]) + (f", … ({len(names)} in all)" if len(names) > 20 else ""))
    section("files")
    for f in info.files:
        mark = {"ok": "[green]sha256 ok[/green]", "mismatch": "[red]sha256 MISMATCH[/red]",
                "missing": "[red]MISSING[/red]",
                "not recorded": "sha256 computed now (none recorded)" if folder_only else "sha256 not recorded"}[f.status]
        size = f"{f.size / 1e6:.2f} MB" if f.size is not None else "—"
        t.add_row(f"  {f.path}", f"{f.role}, {size}, {mark}, {f.sha256[:16]}…" if f.sha256 else f"{f.role}, {mark}")
    for name, items in (("validation", info.validation), ("measured", info.measurements),
                        ("settings", {k: v for k, v in info.settings.items() if k.split(".", 1)[1] in _SETTINGS})):
        shown = {k: v for k, v in items.items() if _short(v)}
        if shown:
            section(name)
            for k, v in shown.items():
                t.add_row(f"  {k}", _value(v))
    section("provenance")
    if not (info.created or info.cpu or info.versions):
        t.add_row("  (none)", "a model folder records no creation time, CPU or versions; the artifacts made from it "
                              "do" if folder_only else "none recorded")
    if info.created:
        t.add_row("  created", info.created)
    if info.cpu:
        t.add_row("  cpu", info.cpu)
    if info.versions:
        t.add_row("  versions", ", ".join(f"{k} {v}" for k, v in info.versions.items() if v))
    t.caption = "every field: --json"
    return t


@app.command("inspect")
@handle_errors
def inspect_cmd(
    artifact: Path = typer.Argument(..., help="An artifact folder (manifest.json + model file) or a model folder."),
    as_json: JsonOpt = False,
) -> None:
    """What an artifact is: kind, files and their sha256 (checked), input/output, preprocessing, classes, validation
    and measured figures, from its manifest. Exits 1 when a file does not match its recorded hash."""
    from resnet_opt.runtime.inspect import inspect_artifact

    info = inspect_artifact(artifact)
    if as_json:
        typer.echo(to_json(info.to_dict()))
    else:
        console.print(inspect_table(info))
    if not info.verified:
        bad = ", ".join(f"{f.path} ({f.status})" for f in info.files if f.status in ("mismatch", "missing"))
        typer.echo(f"error: {artifact}: files do not match the manifest: {bad}", err=True)
        raise typer.Exit(1)
