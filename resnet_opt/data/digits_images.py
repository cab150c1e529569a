"""Write real data-set images as PNG files (scikit-learn digits, Fashion-MNIST), to try ``predict`` on real images
without downloading any.

The files are the dataset's own 8×8 grayscale images (16 grey levels scaled to 0-255): light ink on a dark
ground, as the digits models were trained on. They are written at 8×8 so that ``predict`` (which resizes them with
the model's recorded preprocessing) sees exactly the tensors evaluation sees; ``scale`` > 1 writes them larger
(nearest neighbour) for looking at, at the cost of that exactness.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_opt.core.errors import ConfigError, OutputPathError


@dataclass
class DigitsImages:
    out: str
    split: str
    files: list[str] = field(default_factory=list)
    per_class: dict[str, int] = field(default_factory=dict)
    size_px: int = 8

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _checked_out(out: str | os.PathLike, count: int, split: str, splits: tuple[str, ...], scale: int) -> Path:
    if count < 1:
        raise ConfigError(f"--count must be at least 1, got {count}")
    if split not in splits:
        raise ConfigError(f"--split must be {', '.join(splits[:-1])} or {splits[-1]}, got {split!r}")
    if scale < 1:
        raise ConfigError(f"--scale must be at least 1, got {scale}")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise OutputPathError(f"{root} exists and is not a folder")
    return root


def _write_round_robin(root: Path, images: Any, labels: Any, idx: Any, names: list[str], *, count: int, split: str,
                       scale: int) -> DigitsImages:
    """Write ``count`` of the images ``idx`` (taken from each class in turn) to ``root/<class>/<split>-<index>.png``
    at their own pixels (``scale`` > 1: larger, nearest neighbour)."""
    from PIL import Image

    side = int(images.shape[-1])
    by_class = {c: [int(i) for i in idx if int(labels[i]) == c] for c in range(len(names))}
    chosen = [by_class[c][k] for k in range(count) for c in by_class if k < len(by_class[c])][:count]
    width = len(str(len(labels)))
    res = DigitsImages(out=str(root), split=split, size_px=side * scale)
    try:
        for i in chosen:
            label = class_folder_name(names[int(labels[i])])
            (root / label).mkdir(parents=True, exist_ok=True)
            im = Image.fromarray(images[i], mode="L")
            if scale > 1:
                im = im.resize((side * scale, side * scale), Image.NEAREST)
            f = root / label / f"{split}-{i:0{width}d}.png"
            im.save(f)
            res.files.append(str(f))
            res.per_class[label] = res.per_class.get(label, 0) + 1
    except OSError as e:
        raise OutputPathError(f"cannot write images to {root}: {e.strerror or e}") from e
    return res


def write_digits_images(out: str | os.PathLike, *, count: int = 20, split: str = "val",
                        scale: int = 1) -> DigitsImages:
    """Write ``count`` digits images of ``split`` (val: never trained on) to ``out/<label>/<split>-<index>.png``,
    spread evenly over the ten classes (folder names are the labels, so ``predict`` can score them)."""
    import numpy as np
    from sklearn.datasets import load_digits

    from resnet_opt.data.datasets import digits_split_indices

    root = _checked_out(out, count, split, ("val", "train"), scale)
    d = load_digits()
    imgs = np.clip(d.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)  # as data.datasets does
    tr, va = digits_split_indices()
    return _write_round_robin(root, imgs, d.target, va if split == "val" else tr, [str(i) for i in range(10)],
                              count=count, split=split, scale=scale)


def class_folder_name(name: str) -> str:
    """A class name as a folder name (``T-shirt/top`` -> ``T-shirt_top``): ``predict`` matches folders this way."""
    return name.replace("/", "_").replace("\\", "_")


def write_fashion_images(out: str | os.PathLike, *, count: int = 20, split: str = "test",
                         scale: int = 1) -> DigitsImages:
    """Write ``count`` Fashion-MNIST product photos of ``split`` (``test``: the official test images; ``val``: the
    held-out part of the training set) to ``out/<class>/<split>-<index>.png``, spread evenly over the ten classes, at
    their own 28×28 pixels (``scale`` > 1: larger, nearest neighbour), so ``predict`` sees what evaluation sees."""
    import numpy as np

    from resnet_opt.data import fashion_mnist as fm

    root = _checked_out(out, count, split, ("test", "val", "train"), scale)
    folder = str(fm.find_dir())
    arrays = fm.raw_arrays(folder)
    part = "test" if split == "test" else "train"
    labels = arrays[f"{part}-labels"]
    if split == "test":
        idx = np.arange(len(labels))
    else:
        tr, va = fm.split_indices(folder)
        idx = va if split == "val" else tr
    return _write_round_robin(root, arrays[f"{part}-images"], labels, idx, list(fm.CLASSES), count=count, split=split,
                              scale=scale)


__all__ = ["DigitsImages", "class_folder_name", "write_digits_images", "write_fashion_images"]
