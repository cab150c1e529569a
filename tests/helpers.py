"""Assertions shared by the test modules (import as ``from helpers import ...``)."""

from __future__ import annotations


def one_line_error(result, *needles: str, strict: bool = True, code: int | None = None) -> str:
    """A CLI result that failed the way users should see it: non-zero exit, no traceback, one ``error:`` line.

    ``strict``: that line is the whole output; otherwise earlier non-error lines (progress) may precede it, but it is
    the last line and the only one mentioning an error. ``code``: the exact exit code expected. Each needle must appear in the line, which is returned."""
    out = result.output
    assert result.exit_code != 0 if code is None else result.exit_code == code, out
    assert "Traceback" not in out
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), out
    if strict:
        assert len(lines) == 1, out
    else:
        assert len([ln for ln in lines if "error" in ln.lower()]) == 1, out
    for n in needles:
        assert n in lines[-1], lines[-1]
    return lines[-1]
