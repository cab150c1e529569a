"""The Typer application object and global options. Command modules register onto ``app``."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="resnet-opt",
    help="Make ResNet classifiers deployable: train, fuse, quantize, prune, export, validate, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _State:
    debug: bool = False


STATE = _State()


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    STATE.debug = debug
