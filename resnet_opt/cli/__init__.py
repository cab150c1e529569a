"""Command-line interface: a thin Typer layer over the Python API (parse, call, print)."""

from __future__ import annotations

from resnet_opt.cli.app import app

# Each module registers its commands on ``app`` (and is named after them); this order is the order of --help.
from resnet_opt.cli import models  # noqa: E402,F401
from resnet_opt.cli import train  # noqa: E402,F401
from resnet_opt.cli import eval  # noqa: E402,F401,A004
from resnet_opt.cli import fuse  # noqa: E402,F401
from resnet_opt.cli import quantize  # noqa: E402,F401
from resnet_opt.cli import prune  # noqa: E402,F401
from resnet_opt.cli import export  # noqa: E402,F401
from resnet_opt.cli import predict  # noqa: E402,F401
from resnet_opt.cli import bench  # noqa: E402,F401
from resnet_opt.cli import pipeline  # noqa: E402,F401
from resnet_opt.cli import inspect  # noqa: E402,F401
from resnet_opt.cli import images  # noqa: E402,F401
from resnet_opt.cli import build_runner  # noqa: E402,F401
from resnet_opt.cli import doctor  # noqa: E402,F401
from resnet_opt.cli import qat  # noqa: E402,F401
from resnet_opt.cli import serve  # noqa: E402,F401
from resnet_opt.cli import optimize  # noqa: E402,F401

def main() -> None:
    import os
    import sys

    if os.environ.get("RANK", "0") not in ("", "0"):
        # a torchrun worker other than rank 0: results are printed once, by rank 0 (errors still go to stderr)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    app()


__all__ = ["app", "main"]
