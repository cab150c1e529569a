"""Data specs: digits (real), imagefolder, synthetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_opt.core.errors import DataError, DataSpecError
from resnet_opt.data import (
    build_dataset, build_loader, class_names_for, digits_split_indices, load_image, parse_data_spec,
    preprocessing_for, require_labelled,
)


def test_digits_split_is_deterministic_and_stratified():
    tr, va = digits_split_indices(32)
    tr2, va2 = digits_split_indices(32)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    assert len(tr) + len(va) == 1797 and len(set(tr) & set(va)) == 0
    assert len(va) == 360
    from sklearn.datasets import load_digits

    y = load_digits().target
    full = np.bincount(y) / len(y)
    assert np.abs(np.bincount(y[va]) / len(va) - full).max() < 0.01  # class proportions preserved
    assert np.abs(np.bincount(y[tr]) / len(tr) - full).max() < 0.01


def test_digits_tensors_and_preprocessing_recorded():
    ds = build_dataset("digits:48", "val")
    x, y = ds[0]
    assert x.shape == (3, 48, 48) and x.dtype == torch.float32 and 0 <= int(y) <= 9
    pre = preprocessing_for(parse_data_spec("digits:48"))
    assert pre.crop == 48 and pre.grayscale and len(pre.mean) == 3
    assert class_names_for(parse_data_spec("digits")) == [str(i) for i in range(10)]


def test_digits_png_through_recorded_preprocessing_matches_dataset(tmp_path):
    """An 8×8 digit saved as PNG and loaded with the recorded preprocessing equals the dataset tensor."""
    from sklearn.datasets import load_digits

    d = load_digits()
    _, va = digits_split_indices(32)
    img = np.clip(d.images[va[0]] * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    Image.fromarray(img, mode="L").save(tmp_path / "d.png")
    x = load_image(tmp_path / "d.png", preprocessing_for(parse_data_spec("digits")))
    torch.testing.assert_close(x, build_dataset("digits", "val")[0][0])


def test_loaders_limit_and_calib_from_train():
    loader = build_loader("digits", "calib", batch_size=16, limit=40, seed=1)
    assert len(loader.dataset) == 40
    xs = torch.cat([x for x, _ in loader])
    assert xs.shape == (40, 3, 32, 32)
    again = torch.cat([x for x, _ in build_loader("digits", "calib", batch_size=16, limit=40, seed=1)])
    assert torch.equal(xs, again)


@pytest.mark.parametrize("spec", ["", "mnist", "digits:abc", "digits:4", "imagefolder:", "imagefolder:/no/such/dir"])
def test_bad_specs(spec):
    with pytest.raises(DataSpecError):
        parse_data_spec(spec)


def test_synthetic_is_refused_for_accuracy():
    spec = parse_data_spec("synthetic:64")
    assert not spec.labelled
    x, _ = build_dataset(spec, "calib", limit=4)[0]
    assert x.shape == (3, 64, 64)
    with pytest.raises(DataError, match="no labels"):
        require_labelled(spec)


def _make_folder(root, classes=("cat", "dog"), n=3, size=40):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size + 10, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


def test_imagefolder_presets_and_splits(tmp_path):
    _make_folder(tmp_path / "train")
    _make_folder(tmp_path / "val", n=2)
    spec = parse_data_spec(f"imagefolder:{tmp_path}", preset="v2")
    assert preprocessing_for(spec).resize == 232 and preprocessing_for(spec).crop == 224
    assert class_names_for(spec) == ["cat", "dog"]
    assert len(build_dataset(spec, "train")) == 6 and len(build_dataset(spec, "val")) == 4
    x, y = build_dataset(spec, "val")[0]
    assert x.shape == (3, 224, 224)
    with pytest.raises(DataSpecError, match="preset"):
        parse_data_spec(f"imagefolder:{tmp_path}", preset="v3")


def test_imagefolder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        build_dataset(f"imagefolder:{tmp_path / 'empty'}", "val")
    _make_folder(tmp_path / "bad", classes=("a",), n=1)
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"not a png")
    ds = build_dataset(f"imagefolder:{tmp_path / 'bad'}", "val")
    with pytest.raises(DataError, match="broken.png"):
        [ds[i] for i in range(len(ds))]
    with pytest.raises(DataError, match="not a readable image"):
        load_image(tmp_path / "bad" / "a" / "broken.png", preprocessing_for(parse_data_spec("digits")))
