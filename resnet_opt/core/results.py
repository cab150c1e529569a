"""Typed stage results: what every stage function returns.

A stage returns a dataclass derived from :class:`StageResult`: code reads attributes (``res.out``, ``res.top1``), the
CLI's ``--json`` and the reports call :meth:`StageResult.to_dict` (paths become strings, nested results plain dicts),
and numbers stay numbers until a report formats them. Detail records that are written into manifests as they are
(validation figures, measurements) stay plain JSON-able dicts inside the typed result."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

__all__ = ["StageResult", "plain"]


def plain(o: Any) -> Any:
    """``o`` as JSON-able Python: dataclasses (and :class:`StageResult`) as dicts, paths as strings, tuples as lists."""
    if isinstance(o, StageResult):
        return o.to_dict()
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return {f.name: plain(getattr(o, f.name)) for f in dataclasses.fields(o)}
    if isinstance(o, dict):
        return {str(k): plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v) for v in o]
    if isinstance(o, Path):
        return str(o)
    return o


@dataclasses.dataclass
class StageResult:
    """Base of every stage's result. Subclasses add typed fields; ``out`` is the folder the stage wrote (``None``
    for stages that write nothing) and ``seconds`` its wall-clock time."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
