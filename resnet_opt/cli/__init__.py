"""Command-line interface: a thin Typer layer over the Python API (parse, call, print)."""

from __future__ import annotations

from resnet_opt.cli.app import app

# Each module registers its commands on ``app``.
from resnet_opt.cli import foundation  # noqa: E402,F401
from resnet_opt.cli import quantize  # noqa: E402,F401
from resnet_opt.cli import prune  # noqa: E402,F401
from resnet_opt.cli import export  # noqa: E402,F401
from resnet_opt.cli import bench  # noqa: E402,F401
from resnet_opt.cli import tools  # noqa: E402,F401
from resnet_opt.cli import runner  # noqa: E402,F401
from resnet_opt.cli import doctor  # noqa: E402,F401


def main() -> None:
    app()


__all__ = ["app", "main"]
