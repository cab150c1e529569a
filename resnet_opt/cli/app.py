"""The Typer application object and global options. Command modules register onto ``app``.

The root command group owns the outermost error boundary: click/Typer usage errors (unknown option, a non-number
where a number is expected, a missing option) become one ``error: ...`` line, ``--debug`` is accepted anywhere on
the command line, and SIGTERM runs the same clean-up as Ctrl-C (exit 143).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, Sequence

import typer
from typer.core import TyperGroup

EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in resnet-opt, not a user error
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class _State:
    debug: bool = False
    # the signal (SIGINT / SIGTERM) that interrupted this command, once one did: a library that catches the
    # KeyboardInterrupt it raised (onnxruntime turns one raised during session creation into its own "initialization
    # failed") must not turn the interruption into another error line and exit code
    signalled: int | None = None


STATE = _State()


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so every ``except BaseException`` / ``finally`` clean-up (temporary
    artifact folders, work folders) runs exactly as it does for Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:  # noqa: ARG001
    STATE.signalled = signal.SIGTERM
    raise Terminated()


def _on_sigint(signum: int, frame: Any) -> None:  # noqa: ARG001
    STATE.signalled = signal.SIGINT
    raise KeyboardInterrupt()


def one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _skip_bad_images() -> None:
    """``--skip-bad-images``: unreadable images inside image folders are skipped with one warning line and a count
    (the data layer reads the variable, so torchrun workers inherit it) instead of being an error."""
    from resnet_opt.data.datasets import SKIP_BAD_IMAGES_ENV

    os.environ[SKIP_BAD_IMAGES_ENV] = "1"


def _pop_debug(args: list[str]) -> list[str]:
    """Remove every ``--debug`` and ``--skip-bad-images`` before a ``--`` separator (so they work after the command
    name too)."""
    out: list[str] = []
    for i, a in enumerate(args):
        if a == "--":
            out.extend(args[i:])
            break
        if a == "--debug":
            STATE.debug = True
            continue
        if a == "--skip-bad-images":
            _skip_bad_images()
            continue
        out.append(a)
    return out


def _quiet_flag_metavars(group: Any) -> None:
    """Flags take no value: show none in --help (Typer prints ``<bool>`` after them otherwise)."""
    for cmd in getattr(group, "commands", {}).values():
        for p in getattr(cmd, "params", []):
            if getattr(p, "is_flag", False) and getattr(p, "metavar", None) is None:
                p.metavar = ""
        _quiet_flag_metavars(cmd)


def _usage_message(e: Any) -> str:
    """A usage error in one line; a choice refused by Typer reads ``Invalid value for '--amp': 'fp8' is not one of
    'off', 'bf16', 'fp16'.`` (without the ``Value error,`` its value coercion puts before the reason)."""
    return one_line(e.format_message()).replace("': Value error, ", "': ")


class RootGroup(TyperGroup):
    """The ``resnet-opt`` group: Typer's main, with usage errors as one line and SIGTERM handled."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        from resnet_opt.data.datasets import SKIP_BAD_IMAGES_ENV

        saved = os.environ.get(SKIP_BAD_IMAGES_ENV)
        try:
            return self._main(args, prog_name, complete_var, standalone_mode, **extra)
        finally:  # --skip-bad-images holds for this command only (in-process callers run several)
            if saved is None:
                os.environ.pop(SKIP_BAD_IMAGES_ENV, None)
            else:
                os.environ[SKIP_BAD_IMAGES_ENV] = saved

    def _main(self, args: Sequence[str] | None, prog_name: str | None, complete_var: str | None,
              standalone_mode: bool, **extra: Any) -> Any:
        STATE.debug = False
        STATE.signalled = None
        _quiet_flag_metavars(self)
        argv = _pop_debug(list(sys.argv[1:] if args is None else args))
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        previous = previous_int = None
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # Python's own Ctrl-C handler only
                previous_int = signal.signal(signal.SIGINT, _on_sigint)
        except ValueError:  # not the main thread: leave signals alone
            previous = previous_int = None
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as e:  # click's ClickException / UsageError family
            if type(e).__name__ == "NoArgsIsHelpError":
                e.show()  # type: ignore[attr-defined]
                sys.exit(EXIT_USAGE)
            ctx = getattr(e, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None and type(e).__name__ != "FileError" else ""
            typer.echo(f"error: {_usage_message(e)}{hint}", err=True)
            sys.exit(getattr(e, "exit_code", EXIT_USAGE) or EXIT_USAGE)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        except Terminated:
            typer.echo("error: terminated", err=True)
            sys.exit(EXIT_SIGTERM)
        except KeyboardInterrupt:
            typer.echo("error: interrupted", err=True)
            sys.exit(EXIT_SIGINT)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if previous_int is not None:
                signal.signal(signal.SIGINT, previous_int)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="resnet-opt",
    cls=RootGroup,
    help="Make ResNet classifiers deployable: train, fuse, quantize, prune, export, validate, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors (accepted anywhere on "
                                                            "the command line)."),
          skip_bad: bool = typer.Option(False, "--skip-bad-images", help="Skip corrupt, truncated or oversized images "
                                        "inside image folders with one warning and a count (default: an error naming "
                                        "the file). Accepted anywhere on the command line."),
          version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                       help="Print the version (and torch / onnxruntime versions) and exit.")) -> None:
    if debug:
        STATE.debug = True
    if skip_bad:
        _skip_bad_images()
