"""Preprocessing: ONE typed description of how images are prepared for a model, with one set of checks.

Recorded in config.json (resnet/io.py), in every manifest (core/manifest.py), carried by ModelSource and used by the
data pipelines (data/, which re-exports it). A section that is missing is never replaced by a guessed preset:
:meth:`Preprocessing.from_dict` raises :class:`PreprocessingError`; :meth:`Preprocessing.optional` says "none"."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from resnet_opt.core.checks import INPUT_SIZE_MAX, INPUT_SIZE_MIN
from resnet_opt.core.errors import DataError

__all__ = ["Preprocessing", "PreprocessingError", "PRESETS", "INTERPOLATIONS", "IMAGENET_MEAN", "IMAGENET_STD",
           "DIGITS_MEAN", "DIGITS_STD", "FASHION_MEAN", "FASHION_STD", "digits_preprocessing", "fashion_preprocessing",
           "to_standard_mode"]


class PreprocessingError(DataError):
    """A preprocessing section that is malformed or missing; ``field`` names the bad key (None: the whole section)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# scikit-learn digits, pixels scaled to [0, 1] (measured over all 1,797 images)
DIGITS_MEAN = (0.3053, 0.3053, 0.3053)
DIGITS_STD = (0.3760, 0.3760, 0.3760)
# Fashion-MNIST, pixels scaled to [0, 1] (measured over the official 60,000 training images at 28 px)
FASHION_MEAN = (0.2860, 0.2860, 0.2860)
FASHION_STD = (0.3530, 0.3530, 0.3530)


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
    def from_dict(cls, d: Any) -> "Preprocessing":
        """Rebuild from a config/manifest section; a malformed field is a :class:`PreprocessingError` naming it.

        A missing section (None or ``{}``) is an error too: preprocessing is never guessed. A caller that has a
        reason to fall back to a preset says which one (``Preprocessing.preset("v1")``)."""
        if isinstance(d, Preprocessing):
            return d.validate()
        if d is None or (isinstance(d, dict) and not d):
            raise PreprocessingError("no preprocessing recorded (it is never guessed): record one, e.g. "
                                     "'digits:32', 'fashion-mnist:28', 'v1' or 'v2'", field=None)
        if not isinstance(d, dict):
            raise PreprocessingError(f"preprocessing must be an object, got {type(d).__name__}", field=None)
        keys = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("mean", "std"):
            if k in keys:
                v = keys[k]
                if not isinstance(v, (list, tuple)) or len(v) != 3 or not all(
                        isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                    raise PreprocessingError(f"preprocessing field '{k}' must be a list of 3 numbers, got {v!r}"[:200],
                                             field=k)
                keys[k] = tuple(float(x) for x in v)
        p = cls(**keys)
        p.validate()
        return p

    @classmethod
    def optional(cls, d: Any) -> "Preprocessing | None":
        """:meth:`from_dict` for a section that may be absent (None or ``{}`` -> None, never a guessed preset)."""
        if d is None or (isinstance(d, dict) and not d):
            return None
        return cls.from_dict(d)

    @classmethod
    def preset(cls, name: str) -> "Preprocessing":
        """A named preset (``v1``, ``v2``), chosen explicitly by the caller."""
        if name not in PRESETS:
            raise PreprocessingError(f"unknown preprocessing preset {name!r}; presets: {', '.join(PRESETS)}", field=None)
        return replace(PRESETS[name])

    def fit(self, input_size: int) -> "Preprocessing":
        """This preprocessing with its crop set to ``input_size`` (same resize/crop ratio), so a source used at
        another size than it was saved with still prepares images of the model's input size."""
        if self.crop == input_size:
            return replace(self)
        resize = max(input_size, int(round(input_size * self.resize / self.crop)))
        return replace(self, resize=resize, crop=input_size, name=f"{self.name}@{input_size}")

    def validate(self) -> "Preprocessing":
        """The one set of checks of a preprocessing (manifest, config.json, data specs, ModelSource)."""
        for k in ("resize", "crop"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or not INPUT_SIZE_MIN <= v <= INPUT_SIZE_MAX:
                raise PreprocessingError(f"preprocessing field '{k}' must be an integer in {INPUT_SIZE_MIN}.."
                                         f"{INPUT_SIZE_MAX}, got {v!r}"[:200], field=k)
        if self.crop > self.resize:
            raise PreprocessingError(f"preprocessing crop {self.crop} is larger than its resize {self.resize}",
                                     field="crop")
        if not all(math.isfinite(x) for x in self.mean):
            raise PreprocessingError(f"preprocessing mean must be finite, got {list(self.mean)}", field="mean")
        if not all(math.isfinite(x) and x > 0 for x in self.std):
            raise PreprocessingError(f"preprocessing std must be positive and finite, got {list(self.std)}",
                                     field="std")
        if self.interpolation not in INTERPOLATIONS:
            raise PreprocessingError(f"unknown preprocessing interpolation {self.interpolation!r}; valid: "
                                     f"{', '.join(INTERPOLATIONS)}", field="interpolation")
        for k in ("grayscale", "square"):
            if not isinstance(getattr(self, k), bool):
                raise PreprocessingError(f"preprocessing field '{k}' must be true or false, got "
                                         f"{getattr(self, k)!r}", field=k)
        if not isinstance(self.name, str):
            raise PreprocessingError(f"preprocessing field 'name' must be a string, got {self.name!r}"[:200],
                                     field="name")
        return self

    def transform(self):
        from torchvision import transforms as T

        self.validate()
        interp = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC,
                  "nearest": T.InterpolationMode.NEAREST}[self.interpolation]
        steps: list[Any] = [T.Lambda(to_standard_mode)]
        if self.grayscale:
            steps.append(T.Grayscale(num_output_channels=3))
        else:
            steps.append(T.Lambda(_to_rgb))
        steps.append(T.Resize((self.resize, self.resize) if self.square else self.resize, interpolation=interp, antialias=True))
        if self.crop != self.resize or not self.square:
            steps.append(T.CenterCrop(self.crop))
        steps += [T.ToTensor(), T.Normalize(self.mean, self.std)]
        return T.Compose(steps)


INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def _to_rgb(img):
    return img.convert("RGB") if img.mode != "RGB" else img


def to_standard_mode(img):
    """Any image Pillow reads -> 8-bit ``L`` (one channel) or ``RGB``, with the right values.

    * 16-bit and 32-bit integer grayscale (``I;16*``, ``I``) are rescaled (0..65535 -> 0..255), not clipped;
      float (``F``) is taken as 0..255, clipped;
    * palette (``P``/``PA``), 1-bit, CMYK, YCbCr, LAB, HSV: converted by Pillow;
    * alpha (``LA``, ``RGBA``, ``PA``, ``RGBa``, ``La``): applied (premultiplied: a transparent pixel is black), not
      dropped, so the invisible colour under transparent pixels does not leak into the input.
    """
    import numpy as np
    from PIL import Image

    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img).astype(np.float64)
        if mode.startswith("I;16B"):
            pass  # numpy already reads the big-endian data as numbers
        a = np.clip(a, 0, 65535) * (255.0 / 65535.0)
        return Image.fromarray(np.round(a).astype(np.uint8), mode="L")
    if mode == "F":
        a = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        return Image.fromarray(np.round(np.clip(a, 0, 255)).astype(np.uint8), mode="L")
    if mode == "1":
        return img.convert("L")
    if mode in ("P", "PA"):
        img = img.convert("RGBA") if (mode == "PA" or "transparency" in img.info) else img.convert("RGB")
        mode = img.mode
        if mode == "RGB":
            return img
    if mode in ("LA", "La", "RGBA", "RGBa"):
        base = "L" if mode.startswith("L") else "RGB"
        a = np.asarray(img).astype(np.float64)
        color, alpha = a[..., :-1], a[..., -1:] / 255.0
        if mode in ("LA", "RGBA"):
            color = color * alpha  # premultiply: transparent pixels -> black
        out = np.round(np.clip(color, 0, 255)).astype(np.uint8)
        return Image.fromarray(out[..., 0] if base == "L" else out, mode=base)
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as e:
        raise DataError(f"cannot convert an image of mode {mode} to RGB: {e}") from e


PRESETS = {
    # torchvision V1 weights: resize 256, centre crop 224
    "v1": Preprocessing(resize=256, crop=224, name="imagenet-v1"),
    # torchvision V2 weights (R50/101/152): resize 232, centre crop 224
    "v2": Preprocessing(resize=232, crop=224, name="imagenet-v2"),
}


def digits_preprocessing(size: int) -> Preprocessing:
    return Preprocessing(resize=size, crop=size, mean=DIGITS_MEAN, std=DIGITS_STD, grayscale=True, square=True,
                         name=f"digits-{size}")


def fashion_preprocessing(size: int) -> Preprocessing:
    """Fashion-MNIST at ``size`` px: the 28×28 8-bit image resized (bilinear, antialiased), to 3 equal channels."""
    return Preprocessing(resize=size, crop=size, mean=FASHION_MEAN, std=FASHION_STD, grayscale=True, square=True,
                         name=f"fashion-mnist-{size}")
