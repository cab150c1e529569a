"""Shared CLI helpers: the error boundary (typed error -> one line + exit code), consoles, common options."""

from __future__ import annotations

import functools
import signal
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, TypeVar

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


def _interrupted(e: BaseException | None = None) -> typer.Exit:
    """The one line and exit code of the interruption: SIGTERM (``Terminated``, or ``STATE.signalled`` where a
    library swallowed it) or Ctrl-C."""
    if isinstance(e, Terminated) or STATE.signalled == signal.SIGTERM:
        return fail("terminated", EXIT_SIGTERM)
    return fail("interrupted", EXIT_SIGINT)


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
            if STATE.signalled is not None:  # the interruption, swallowed and re-raised as an error by a library
                raise _interrupted() from None
            if STATE.debug:
                raise
            raise fail(str(e), getattr(e, "exit_code", 2)) from None
        except KeyboardInterrupt as e:  # Ctrl-C, and SIGTERM as Terminated
            raise _interrupted(e) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # click's own control flow and usage errors (the root group prints those)
        except Exception as e:  # noqa: BLE001 - the last-resort boundary; see the docstring
            if STATE.signalled is not None:
                raise _interrupted() from None
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


# Options shared by several commands, declared once as Typer ``Annotated`` aliases: a command names them in its own
# signature (``out: OutOpt``, ``threads: ThreadsOpt = None``), so what Typer reads is what the function declares.
DepthOpt = Annotated[Optional[str], typer.Option("--depth", help="ResNet depth: 18, 34, 50, 101 or 152.")]
WeightsOpt = Annotated[Optional[Path], typer.Option("--weights", help="Local weights file: torchvision .pth "
                                                                     "(weights_only) or .safetensors.")]
ModelDirOpt = Annotated[Optional[Path], typer.Option("--model", help="A resnet-opt model folder (config.json + "
                                                                    "model.safetensors).")]
NumClassesOpt = Annotated[Optional[int], typer.Option("--num-classes", help="Number of classes (default: from "
                                                                           "weights/model, else 1000).")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", help="CPU threads for torch.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder written by "
                                            "resnet-opt (atomically: the old one stays until the new one is "
                                            "complete).")]
NprocOpt = Annotated[Optional[int], typer.Option("--nproc", help="Run in N processes on this machine through torchrun "
                     "(DistributedDataParallel; gloo on CPU, NCCL on GPU). For several machines run torchrun "
                     "yourself: see docs/distributed.md.")]


def path_or_none(p: Optional[Path]) -> Optional[str]:
    return str(p) if p is not None else None


def model_spec(model: Optional[Path], depth: Optional[str], weights: Optional[Path],
               num_classes: Optional[int] = None) -> Any:
    """The :class:`resnet_opt.resnet.ModelSpec` of ``--model`` / ``--depth`` / ``--weights`` / ``--num-classes``
    (checked by the stage config's ``validate()``)."""
    from resnet_opt.resnet import ModelSpec

    return ModelSpec(depth=depth, weights=path_or_none(weights), model_dir=path_or_none(model),
                     num_classes=num_classes)


_ON = ("on", "true", "yes", "1")
_OFF = ("off", "false", "no", "0")


def parse_auto_on_off(value: str, option: str) -> Optional[bool]:
    """The one parser of an ``auto`` / ``on`` / ``off`` option: None for auto, True for on (or true/yes/1), False for
    off (or false/no/0), in any case; anything else is a ConfigError naming ``option``."""
    v = str(value).strip().lower()
    if v == "auto":
        return None
    if v in _ON:
        return True
    if v in _OFF:
        return False
    from resnet_opt.core.errors import ConfigError

    raise ConfigError(f"{option} must be auto, on or off, got {value!r}")


def launched(nproc: Optional[int], threads: Optional[int] = None, config: Any = None) -> bool:
    """With ``--nproc N``: check ``config`` (its ``validate()``: bad input fails here, once, not in N workers), run
    this same command in N torchrun workers (torch.distributed.run) and return True when they all succeeded (a
    failure raises DistributedError). False without ``--nproc``: the stage function then checks the config itself."""
    if nproc is None:
        return False
    if config is not None:
        config.validate()
    from resnet_opt.engine.distributed import launch, strip_nproc

    launch(nproc, strip_nproc(sys.argv[1:]), threads=threads)
    return True
