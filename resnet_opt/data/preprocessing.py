"""Preprocessing presets, recorded in model configs and manifests so every artifact applies the same transform."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from resnet_opt.core.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# scikit-learn digits, pixels scaled to [0, 1] (measured over all 1,797 images)
DIGITS_MEAN = (0.3053, 0.3053, 0.3053)
DIGITS_STD = (0.3760, 0.3760, 0.3760)


@dataclass
class Preprocessing:
    """Resize (shorter side, or exact square when ``square``), centre crop, to tensor, normalize."""

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"
    grayscale: bool = False  # convert to one channel, replicated to 3 (digits)
    square: bool = False  # resize to resize×resize instead of the shorter side
    name: str = field(default="custom")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Preprocessing":
        if not d:
            return cls(name="imagenet-v1")
        keys = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("mean", "std"):
            if k in keys:
                keys[k] = tuple(float(v) for v in keys[k])
        return cls(**keys)

    def transform(self):
        from torchvision import transforms as T

        interp = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC,
                  "nearest": T.InterpolationMode.NEAREST}[self.interpolation]
        steps: list[Any] = []
        if self.grayscale:
            steps.append(T.Grayscale(num_output_channels=3))
        else:
            steps.append(T.Lambda(_to_rgb))
        steps.append(T.Resize((self.resize, self.resize) if self.square else self.resize, interpolation=interp, antialias=True))
        if self.crop != self.resize or not self.square:
            steps.append(T.CenterCrop(self.crop))
        steps += [T.ToTensor(), T.Normalize(self.mean, self.std)]
        return T.Compose(steps)


def _to_rgb(img):
    return img.convert("RGB") if img.mode != "RGB" else img


PRESETS = {
    # torchvision V1 weights: resize 256, centre crop 224
    "v1": Preprocessing(resize=256, crop=224, name="imagenet-v1"),
    # torchvision V2 weights (R50/101/152): resize 232, centre crop 224
    "v2": Preprocessing(resize=232, crop=224, name="imagenet-v2"),
}


def digits_preprocessing(size: int) -> Preprocessing:
    return Preprocessing(resize=size, crop=size, mean=DIGITS_MEAN, std=DIGITS_STD, grayscale=True, square=True,
                         name=f"digits-{size}")


def load_image(path: str | os.PathLike, pre: Preprocessing) -> torch.Tensor:
    """Open an image file and apply ``pre``; a clear DataError when it is missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"image {p} does not exist")
    try:
        with Image.open(p) as im:
            im.load()
            return pre.transform()(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DataError(f"{p} is not a readable image: {type(e).__name__}") from e
