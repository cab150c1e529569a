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


def version_line() -> str:
    """``resnet-opt X (torch Y, onnxruntime Z, Python W)``: what a bug report needs."""
    import platform
    from importlib import metadata

    from resnet_opt import __version__

    libs = []
    for name in ("torch", "torchvision", "onnxruntime-gpu", "onnxruntime", "onnx"):
        try:
            libs.append(f"{name.replace('-gpu', '')} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    seen: set[str] = set()
    libs = [x for x in libs if not (x.split()[0] in seen or seen.add(x.split()[0]))]
    return f"resnet-opt {__version__} ({', '.join(libs)}, Python {platform.python_version()})"


def _version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
          version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                       help="Print the version (and torch / onnxruntime versions) and exit.")) -> None:
    STATE.debug = debug
