"""Fashion-MNIST as a data spec: the loader, its splits, its checks and errors on a small idx fixture written here,
and one real-data run when Debian's ``dataset-fashion-mnist`` is installed."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from resnet_opt.cli import app
from resnet_opt.core.errors import DataError, DataSpecError
from resnet_opt.data import build_dataset, build_loader, parse_data_spec, preprocessing_for
from resnet_opt.data import fashion_mnist as fm

runner = CliRunner()
N_TRAIN, N_TEST = 200, 50


def _idx(arr: np.ndarray, images: bool) -> bytes:
    head = struct.pack(">IIII", 2051, len(arr), 28, 28) if images else struct.pack(">II", 2049, len(arr))
    return head + arr.astype(np.uint8).tobytes()


def _write(folder: Path, name: str, raw: bytes, gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / (f"{name}.gz" if gz else name)
    p.write_bytes(gzip.compress(raw) if gz else raw)
    return p


@pytest.fixture()
def fixture_data(tmp_path, monkeypatch):
    """Four small idx files (200 train, 50 test images; 28×28, labels 0..9 balanced) in $RESNET_OPT_DATA, with the
    module's table of official sizes and hashes pointed at them; Debian's folder hidden."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    table = {}
    for part, n in (("train", N_TRAIN), ("test", N_TEST)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, :, :4] = 0  # a dark border, as the real photos have
        for key, arr, is_img in ((f"{part}-images", images, True), (f"{part}-labels", labels, False)):
            f = fm.FILES[key]
            raw = _idx(arr, is_img)
            _write(root / "fashion-mnist", f.name, raw, gz=(key != "test-labels"))  # plain files work too
            table[key] = fm.IdxFile(f.name, is_img, n, len(raw), hashlib.sha256(raw).hexdigest())
    monkeypatch.setattr(fm, "FILES", table)
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv(fm.DATA_ENV, str(root))
    for f in (fm.raw_arrays, fm.split_indices, fm._prepared):
        f.cache_clear()
    yield root / "fashion-mnist"
    for f in (fm.raw_arrays, fm.split_indices, fm._prepared):
        f.cache_clear()


def test_spec_parses_with_and_without_size():
    s = parse_data_spec("fashion-mnist")
    assert (s.kind, s.size, s.labelled) == ("fashion-mnist", 32, True)
    s = parse_data_spec("fashion-mnist:64")
    assert s.size == 64 and preprocessing_for(s).crop == 64 and preprocessing_for(s).name == "fashion-mnist-64"
    assert parse_data_spec("fashion_mnist:28").kind == "fashion-mnist"
    with pytest.raises(DataSpecError, match="bad size"):
        parse_data_spec("fashion-mnist:big")
    with pytest.raises(DataSpecError, match="fashion-mnist"):  # the spec list names it
        parse_data_spec("fashion")


def test_splits_sizes_stratified_and_disjoint(fixture_data):
    spec = parse_data_spec("fashion-mnist:32")
    tr, va = fm.split_indices(str(fixture_data))
    assert len(va) == N_TRAIN // 10 and len(tr) == N_TRAIN - N_TRAIN // 10 and not set(tr) & set(va)
    labels = fm.raw_arrays(str(fixture_data))["train-labels"]
    assert np.bincount(labels[va], minlength=10).tolist() == [2] * 10  # stratified: 2 of each class
    sizes = {sp: len(build_dataset(spec, sp)) for sp in ("train", "val", "calib", "test")}
    assert sizes == {"train": 180, "val": 20, "calib": 180, "test": N_TEST}
    x, y = build_dataset(spec, "test")[3]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and int(y) == 3
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])  # grayscale replicated to 3 channels
    xb, yb = next(iter(build_loader(spec, "val", batch_size=8)))
    assert xb.shape == (8, 3, 32, 32) and yb.dtype == torch.long


def test_tensors_are_what_predict_sees(fixture_data):
    """The dataset's tensors equal the recorded preprocessing applied to the 8-bit image (predict's path), exactly."""
    from PIL import Image

    for size in (28, 32, 48):
        spec = parse_data_spec(f"fashion-mnist:{size}")
        tf = preprocessing_for(spec).transform()
        ds = build_dataset(spec, "test")
        raw = fm.raw_arrays(str(fixture_data))["test-images"]
        for i in (0, 7):
            assert torch.equal(ds[i][0], tf(Image.fromarray(raw[i], mode="L"))), (size, i)


