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


__all__ = ["IMAGE_SUFFIXES", "resolve_images", "PredictionSummary", "summarize"]
