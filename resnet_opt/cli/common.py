"""Shared CLI helpers: the error boundary (typed error -> one line + exit code), consoles, common options."""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import typer
from rich.console import Console

from resnet_opt.cli.app import EXIT_INTERNAL, EXIT_SIGINT, EXIT_SIGTERM, STATE, Terminated, one_line
from resnet_opt.core.errors import ResNetOptError, ResNetOptWarning

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` as one line on stderr and return the Exit to raise."""
    typer.echo(f"error: {one_line(message)}", err=True)
    return typer.Exit(code)


def warn_line(message: str) -> None:
    """Print ``warning: message`` as one line on stderr."""
    typer.echo(f"warning: {' '.join(str(message).split())}", err=True)


def handle_errors(fn: F) -> F:
    """Turn library errors into one line and a non-zero exit (``--debug`` shows the traceback instead), and
    user-facing warnings (:class:`ResNetOptWarning`) into one ``warning:`` line.

    Typed errors (:class:`ResNetOptError`) print ``error: ...`` with their exit code (2 by default); Ctrl-C exits
    130 and SIGTERM 143 after the clean-up ran. Any other exception is a bug, not a user error: it prints ONE line
    ``internal error: <type>: <message> (rerun with --debug for the traceback)`` and exits 70, so it stays visible
    and distinguishable (bad input is caught by the configs' ``validate()``, not by this handler)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", ResNetOptWarning)
                original = warnings.showwarning

                def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
                    if issubclass(category, ResNetOptWarning):
                        warn_line(str(message))
                    else:
                        original(message, category, filename, lineno, file, line)

                warnings.showwarning = show
                return fn(*args, **kwargs)
        except ResNetOptError as e:
            if STATE.debug:
                raise
            raise fail(str(e), getattr(e, "exit_code", 2)) from None
        except Terminated:
            raise fail("terminated", EXIT_SIGTERM) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_SIGINT) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # click's own control flow and usage errors (the root group prints those)
        except Exception as e:  # noqa: BLE001 - the last-resort boundary; see the docstring
            if STATE.debug:
                raise
            msg = one_line(e) or "(no message)"
            typer.echo(f"internal error: {type(e).__name__}: {msg} (rerun with --debug for the traceback)", err=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def set_threads(threads: Optional[int]) -> None:
    """Apply ``--threads`` (checked against :func:`resnet_opt.core.checks.max_threads` first)."""
    if threads is not None:
        import torch

        from resnet_opt.core.checks import check_threads

        check_threads(threads)
        torch.set_num_threads(threads)


def show_progress() -> bool:
    return sys.stderr.isatty()


# Options shared by every command that takes a model.
DepthOpt = typer.Option(None, "--depth", help="ResNet depth: 18, 34, 50, 101 or 152.")
WeightsOpt = typer.Option(None, "--weights", help="Local weights file: torchvision .pth (weights_only) or .safetensors.")
ModelDirOpt = typer.Option(None, "--model", help="A resnet-opt model folder (config.json + model.safetensors).")
NumClassesOpt = typer.Option(None, "--num-classes", help="Number of classes (default: from weights/model, else 1000).")
ThreadsOpt = typer.Option(None, "--threads", help="CPU threads for torch.")
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON.")
OverwriteOpt = typer.Option(False, "--overwrite", help="Replace an existing output folder written by resnet-opt "
                                                        "(atomically: the old one stays until the new one is complete).")


def path_or_none(p: Optional[Path]) -> Optional[str]:
    return str(p) if p is not None else None
NprocOpt = typer.Option(None, "--nproc", help="Run in N processes on this machine through torchrun "
                        "(DistributedDataParallel; gloo on CPU, NCCL on GPU). For several machines run torchrun "
                        "yourself: see docs/distributed.md.")


def launched(nproc: Optional[int], threads: Optional[int] = None) -> bool:
    """With ``--nproc N``: run this same command in N torchrun workers (torch.distributed.run) and return True when
    they all succeeded (a failure raises DistributedError); False without ``--nproc``."""
    if nproc is None:
        return False
    from resnet_opt.engine.distributed import launch, strip_nproc

    launch(nproc, strip_nproc(sys.argv[1:]), threads=threads)
    return True
