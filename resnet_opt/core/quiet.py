"""Keep known, harmless native (C++) warnings off the user's terminal.

Some torch warnings are printed by C++ straight to file descriptor 2 (not through Python's ``warnings``), e.g. the
deprecation notice for quantized tensors that every load of an INT8 TorchScript file triggers. They cannot be
filtered with ``warnings.catch_warnings``; :func:`drop_native_stderr` captures fd 2 for the duration of a call and
writes back every line except the ones naming a known notice.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator

# torch >= 2.10: "torch.quantize_per_tensor, torch.quantize_per_channel and other quantized tensor creation
# functions ... are deprecated" (Quantizer.cpp), printed once per process on loading an INT8 TorchScript module
QUANTIZED_DEPRECATION = "quantized tensor creation functions"


@contextlib.contextmanager
def drop_native_stderr(*needles: str) -> Iterator[None]:
    """Run the block with fd 2 redirected to a temporary file; afterwards write back every line that contains none
    of ``needles`` (so unexpected messages still reach the user, in order)."""
    needles = needles or (QUANTIZED_DEPRECATION,)
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (an embedded interpreter): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError, OSError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            keep = "".join(ln for ln in text.splitlines(keepends=True) if not any(n in ln for n in needles))
            if keep:
                os.write(2, keep.encode("utf-8"))


__all__ = ["drop_native_stderr", "QUANTIZED_DEPRECATION"]
