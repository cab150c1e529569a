"""Images in: decoding files safely and applying a :class:`~resnet_opt.core.preprocessing.Preprocessing` (the one
typed preprocessing, defined in core so manifests and config.json use it too; re-exported here)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from resnet_opt.core.errors import DataError
from resnet_opt.core.preprocessing import (
    DIGITS_MEAN, DIGITS_STD, FASHION_MEAN, FASHION_STD, IMAGENET_MEAN, IMAGENET_STD, INTERPOLATIONS, PRESETS,
    Preprocessing, PreprocessingError, digits_preprocessing, fashion_preprocessing, to_standard_mode,
)

__all__ = ["DIGITS_MEAN", "DIGITS_STD", "FASHION_MEAN", "FASHION_STD", "IMAGENET_MEAN", "IMAGENET_STD",
           "INTERPOLATIONS", "PRESETS", "Preprocessing", "PreprocessingError", "digits_preprocessing",
           "fashion_preprocessing", "to_standard_mode", "open_image", "load_image"]


def open_image(path: str | os.PathLike):
    """Open and decode an image file safely: a missing file, a non-image, a corrupt or truncated file and an image
    over :data:`resnet_opt.core.checks.MAX_IMAGE_PIXELS` (a decompression bomb) are each a DataError naming the file.
    Returns an 8-bit ``L`` or ``RGB`` image (see :func:`to_standard_mode`)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    from resnet_opt.core.checks import MAX_IMAGE_PIXELS

    p = Path(path)
    if p.is_dir():
        raise DataError(f"{p} is a folder, not an image file")
    if not p.is_file():
        raise DataError(f"image {p} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise DataError(f"{p} is {w}x{h} = {w * h:,} pixels, over the limit of {MAX_IMAGE_PIXELS:,} "
                                    "(a decompression bomb?)")
                if w < 1 or h < 1:
                    raise DataError(f"{p} is an empty image ({w}x{h})")
                im.load()
                return to_standard_mode(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{p} is over Pillow's pixel limit (a decompression bomb?): {e}") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise DataError(f"{p} is not a readable image (corrupt or truncated?): {type(e).__name__}: "
                        f"{' '.join(str(e).split())[:160]}") from e


def load_image(path: str | os.PathLike, pre: Preprocessing) -> torch.Tensor:
    """Open an image file (:func:`open_image`) and apply ``pre``; a clear DataError when it cannot be used."""
    return pre.transform()(open_image(path))
