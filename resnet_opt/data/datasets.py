"""Data specs: ``digits[:SIZE]`` (real, embedded), ``fashion-mnist[:SIZE]`` (real, Debian's package),
``imagefolder:PATH`` (ImageNet-style), ``synthetic[:SIZE]``.

Training, calibration and evaluation loaders are all built from the same spec string.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from resnet_opt.core.errors import DataError, DataSpecError
from resnet_opt.data.fashion_mnist import CLASSES as FASHION_CLASSES
from resnet_opt.data.fashion_mnist import DEFAULT_SIZE as FASHION_DEFAULT_SIZE
from resnet_opt.data.fashion_mnist import FashionMNIST
from resnet_opt.data.preprocessing import (PRESETS, Preprocessing, digits_preprocessing, fashion_preprocessing,
                                            open_image)

SPLITS = ("train", "val", "calib", "test")
DIGITS_DEFAULT_SIZE = 32
DIGITS_SEED = 0
DIGITS_VAL_FRACTION = 0.2
KINDS = ("digits", "fashion-mnist", "imagefolder", "synthetic")
SPEC_HELP = "digits[:SIZE], fashion-mnist[:SIZE], imagefolder:PATH or synthetic[:SIZE]"
# the split a final accuracy figure is reported on: a real test split where the data has one (digits has none)
TEST_SPLIT_KINDS = ("fashion-mnist",)


@dataclass(frozen=True)
class DataSpec:
    kind: str
    path: Path | None = None
    size: int | None = None
    preset: str = "v1"
    text: str = ""
    # imagefolder: prepare the images as a model records it (eval of a 32 px model on ordinary photos), not a preset
    preprocessing: Preprocessing | None = dataclasses.field(default=None, compare=False, hash=False)

    @property
    def labelled(self) -> bool:
        return self.kind != "synthetic"

    def __str__(self) -> str:
        return self.text or self.kind


def parse_data_spec(text: str, preset: str | None = None) -> DataSpec:
    """Parse ``digits``, ``digits:64``, ``imagefolder:PATH``, ``synthetic``, ``synthetic:224``."""
    if isinstance(text, DataSpec):
        return text
    if not isinstance(text, str) or not text.strip():
        raise DataSpecError(f"empty data spec; use {SPEC_HELP}")
    s = text.strip()
    kind, _, arg = s.partition(":")
    kind = kind.lower()
    if preset is not None and preset not in PRESETS:
        raise DataSpecError(f"unknown preprocessing preset {preset!r}; valid: {', '.join(PRESETS)}")
    if kind in ("fashion_mnist", "fashionmnist"):
        kind = "fashion-mnist"
    if kind in ("digits", "synthetic", "fashion-mnist"):
        size = None
        if arg:
            try:
                size = int(arg)
            except ValueError:
                raise DataSpecError(f"bad size {arg!r} in data spec {s!r}; expected an integer, e.g. {kind}:64") from None
            if not 8 <= size <= 1024:
                raise DataSpecError(f"size {size} in data spec {s!r} is out of range 8..1024")
        # synthetic without a size takes the model's input size (see fit_data_to_model); 224 when there is none
        default = {"digits": DIGITS_DEFAULT_SIZE, "fashion-mnist": FASHION_DEFAULT_SIZE}.get(kind)
        return DataSpec(kind=kind, size=size or default, text=s)
    if kind == "imagefolder":
        if not arg:
            raise DataSpecError("imagefolder needs a path: imagefolder:PATH")
        if "\x00" in arg:
            raise DataSpecError("image folder path contains a NUL character")
        try:
            p = Path(arg).expanduser()
            exists, is_dir = p.exists(), p.is_dir()
        except (OSError, RuntimeError, ValueError) as e:
            raise DataSpecError(f"image folder {arg!r} cannot be used: {e}") from None
        if not exists:
            raise DataSpecError(f"image folder {p} does not exist")
        if not is_dir:
            raise DataSpecError(f"image folder {p} is not a folder")
        return DataSpec(kind="imagefolder", path=p, preset=preset or "v1", text=s)
    raise DataSpecError(f"unknown data spec {s!r}; use {SPEC_HELP}")


def preprocessing_for(spec: DataSpec) -> Preprocessing:
    if spec.kind == "digits":
        return digits_preprocessing(spec.size or DIGITS_DEFAULT_SIZE)
    if spec.kind == "fashion-mnist":
        return fashion_preprocessing(spec.size or FASHION_DEFAULT_SIZE)
    if spec.kind == "imagefolder":
        return spec.preprocessing or PRESETS[spec.preset]
    size = spec.size or 224
    return Preprocessing(resize=size, crop=size, square=True, name=f"synthetic-{size}")


def input_size_for(spec: DataSpec) -> int:
    return preprocessing_for(spec).crop


def fit_data_to_model(spec: DataSpec, input_size: int, model: str = "the model") -> DataSpec:
    """The data spec to use with a model that has its own input size: ``synthetic`` without a size takes the
    model's; any other spec whose images differ from ``input_size`` is refused (a DataError), never resized
    silently (a 32 px model fed 224 px ImageNet crops, or digits:64, answers at chance)."""
    if spec.kind == "synthetic" and spec.text.partition(":")[2] == "":
        return dataclasses.replace(spec, size=int(input_size), text=f"synthetic:{int(input_size)}")
    size = input_size_for(spec)
    if size != int(input_size):
        hint = (f"{spec.kind}:{input_size}" if spec.kind in ("digits", "fashion-mnist", "synthetic")
                else "a preprocessing that matches it")
        raise DataError(f"data {spec} gives {size} px images but {model} takes {input_size} px; use {hint}")
    return spec


def report_split(spec: DataSpec) -> str:
    """The split a reported accuracy is measured on: ``test`` for data with a real test split (Fashion-MNIST's official
    10,000 images; an image folder with ``test/``), else ``val`` (digits: its held-out 20 %)."""
    if spec.kind in TEST_SPLIT_KINDS or (spec.kind == "imagefolder" and spec.path is not None
                                         and (Path(spec.path) / "test").is_dir()):
        return "test"
    return "val"


def require_split(spec: DataSpec, split: str) -> None:
    """``test`` only where the data has a test split (see :func:`report_split`): a DataSpecError otherwise."""
    if split == "test" and report_split(spec) != "test":
        raise DataSpecError(f"data spec {spec} has no test split (its images are split into train and val only); "
                            "use --split val")


def require_labelled(spec: DataSpec, purpose: str = "accuracy") -> None:
    if not spec.labelled:
        raise DataError(f"data spec {spec} has no labels; {purpose} needs labelled data (digits, fashion-mnist or "
                        "imagefolder:PATH)")


# ---------------------------------------------------------------- digits
@functools.lru_cache(maxsize=4)
def _digits_tensors(size: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()  # bundled with scikit-learn: no download
    imgs = np.clip(d.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    tf = digits_preprocessing(size).transform()
    x = torch.stack([tf(Image.fromarray(im, mode="L")) for im in imgs])
    y = torch.as_tensor(d.target, dtype=torch.long)
    idx = np.arange(len(y))
    tr, va = train_test_split(idx, test_size=DIGITS_VAL_FRACTION, random_state=DIGITS_SEED, stratify=d.target)
    return x, y, np.sort(tr), np.sort(va)


def digits_split_indices(size: int = DIGITS_DEFAULT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    _, _, tr, va = _digits_tensors(size)
    return tr, va


# ---------------------------------------------------------------- imagefolder
def _safe_loader(path: str):
    """ImageFolder's loader: :func:`open_image` (a corrupt, truncated or oversized image is a DataError naming
    the file; every Pillow mode decoded to the right 8-bit values)."""
    return open_image(path)


SKIP_BAD_IMAGES_ENV = "RESNET_OPT_SKIP_BAD_IMAGES"  # set by ``resnet-opt --skip-bad-images`` (any command)


def skip_bad_images() -> bool:
    """True when the user asked to skip unreadable images in image folders (default: such an image is an error
    naming the file)."""
    return os.environ.get(SKIP_BAD_IMAGES_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@functools.lru_cache(maxsize=32)
def _unreadable(paths: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(path, reason) of every file among ``paths`` that :func:`open_image` refuses (decoded once per process)."""
    bad = []
    for path in paths:
        try:
            open_image(path)
        except DataError as e:
            bad.append((path, str(e)))
    return tuple(bad)


