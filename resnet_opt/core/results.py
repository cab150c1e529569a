"""Typed stage results: what every stage function returns.

A stage returns a dataclass derived from :class:`StageResult`: code reads attributes (``res.out``, ``res.top1``), the
CLI's ``--json`` and the reports call :meth:`StageResult.to_dict` (paths become strings, nested results plain dicts),
and numbers stay numbers until a report formats them. Detail records that are written into manifests as they are
(validation figures, measurements) stay plain JSON-able dicts inside the typed result."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from resnet_opt.core.artifact import plain

if TYPE_CHECKING:
    from resnet_opt.core.manifest import Manifest

__all__ = ["ArtifactResult", "StageResult", "plain"]


@dataclasses.dataclass
class StageResult:
    """Base of every stage's result. Subclasses add typed fields; ``out`` is the folder the stage wrote (``None``
    for stages that write nothing) and ``seconds`` its wall-clock time."""

    __stage_result__ = True  # core.artifact.plain (and so to_json) use to_dict() for these
    omit_when_none: ClassVar[
        tuple[str, ...]
    ] = ()  # optional sections left out of to_dict() when absent (e.g. distributed)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if not (f.name in self.omit_when_none and getattr(self, f.name) is None)}


@dataclasses.dataclass
class ArtifactResult(StageResult):
    """What a stage that writes an artifact folder returns: the folder, the typed manifest it wrote and the stage's
    wall-clock seconds. :meth:`to_dict` is the manifest as written to disk plus ``out`` and ``seconds``."""

    out: Path
    manifest: "Manifest"
    seconds: float

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def precision(self) -> str:
        return self.manifest.precision

    @property
    def file(self) -> str | None:
        return self.manifest.files[0].path if self.manifest.files else None

    def to_dict(self) -> dict[str, Any]:
        d = self.manifest.to_dict()
        d.update({f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "manifest"})
        return d
