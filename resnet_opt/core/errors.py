"""Typed errors. Library code raises these; only the CLI turns them into a one-line message and exit code."""

from __future__ import annotations

__all__ = [
    "ResNetOptError",
    "ResNetOptWarning",
    "UnsupportedDepthError",
    "WeightsError",
    "ModelFormatError",
    "DataSpecError",
    "DataError",
    "ConfigError",
    "ArtifactError",
    "ManifestError",
    "ValidationError",
    "AtolError",
    "QuantizationError",
    "AccuracyBudgetError",
    "PruningError",
    "ExportError",
    "BackendUnavailableError",
    "BuildError",
    "OutputPathError",
    "NothingMeasuredError",
    "NoCandidateError",
    "ReportBudgetError",
    "first_line",
]


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type's name when the message is empty): how a third-party
    error is quoted inside one of ours."""
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


class ResNetOptError(Exception):
    """Base class of every error resnet-opt raises on purpose. ``str(err)`` is a one-line message."""

    exit_code = 2


class UnsupportedDepthError(ResNetOptError, ValueError):
    """A ResNet depth or model name that is not in the registry."""


class WeightsError(ResNetOptError):
    """A weights file that is missing, corrupt, or does not match the architecture."""


class ModelFormatError(ResNetOptError):
    """A model folder (config.json + model.safetensors) that is missing files or is malformed."""


class DataSpecError(ResNetOptError, ValueError):
    """A data spec string that cannot be parsed or points to nothing."""


class DataError(ResNetOptError):
    """Data that exists but cannot be used as asked (unreadable images, empty, unlabelled for accuracy...)."""


class ConfigError(ResNetOptError, ValueError):
    """An option value outside its allowed range."""


class ArtifactError(ResNetOptError):
    """An artifact folder that is missing its manifest or files, or is corrupt."""


class ManifestError(ArtifactError):
    """A manifest that is malformed, of an unknown version or kind; the message names the field."""


class ValidationError(ResNetOptError):
    """An artifact whose outputs disagree with PyTorch beyond tolerance."""


class AtolError(ValidationError):
    """Max absolute / relative difference beyond tolerance."""


class QuantizationError(ResNetOptError):
    """Quantization failed."""


class AccuracyBudgetError(QuantizationError):
    """The accuracy budget of a gated quantization could not be met."""


class PruningError(ResNetOptError):
    """Pruning failed or was asked for something impossible."""


class ExportError(ResNetOptError):
    """An export to TorchScript or ONNX failed."""


class BackendUnavailableError(ResNetOptError):
    """A requested runtime backend or execution provider is not usable here."""


class BuildError(BackendUnavailableError):
    """A native component (the C++ runner) cannot be built here: no compiler, missing headers, or a failed compile."""


class OutputPathError(ResNetOptError):
    """An output folder that cannot be written."""


class NothingMeasuredError(ResNetOptError):
    """A benchmark in which no variant was measured on any backend (all failed or were skipped)."""

    exit_code = 1


class ReportBudgetError(ResNetOptError):
    """An optimize choice, made within the budget on the val split, that breaks the budget on the test split (the
    chosen artifact is kept in ``best/`` for inspection, marked so in its manifest's report). ``result`` holds the
    search's whole result (an ``OptimizeResult``), as it would have been returned."""

    exit_code = 1

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class NoCandidateError(ResNetOptError):
    """An optimize search in which no candidate met the accuracy budget or the latency target (its figures are
    still written; the message names the closest candidates)."""

    exit_code = 1


class ResNetOptWarning(UserWarning):
    """Base class of warnings meant for the user (the CLI prints them as one ``warning: ...`` line)."""


class DistributedError(ResNetOptError):
    """A multi-process (torchrun) run failed: a rank died, or the process group could not be joined."""
