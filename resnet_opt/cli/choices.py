"""The fixed choices of CLI options as ``str`` Enums: Typer shows them in ``--help`` (``<adamw|sgd>``) and refuses
any other value with one ``error: Invalid value for '--optimizer': ...`` line (case-insensitive, as the stage checks
are). The values are spelled out here so that importing the CLI imports no torch; tests/test_cli_choices.py checks
them against the lists the lower layers validate with.

Choices that stay free strings, checked by the stage configs: values that depend on the machine or have aliases
(the training ``--device`` takes ``cuda:N``, ``--provider``, ``--method`` whose valid set depends on ``--target``,
``--round-to`` is a number or ``auto``, ``export openvino --precision`` also takes ``f32``, the auto/on/off options
which also take true/false/yes/no/1/0) and comma lists (``--backends``, ``--runtimes``, ``--precisions``).
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Choice(str, Enum):
    """A choice option's value; pass ``.value`` (a plain str) on to the Python API."""

    def __str__(self) -> str:
        return self.value


class Optimizer(Choice):
    adamw = "adamw"
    sgd = "sgd"


class Augment(Choice):
    none = "none"
    flip_shift = "flip-shift"
    flip_shift_erase = "flip-shift-erase"


class Amp(Choice):
    off = "off"
    bf16 = "bf16"
    fp16 = "fp16"


class Stem(Choice):
    imagenet = "imagenet"
    small = "small"


class Importance(Choice):
    l1 = "l1"
    l2 = "l2"
    taylor = "taylor"
    group = "group"


class QuantizeTarget(Choice):
    """``quantize --target``: the registered kinds' quantize targets (tests/test_cli_choices.py checks they agree)."""

    onnx = "onnx"
    torch = "torch"
    torchscript_fx = "torchscript-fx"
    openvino = "openvino"


class Pt2Device(Choice):
    cpu = "cpu"
    cuda = "cuda"


class EvalSplit(Choice):
    auto = "auto"
    test = "test"
    val = "val"
    train = "train"
    calib = "calib"


class TargetRuntime(Choice):
    onnxruntime = "onnxruntime"
    openvino = "openvino"
    torch = "torch"


class TargetPrecision(Choice):
    int8 = "int8"
    fp32 = "fp32"


class ActivationType(Choice):
    auto = "auto"
    uint8 = "uint8"
    int8 = "int8"


class QatTarget(Choice):
    onnx = "onnx"
    torch = "torch"


class QatActivation(Choice):
    asymmetric = "asymmetric"
    symmetric = "symmetric"


class TritonBackend(Choice):
    platform = "platform"
    python = "python"


class DigitsSplit(Choice):
    val = "val"
    train = "train"


class FashionSplit(Choice):
    test = "test"
    val = "val"
    train = "train"


class Protocol(Choice):
    http = "http"
    grpc = "grpc"


def value(choice: Choice | str | None) -> str | None:
    """The plain string of a choice (None stays None)."""
    return None if choice is None else str(getattr(choice, "value", choice))


def choice_option(default: Any, name: str, *, help: str) -> Any:  # noqa: A002 - Typer's own keyword
    """The Typer option of a :class:`Choice`: matched in any case, as the stage checks do; shown as ``<str>`` in
    --help like any word (each option's help lists its choices: a ``<a|b|c>`` metavar would squeeze the help
    column at 80 characters)."""
    import typer

    return typer.Option(default, name, case_sensitive=False, metavar="<str>", help=help)
