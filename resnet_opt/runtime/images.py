"""Which image files a ``predict`` call means: files, folders (their images, recursively, sorted) and glob patterns
(``'photos/*.jpg'``, ``'data/**/*.png'``; expanded here when the shell did not)."""

from __future__ import annotations

import glob
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from resnet_opt.core.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
_GLOB_CHARS = set("*?[")


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def resolve_images(specs: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files, folders and glob patterns into a list of image files (each once, in the order given).

    Raises DataError naming the first spec that matches nothing (a missing file, an empty folder, a pattern with
    no match), before any image is read."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(paths: Iterable[Path]) -> None:
        for p in paths:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                out.append(p)

    if not specs:
        raise DataError("no images given: pass image files, a folder or a glob pattern")
    for spec in specs:
        text = str(spec)
        p = Path(text).expanduser()
        if p.is_dir():
            found = _images_in(p)
            if not found:
                raise DataError(f"folder {p} holds no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
            add(found)
        elif p.is_file():
            add([p])
        elif _GLOB_CHARS & set(text):
            found = sorted(Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True)
                           if Path(m).is_file() and Path(m).suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"no image matches {text}")
            add(found)
        else:
            raise DataError(f"image {p} does not exist")
    return out


@dataclass
class PredictionSummary:
    """What a batch of predictions says at a glance: how many images, how many per predicted class, and, when every
    image sits in a folder named after one of the model's classes, how many predictions match that folder name."""

    images: int
    per_class: dict[str, int] = field(default_factory=dict)  # predicted top-1 class -> images, most frequent first
    labelled_by_folder: int = 0  # images whose parent folder is a class name
    correct_by_folder: int = 0  # ... of which the top-1 prediction matches it

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def summarize(predictions: Sequence[Any], class_names: Sequence[str] | None = None) -> PredictionSummary:
    """Summarize :class:`~resnet_opt.runtime.Prediction` objects (``source``, ``top1_name``)."""
    counts = Counter(p.top1_name for p in predictions)
    from resnet_opt.data.digits_images import class_folder_name

    names = {class_folder_name(n): n for n in class_names or []}  # "T-shirt/top" sits in folder "T-shirt_top"
    labelled = correct = 0
    for p in predictions:
        parent = Path(p.source).parent.name
        if parent in names:
            labelled += 1
            correct += int(names[parent] == p.top1_name)
    return PredictionSummary(images=len(predictions), per_class=dict(counts.most_common()),
                             labelled_by_folder=labelled, correct_by_folder=correct)


def unlike_training(paths: Sequence[str | Path], pre: Any, limit: int = 1000) -> list[str]:
    """Warnings for images that look nothing like what the model was trained on (read from its recorded
    preprocessing ``pre``): colour photos given to a grayscale model, a strongly non-square image squashed into a
    square input, and images whose preprocessed pixels sit far from the training statistics (mean more than 1.5
    standard deviations away: e.g. a bright photo for a light-ink-on-dark digits model). One line per finding,
    counting the images (at most ``limit`` are looked at)."""
    import numpy as np

    from resnet_opt.data.preprocessing import open_image

    colour, squashed, off = [], [], []
    checked = list(paths)[:limit]
    tf = pre.transform()
    for p in checked:
        try:
            img = open_image(p)
        except Exception:  # noqa: BLE001 - unreadable images are reported by predict itself
            continue
        if pre.grayscale and img.mode == "RGB":
            a = np.asarray(img, dtype=np.int16)
            if np.abs(a - a.mean(axis=2, keepdims=True)).mean() > 8:  # real colour, not gray stored as RGB
                colour.append(p)
        w, h = img.size
        if pre.square and max(w, h) > 1.5 * min(w, h):
            squashed.append(p)
        if abs(float(tf(img).mean())) > 1.5:
            off.append(p)
    n = len(checked)
    out = []
    if colour:
        out.append(f"{len(colour)} of {n} image(s) are in colour (e.g. {Path(colour[0]).name}) but the model was trained "
                   f"on grayscale images ({pre.name}); they are converted to gray, and its answers may mean nothing")
    if squashed:
        out.append(f"{len(squashed)} of {n} image(s) are far from square (e.g. {Path(squashed[0]).name}) and are "
                   f"squashed to {pre.crop}×{pre.crop}, as the model's preprocessing ({pre.name}) does")
    if off:
        out.append(f"{len(off)} of {n} image(s) (e.g. {Path(off[0]).name}) are far from the training images' "
                   f"brightness (preprocessed mean more than 1.5 std from {pre.name}'s); the model may not have seen "
                   "anything like them")
    return out


__all__ = ["IMAGE_SUFFIXES", "resolve_images", "PredictionSummary", "summarize", "unlike_training"]
