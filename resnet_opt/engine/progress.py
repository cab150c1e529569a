"""Progress bars (rich) that library code can show or hide; the CLI decides."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress_iter(it: Iterable[T], *, description: str = "", enabled: bool = True, total: int | None = None) -> Iterator[T]:
    if not enabled:
        yield from it
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if total is None:
        try:
            total = len(it)  # type: ignore[arg-type]
        except TypeError:
            total = None
    from rich.console import Console

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=Console(file=sys.stderr), transient=True) as prog:
        task = prog.add_task(description, total=total)
        for item in it:
            yield item
            prog.advance(task)
