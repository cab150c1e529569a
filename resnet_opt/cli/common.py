"""Shared CLI helpers: the error boundary (typed error -> one line + exit code), consoles, common options."""

from __future__ import annotations

import functools
import inspect
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


def print_result(text: str, path: Any, out: Console | None = None) -> None:
    """``TEXT -> PATH`` on one line when it fits the console; else TEXT, then ``-> PATH`` on a line of its own.

    A path is never broken across lines: the line that holds it is printed without wrapping (a path longer than
    the terminal is left to the terminal, whole, rather than cut where rich would fold it)."""
    from rich.markup import escape
    from rich.text import Text

    out = out or console
    p = escape(str(path))
    line = f"{text} -> {p}"
    if Text.from_markup(line).cell_len <= out.width:
        out.print(line, soft_wrap=True)
        return
    out.print(text)
    out.print(f"  -> {p}", soft_wrap=True)


def speed_change(before_ms: float, after_ms: float) -> str:
    """``2.10× faster`` / ``1.25× slower`` (never "0.80× faster" for a slowdown); ``same speed`` within 0.5 %."""
    if not before_ms or not after_ms or before_ms <= 0 or after_ms <= 0:
        return "speed not measured"
    r = before_ms / after_ms
    if abs(r - 1) < 0.005:
        return "same speed"
    return f"{r:.2f}× faster" if r > 1 else f"{1 / r:.2f}× slower"


def accuracy_change(drop: float | None, unit: str = "points") -> str:
    """A top-1 drop (FP32 minus the optimized model) in words: ``drop 0.28 points`` / ``gain 0.28 points``."""
    if drop is None:
        return "accuracy not measured"
    if abs(drop) < 0.005:
        return "no change in top-1"
    return f"drop {drop:.2f} {unit}" if drop > 0 else f"gain {-drop:.2f} {unit}"


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


def options_into(name: str, params: list[inspect.Parameter], build: Callable[..., Any]) -> Callable[[F], F]:
    """A decorator that gives a command the Typer options ``params`` (declared once, shared by every command that
    takes them) and passes their values to the function as ONE keyword argument ``name`` = ``build(**values)``.

    Typer reads the decorated function's ``__signature__``: ``params`` followed by the function's own parameters (minus
    ``name``), so ``--help`` lists the shared options first."""

    def deco(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != name]
        extra = [p.name for p in params]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs[name] = build(**{k: kwargs.pop(k) for k in extra})
            return fn(*args, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=list(params) + own)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**{p.name: p.annotation for p in own}, **{p.name: p.annotation for p in params}}
        return wrapper  # type: ignore[return-value]

    return deco


def option_param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)


def _model_spec(depth: Optional[str], weights: Optional[Path], model: Optional[Path],
                num_classes: Optional[int]) -> Any:
    from resnet_opt.resnet import ModelSpec

    return ModelSpec(depth=depth, weights=path_or_none(weights), model_dir=path_or_none(model),
                     num_classes=num_classes)


def model_source(model_help: Optional[str] = None) -> Callable[[F], F]:
    """``--depth`` / ``--weights`` / ``--model`` / ``--num-classes``, passed to the command as ``source``
    (a :class:`resnet_opt.resnet.ModelSpec`, checked by the stage config's ``validate()``)."""
    model_opt = ModelDirOpt if model_help is None else typer.Option(None, "--model", help=model_help)
    return options_into("source", [option_param("depth", Optional[str], DepthOpt),
                                   option_param("weights", Optional[Path], WeightsOpt),
                                   option_param("model", Optional[Path], model_opt),
                                   option_param("num_classes", Optional[int], NumClassesOpt)], _model_spec)
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