_WARNED: set[tuple[str, int]] = set()  # one warning per folder and process, however often it is opened


def _drop_unreadable(ds, root: Path):  # noqa: ANN001, ANN202 - a torchvision ImageFolder
    bad = _unreadable(tuple(p for p, _ in ds.samples))
    if not bad:
        return ds
    gone = {p for p, _ in bad}
    ds.samples = [s for s in ds.samples if s[0] not in gone]
    ds.imgs, ds.targets = ds.samples, [t for _, t in ds.samples]
    if (str(root), len(bad)) in _WARNED:
        return ds
    _WARNED.add((str(root), len(bad)))
    import warnings

    from resnet_opt.core.errors import ResNetOptWarning

    warnings.warn(f"skipped {len(bad)} unreadable image(s) of {len(bad) + len(ds.samples)} in {root} "
                  f"(--skip-bad-images); first: {bad[0][1]}", ResNetOptWarning, stacklevel=2)
    return ds


def _imagefolder(spec: DataSpec, split: str):
    from torchvision.datasets import ImageFolder

    root = spec.path
    assert root is not None
    sub = {"train": "train", "calib": "train", "val": "val", "test": "test"}[split]
    if (root / sub).is_dir():
        root = root / sub
    elif split == "val" and (root / "validation").is_dir():
        root = root / "validation"
    try:
        ds = ImageFolder(str(root), transform=preprocessing_for(spec).transform(), loader=_safe_loader)
    except FileNotFoundError as e:
        raise DataError(f"image folder {root} is empty or has no class subfolders with images ({e})") from e
    return _drop_unreadable(ds, root) if skip_bad_images() else ds


