"""Range checks shared by every stage config's ``validate()``: one vocabulary, typed errors, sane upper bounds.

Each check raises :class:`~resnet_opt.core.errors.ConfigError` naming the option (``--lr``) and the bad value, and
returns the value (so ``validate()`` can normalise it). Numbers are checked to be numbers of the right kind (a
``bool`` is not an int, NaN and infinities are not finite) before their range.
"""

from __future__ import annotations

import math
import os
from typing import Any

from resnet_opt.core.errors import BackendUnavailableError, ConfigError

__all__ = [
    "INPUT_SIZE_MIN", "INPUT_SIZE_MAX", "BATCH_SIZE_MAX", "MAX_IMAGE_PIXELS", "MAX_CLASSES", "MAX_EPOCHS",
    "max_threads", "check_int", "check_float", "check_threads", "check_input_size", "check_batch_size",
    "check_device", "check_choice",
]

INPUT_SIZE_MIN = 8  # a ResNet downsamples 32x; below 8 px nothing is left of the image
INPUT_SIZE_MAX = 4096
BATCH_SIZE_MAX = 65536
MAX_IMAGE_PIXELS = 89_478_485  # Pillow's own decompression-bomb limit (~ 9459 x 9459); larger images are refused
MAX_CLASSES = 1_000_000
MAX_EPOCHS = 100_000
MAX_COUNT = 10_000_000  # image counts (limits, calibration and evaluation sizes)


def max_threads() -> int:
    """Most CPU threads a command accepts: 4x the cores, at most 256 (more only thrashes, and very large values
    crash thread pools)."""
    return min(256, 4 * (os.cpu_count() or 1))


def check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None, *, optional: bool = False) -> Any:
    """``value`` is an int in ``[lo, hi]`` (``None`` allowed when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    if lo is not None and value < lo:
        raise ConfigError(f"{name} must be at least {lo}, got {value}")
    if hi is not None and value > hi:
        raise ConfigError(f"{name} must be at most {hi}, got {value}")
    return value


def check_float(name: str, value: Any, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                hi_open: bool = False, optional: bool = False) -> Any:
    """``value`` is a finite number in the interval (``lo_open`` / ``hi_open`` exclude the bound)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ConfigError(f"{name} must be {'greater than' if lo_open else 'at least'} {lo:g}, got {value}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ConfigError(f"{name} must be {'less than' if hi_open else 'at most'} {hi:g}, got {value}")
    return value


def check_threads(value: Any, name: str = "--threads") -> Any:
    return check_int(name, value, 1, max_threads(), optional=True)


def check_input_size(value: Any, name: str = "--input-size", *, optional: bool = True) -> Any:
    return check_int(name, value, INPUT_SIZE_MIN, INPUT_SIZE_MAX, optional=optional)


def check_batch_size(value: Any, name: str = "--batch-size") -> Any:
    return check_int(name, value, 1, BATCH_SIZE_MAX)


def check_choice(name: str, value: Any, choices: tuple[str, ...] | list[str], *, where: str = "",
                 hint: str = "") -> str:
    """``value`` lower-cased when it is one of ``choices``; else ``unknown NAME 'value' WHERE; valid: ... HINT``."""
    v = str(value).strip().lower()
    if v not in choices:
        raise ConfigError(f"unknown {name} {value!r}{where}; valid: {', '.join(choices)}{hint}")
    return v


def check_device(value: Any, name: str = "--device") -> str:
    """``auto``, ``cpu`` or ``cuda`` / ``cuda:N``; a CUDA device that is not present is refused here, before work."""
    v = str(value).strip().lower()
    if v in ("auto", "cpu"):
        return v
    if v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit()):
        import torch

        if not torch.cuda.is_available():
            raise BackendUnavailableError(f"{name} {value} asked for, but no CUDA GPU is available here (use cpu or auto)")
        if ":" in v and int(v[5:]) >= torch.cuda.device_count():
            raise BackendUnavailableError(f"{name} {value}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return v
    raise ConfigError(f"unknown {name} {value!r}; valid: auto, cpu, cuda, cuda:N")
