"""Fashion-MNIST (Zalando product photos, 28×28 grayscale, 10 classes): the second real data set.

The four idx files come from Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``) or
from ``$RESNET_OPT_DATA/fashion-mnist`` (the same four files, gzipped or not). Nothing is downloaded. Every file is
checked before use: its idx header (magic number, count, 28×28), its decompressed size and sha256 against the
official release, and the label range; a missing or corrupt file is one DataError naming it and the install command.

Splits: ``train`` / ``val`` come from the official 60,000 training images through a fixed, seeded, stratified split
(:data:`VAL_FRACTION` of it, 6,000 images, for val); ``test`` is the official 10,000 test images;
``calib`` draws from ``train``.
The images are prepared exactly as :func:`resnet_opt.data.preprocessing.fashion_preprocessing` records them (Pillow
resize of the 8-bit image, then to [0, 1], then normalized), so ``predict`` on a PNG written by ``fashion-images``
sees the very tensor evaluation sees.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from resnet_opt.core.errors import DataError

DATA_ENV = "RESNET_OPT_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
INSTALL_HINT = "install it with 'apt-get install dataset-fashion-mnist' (as root), or put the four idx files in " \
               f"${DATA_ENV}/fashion-mnist"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DEFAULT_SIZE = 32
SEED = 0
VAL_FRACTION = 0.1  # of the official training set: 6,000 images, 600 per class


@dataclass(frozen=True)
class IdxFile:
    """One official file: its name (without ``.gz``), kind, image count and the sha256/size of its decompressed
    bytes (the official release; Debian's package holds the same bytes)."""

    name: str
    images: bool
    count: int
    size: int
    sha256: str


FILES = {
    "train-images": IdxFile("train-images-idx3-ubyte", True, 60000, 47040016,
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels": IdxFile("train-labels-idx1-ubyte", False, 60000, 60008,
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "test-images": IdxFile("t10k-images-idx3-ubyte", True, 10000, 7840016,
                           "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "test-labels": IdxFile("t10k-labels-idx1-ubyte", False, 10000, 10008,
                           "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}


def candidate_dirs() -> list[Path]:
    """Where the files are looked for, in order: ``$RESNET_OPT_DATA/fashion-mnist``, then Debian's folder."""
    out = []
    root = os.environ.get(DATA_ENV, "").strip()
    if root:
        out.append(Path(root).expanduser() / "fashion-mnist")
    out.append(DEBIAN_DIR)
    return out


def find_dir() -> Path:
    """The first candidate folder that holds all four files (plain or ``.gz``); a DataError naming where it looked."""
    tried = candidate_dirs()
    for d in tried:
        if all(_file_in(d, f) is not None for f in FILES.values()):
            return d
    partial = [d for d in tried if d.is_dir() and any(_file_in(d, f) is not None for f in FILES.values())]
    if partial:
        missing = [f.name for f in FILES.values() if _file_in(partial[0], f) is None]
        raise DataError(f"Fashion-MNIST in {partial[0]} lacks {', '.join(missing)}; {INSTALL_HINT}")
    raise DataError(f"Fashion-MNIST is not installed (looked in {', '.join(str(d) for d in tried)}); {INSTALL_HINT}")


def available() -> tuple[bool, str]:
    """(True, folder) when the files are found, else (False, the reason): for tests and ``doctor``."""
    try:
        return True, str(find_dir())
    except DataError as e:
        return False, str(e)


def _file_in(d: Path, f: IdxFile) -> Path | None:
    for p in (d / f.name, d / f"{f.name}.gz"):
        if p.is_file():
            return p
    return None


def _read(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read(64 * 1024 * 1024 + 1)  # the largest official file is 47 MB
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"Fashion-MNIST file {path} cannot be read ({e}); it is corrupt: re-install it "
                        f"('apt-get install --reinstall dataset-fashion-mnist') or replace it") from None


def parse_idx(raw: bytes, f: IdxFile, path: Path) -> np.ndarray:
    """Check an idx file's header and size, return its uint8 array ((N, 28, 28) images or (N,) labels)."""
    where = f"Fashion-MNIST file {path}"
    head = 16 if f.images else 8
    if len(raw) < head:
        raise DataError(f"{where} is truncated ({len(raw)} bytes); re-install it")
    magic, n = struct.unpack(">II", raw[:8])
    want_magic = 2051 if f.images else 2049
    if magic != want_magic:
        raise DataError(f"{where} is not an idx {'image' if f.images else 'label'} file (magic {magic}, expected "
                        f"{want_magic})")
    if n != f.count:
        raise DataError(f"{where} holds {n} items; the official file holds {f.count}")
    if f.images:
        rows, cols = struct.unpack(">II", raw[8:16])
        if (rows, cols) != (28, 28):
            raise DataError(f"{where} holds {rows}×{cols} images; Fashion-MNIST's are 28×28")
        per = 28 * 28
    else:
        per = 1
    if len(raw) != head + n * per:
        raise DataError(f"{where} has {len(raw)} bytes; its header says {head + n * per} (truncated or padded)")
    a = np.frombuffer(raw, dtype=np.uint8, offset=head)
    if f.images:
        return a.reshape(n, 28, 28)
    if a.max(initial=0) > 9:
        raise DataError(f"{where} has a label {int(a.max())}; Fashion-MNIST's labels are 0..9")
    return a


def load_file(key: str, folder: Path | None = None) -> np.ndarray:
    """One official file as a checked uint8 array (``key`` in :data:`FILES`)."""
    f = FILES[key]
    d = folder or find_dir()
    path = _file_in(d, f)
    if path is None:
        raise DataError(f"Fashion-MNIST file {d / f.name}(.gz) is missing; {INSTALL_HINT}")
    raw = _read(path)
    arr = parse_idx(raw, f, path)  # a clear reason first (header, size), the hash second
    if len(raw) != f.size or hashlib.sha256(raw).hexdigest() != f.sha256:
        raise DataError(f"Fashion-MNIST file {path} does not match the official release (sha256 differs); "
                        f"re-install it ('apt-get install --reinstall dataset-fashion-mnist') or replace it")
    return arr


@functools.lru_cache(maxsize=2)
def raw_arrays(folder: str) -> dict[str, np.ndarray]:
    """All four checked arrays of ``folder`` (read once per process)."""
    return {k: load_file(k, Path(folder)) for k in FILES}


@functools.lru_cache(maxsize=2)
def split_indices(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices into the official training set: seeded and stratified, :data:`VAL_FRACTION` for val."""
    from sklearn.model_selection import train_test_split

    y = raw_arrays(folder)["train-labels"]
    idx = np.arange(len(y))
    tr, va = train_test_split(idx, test_size=VAL_FRACTION, random_state=SEED, stratify=y)
    return np.sort(tr), np.sort(va)


def _resize_u8(images: np.ndarray, size: int) -> torch.Tensor:
    """Pillow's bilinear (antialiased) resize of each 8-bit image, as the recorded preprocessing's transform does."""
    if size == 28:
        return torch.from_numpy(images.copy())
    from PIL import Image

    out = np.empty((len(images), size, size), dtype=np.uint8)
    for i, im in enumerate(images):
        out[i] = np.asarray(Image.fromarray(im, mode="L").resize((size, size), Image.BILINEAR))
    return torch.from_numpy(out)


@functools.lru_cache(maxsize=6)
def _prepared(part: str, size: int, folder: str) -> tuple[torch.Tensor, torch.Tensor]:
    arrays = raw_arrays(folder)
    return _resize_u8(arrays[f"{part}-images"], size), torch.from_numpy(arrays[f"{part}-labels"].astype(np.int64))


class FashionMNIST(Dataset):
    """(image tensor, label) for one split at ``size`` px: 8-bit images held resized, normalized per item (3 equal
    channels, as ``Grayscale(num_output_channels=3)`` gives)."""

    def __init__(self, split: str, size: int = DEFAULT_SIZE, folder: str | Path | None = None):
        from resnet_opt.data.preprocessing import fashion_preprocessing

        folder_s = str(folder if folder is not None else find_dir())  # the cache is keyed by the folder read
        part = "test" if split == "test" else "train"
        x, y = _prepared(part, int(size), folder_s)
        if split in ("train", "val", "calib"):
            tr, va = split_indices(folder_s)
            idx = torch.from_numpy(va if split == "val" else tr)
            x, y = x[idx], y[idx]
        pre = fashion_preprocessing(int(size))
        self.images, self.labels, self.split, self.size = x, y, split, int(size)
        self._mean = torch.tensor(pre.mean, dtype=torch.float32).view(3, 1, 1)
        self._std = torch.tensor(pre.std, dtype=torch.float32).view(3, 1, 1)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def _norm(self, u8: torch.Tensor) -> torch.Tensor:
        # ToTensor (÷255) then Normalize, in the same float32 operations, on 3 replicated channels
        x = u8.to(torch.float32).div(255).unsqueeze(-3).expand(*u8.shape[:-2], 3, *u8.shape[-2:])
        return (x - self._mean).div(self._std)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._norm(self.images[i]), self.labels[i]

    def __getitems__(self, idx: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        t = torch.as_tensor(idx, dtype=torch.long)
        xs, ys = self._norm(self.images[t]), self.labels[t]
        return list(zip(xs.unbind(0), ys.unbind(0)))


__all__ = ["CLASSES", "DEFAULT_SIZE", "FILES", "FashionMNIST", "INSTALL_HINT", "VAL_FRACTION", "available", "find_dir",
           "load_file", "parse_idx", "raw_arrays", "split_indices"]