# ---------------------------------------------------------------- public API
def class_names_for(spec: DataSpec) -> list[str] | None:
    if spec.kind == "digits":
        return [str(i) for i in range(10)]
    if spec.kind == "fashion-mnist":
        return list(FASHION_CLASSES)
    if spec.kind == "imagefolder":
        return list(_imagefolder(spec, "val").classes)
    return None


def num_classes_for(spec: DataSpec) -> int | None:
    names = class_names_for(spec)
    return len(names) if names else None


def build_dataset(spec: DataSpec | str, split: str = "val", *, limit: int | None = None, seed: int = 0,
                  num_classes: int = 10) -> Dataset:
    """A dataset of (image tensor, label). ``calib`` draws from the training split.

    ``limit`` keeps a seeded, class-balanced-in-expectation random subset of that many items.
    """
    spec = parse_data_spec(spec) if isinstance(spec, str) else spec
    if split not in SPLITS:
        raise DataSpecError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if limit is not None and limit < 1:
        raise DataSpecError(f"a subset must hold at least 1 image, got {limit}")
    require_split(spec, split)
    if spec.kind == "digits":
        x, y, tr, va = _digits_tensors(spec.size or DIGITS_DEFAULT_SIZE)
        idx = va if split == "val" else tr
        ds: Dataset = TensorDataset(x[idx], y[idx])
    elif spec.kind == "fashion-mnist":
        ds = FashionMNIST(split, spec.size or FASHION_DEFAULT_SIZE)
    elif spec.kind == "imagefolder":
        ds = _imagefolder(spec, split)
    else:
        size = spec.size or 224
        g = torch.Generator().manual_seed(seed + {"train": 0, "val": 1, "calib": 2, "test": 3}[split])
        n = limit or 64
        ds = TensorDataset(torch.randn(n, 3, size, size, generator=g), torch.full((n,), -1, dtype=torch.long))
    n = len(ds)  # type: ignore[arg-type]
    if n == 0:
        raise DataError(f"data spec {spec} has no images in split {split!r}")
    if limit is not None and limit < n:
        rng = np.random.default_rng(seed)
        ds = Subset(ds, sorted(rng.choice(n, size=limit, replace=False).tolist()))
    return ds


def build_loader(spec: DataSpec | str, split: str = "val", *, batch_size: int = 64, limit: int | None = None,
                 shuffle: bool = False, seed: int = 0, num_workers: int = 0, drop_last: bool = False,
                 replicas: int = 1, rank: int = 0) -> DataLoader:
    """A DataLoader over ``split``. With ``replicas`` > 1 (one per torchrun process) this rank gets its share: for
    training (``shuffle``) through torch's DistributedSampler (seeded, reshuffled by ``set_epoch``), for evaluation
    every ``replicas``-th image from ``rank`` on, without DistributedSampler's padding (so summed counts are exact)."""
    if batch_size < 1:
        raise DataSpecError(f"batch size must be at least 1, got {batch_size}")
    if replicas < 1 or not 0 <= rank < replicas:
        raise DataSpecError(f"bad data shard: rank {rank} of {replicas}")
    ds = build_dataset(spec, split, limit=limit, seed=seed)
    g = torch.Generator().manual_seed(seed)
    if replicas > 1 and shuffle:
        from torch.utils.data.distributed import DistributedSampler

        n = len(ds)  # type: ignore[arg-type]
        if n < replicas:
            raise DataError(f"{n} images cannot be shared among {replicas} processes")
        sampler = DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                          drop_last=drop_last and n // replicas > batch_size)
    if replicas > 1:
        ds = Subset(ds, list(range(rank, len(ds), replicas)))  # type: ignore[arg-type]
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g, num_workers=num_workers,
                      drop_last=drop_last and len(ds) > batch_size)  # type: ignore[arg-type]


def describe_spec(spec: DataSpec) -> dict[str, Any]:
    return {"spec": str(spec), "kind": spec.kind, "labelled": spec.labelled,
            "preprocessing": preprocessing_for(spec).to_dict()}
