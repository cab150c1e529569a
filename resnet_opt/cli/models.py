"""models command: the ResNet family's depths, parameters and MACs."""

from __future__ import annotations

import typer
from rich.table import Table

from resnet_opt.cli.app import app
from resnet_opt.cli.common import JsonOpt, console, handle_errors
from resnet_opt.core.artifact import to_json


@app.command("models")
@handle_errors
def models_cmd(
    input_size: int = typer.Option(224, "--input-size", help="Square input size for the MAC count."),
    num_classes: int = typer.Option(1000, "--num-classes"),
    as_json: JsonOpt = False,
) -> None:
    """List the ResNet family: depth, parameters and GMACs (computed from the architecture; equal to torch's
    FlopCounterMode count)."""
    from resnet_opt.pipeline.info import model_table

    rows = model_table(input_size=input_size, num_classes=num_classes)  # ModelsConfig.validate() there
    if as_json:
        typer.echo(to_json(rows))
        return
    t = Table(title=f"ResNet family at {input_size}×{input_size}, {num_classes} classes")
    for c in ("model", "depth", "block", "parameters", "GMACs"):
        t.add_column(c, justify="right" if c not in ("model", "block") else "left")
    for r in rows:
        t.add_row(r["name"], str(r["depth"]), r["block"], f"{r['parameters']:,}", f"{r['macs'] / 1e9:.2f}")
    console.print(t)