def _corrupt(folder: Path, key: str, raw: bytes | None = None, gz_bytes: bytes | None = None) -> None:
    f = fm.FILES[key]
    for p in (folder / f.name, folder / f"{f.name}.gz"):
        if p.exists():
            p.unlink()
    if gz_bytes is not None:
        (folder / f"{f.name}.gz").write_bytes(gz_bytes)
    elif raw is not None:
        _write(folder, f.name, raw)


@pytest.mark.parametrize("case,match", [
    ("missing", "lacks train-labels-idx1-ubyte.*apt-get install dataset-fashion-mnist"),
    ("not-gzip", "cannot be read"),
    ("magic", "not an idx label file"),
    ("count", "holds 199 items"),
    ("truncated", "header says"),
    ("label-range", "label 12"),
    ("sha256", "does not match the official release"),
])
def test_bad_files_are_one_clear_error(fixture_data, case, match):
    labels = (np.arange(N_TRAIN) % 10).astype(np.uint8)
    key = "train-labels"
    if case == "missing":
        _corrupt(fixture_data, key)
    elif case == "not-gzip":
        _corrupt(fixture_data, key, gz_bytes=b"this is not gzip data")
    elif case == "magic":
        _corrupt(fixture_data, key, raw=struct.pack(">II", 2051, N_TRAIN) + labels.tobytes())
    elif case == "count":
        _corrupt(fixture_data, key, raw=_idx(labels[:199], False))
    elif case == "truncated":
        _corrupt(fixture_data, key, raw=_idx(labels, False)[:-5])
    elif case == "label-range":
        bad = labels.copy()
        bad[5] = 12
        _corrupt(fixture_data, key, raw=_idx(bad, False))
    else:  # same structure, one label changed: only the hash catches it
        bad = labels.copy()
        bad[0] = 1
        _corrupt(fixture_data, key, raw=_idx(bad, False))
    with pytest.raises(DataError, match=match):
        build_dataset("fashion-mnist", "train")


def test_not_installed_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setenv(fm.DATA_ENV, str(tmp_path / "empty"))
    ok, why = fm.available()
    assert not ok and "apt-get install dataset-fashion-mnist" in why and str(tmp_path / "empty") in why
    r = runner.invoke(app, ["eval", "--model", str(tmp_path), "--data", "fashion-mnist"])
    assert r.exit_code != 0
    # the model folder check or the data check fails first: either way one line, no traceback
    assert "Traceback" not in r.output


def test_digits_has_no_test_split_and_eval_says_which_split(fixture_data, tmp_path):
    with pytest.raises(DataSpecError, match="no test split"):
        build_dataset("digits", "test")
    from resnet_opt.data import report_split

    assert report_split(parse_data_spec("fashion-mnist")) == "test"
    assert report_split(parse_data_spec("digits")) == "val"


def test_train_eval_and_images_on_fixture(fixture_data, tmp_path):
    """train records the spec; eval defaults to the test split and says so; fashion-images writes what predict
    then scores by folder name (class names with '/' included)."""
    import json

    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--data", "fashion-mnist:16", "--depth", "18", "--epochs", "1",
                            "--batch-size", "32", "--augment", "flip-shift", "--out", str(out)])
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"] == "fashion-mnist:16" and cfg["preprocessing"]["name"] == "fashion-mnist-16"
    assert cfg["class_names"][0] == "T-shirt/top" and len(cfg["class_names"]) == 10
    r = runner.invoke(app, ["eval", "--model", str(out), "--data", "fashion-mnist:16", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["split"] == "test" and res["count"] == N_TEST
    r = runner.invoke(app, ["eval", "--model", str(out), "--data", "fashion-mnist:16"])
    assert "fashion-mnist:16 test split" in " ".join(r.output.split())
    imgs = tmp_path / "imgs"
    r = runner.invoke(app, ["fashion-images", "--out", str(imgs), "--count", "12"])
    assert r.exit_code == 0, r.output
    files = sorted(imgs.rglob("*.png"))
    assert len(files) == 12 and (imgs / "T-shirt_top").is_dir()
    r = runner.invoke(app, ["predict", str(out), str(imgs), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)["summary"]
    assert summary["images"] == 12 and summary["labelled_by_folder"] == 12


def test_augment_batch_flips_and_shifts_within_bounds():
    from resnet_opt.engine.train import augment_batch

    torch.manual_seed(0)
    x = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).view(2, 3, 16, 16)
    y = augment_batch(x)
    assert y.shape == x.shape and not torch.equal(y, x)
    assert y.min() >= x.min() and y.max() <= x.max()  # replicated borders: no new values
    assert torch.equal(augment_batch(x, "none"), x)


def test_augment_batch_erases_a_rectangle_in_about_half_the_images():
    """flip-shift-erase: the flip-shift batch, then torchvision's RandomErasing per image (p 1/2, value 0): erased
    images hold one all-channel rectangle of zeros, the others none; seeded, so the same seed erases the same."""
    from resnet_opt.engine.train import augment_batch

    x = torch.rand(64, 3, 16, 16) + 1.0  # no zeros before erasing
    torch.manual_seed(1)
    y = augment_batch(x, "flip-shift-erase")
    torch.manual_seed(1)
    assert torch.equal(augment_batch(x, "flip-shift-erase"), y)
    assert y.shape == x.shape
    zero = (y == 0).all(dim=1)  # (N, H, W): pixels erased in every channel
    assert torch.equal((y == 0).any(dim=1), zero)  # erasing covers all channels of a pixel
    erased = zero.flatten(1).any(dim=1)
    assert 16 <= int(erased.sum()) <= 48  # p = 1/2 of 64 images
    for img in zero[erased]:  # one rectangle: its bounding box is all zeros
        rows, cols = img.any(dim=1).nonzero().flatten(), img.any(dim=0).nonzero().flatten()
        assert img[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()


real = pytest.mark.skipif(not fm.available()[0], reason=f"Fashion-MNIST not installed: {fm.available()[1]}")


@real
def test_real_files_check_out_and_split_as_documented():
    spec = parse_data_spec("fashion-mnist:28")
    test = build_dataset(spec, "test")
    assert len(test) == 10000 and np.bincount(test.labels.numpy()).tolist() == [1000] * 10
    assert len(build_dataset(spec, "val")) == 6000 and len(build_dataset(spec, "train")) == 54000


@real
def test_real_data_train_and_eval_a_few_hundred_images(tmp_path):
    import json

    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--data", "fashion-mnist:16", "--epochs", "2", "--limit", "512", "--warmup-epochs", "0",
                            "--batch-size", "32", "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval", "--model", str(out), "--data", "fashion-mnist:16", "--limit", "300", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["split"] == "test" and res["count"] == 300
    assert res["top1"] > 40.0, res["top1"]  # well above chance (10 %): 62.7 % here


def test_headline_wording_for_slowdowns_and_gains():
    """A slowdown is never "0.25× faster" and a gain is never "drop -0.28 points" (the newcomer pass)."""
    from resnet_opt.cli.common import accuracy_change, speed_change

    assert speed_change(1.0, 4.0) == "4.00× slower" and speed_change(4.0, 1.0) == "4.00× faster"
    assert speed_change(1.0, 1.001) == "same speed" and speed_change(0.0, 1.0) == "speed not measured"
    assert accuracy_change(-0.28) == "gain 0.28 points" and accuracy_change(0.28) == "drop 0.28 points"
    assert accuracy_change(0.0) == "no change in top-1" and accuracy_change(None) == "accuracy not measured"


def test_eval_of_a_file_inside_an_artifact_folder_opens_that_folder(tmp_path):
    """`eval --model artifacts/x/model_int8.onnx`: the folder that file belongs to (its manifest lists it)."""
    from resnet_opt.core.errors import ArtifactError
    from resnet_opt.core.manifest import folder_of_file

    art = tmp_path / "art"
    art.mkdir()
    (art / "model.onnx").write_bytes(b"x")
    (art / "manifest.json").write_text('{"files": [{"path": "model.onnx"}]}')
    assert folder_of_file(art / "model.onnx") == art
    (art / "notes.txt").write_text("not listed")
    with pytest.raises(ArtifactError, match="pass the model or artifact folder"):
        folder_of_file(art / "notes.txt")
    mf = tmp_path / "mf"
    mf.mkdir()
    (mf / "config.json").write_text("{}")
    assert folder_of_file(mf / "config.json") == mf
