"""Shared fixtures. Keep the suite small: small depths, small inputs, few images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.train import TrainStageConfig

torch.set_num_threads(min(2, os.cpu_count() or 1))


def cuda_available() -> bool:
    return torch.cuda.is_available()


# `pytest -m cuda` selects the tests marked so (benchmarks/gpu/run.sh runs them on a GPU machine); without a GPU
# pytest_collection_modifyitems below skips each one with the reason
requires_cuda = pytest.mark.cuda


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def trained_digits_dir(tmp_path_factory) -> Path:
    """A ResNet-18 trained briefly on the real digits data (32 px): a model folder, ~95 %+ val top-1.

    Session-scoped and shared by every test that needs a trained model; do not modify it in place."""
    from resnet_opt.engine import TrainConfig
    from resnet_opt.pipeline.train import train_model

    out = tmp_path_factory.mktemp("digits-r18") / "run"
    res = train_model(
        TrainStageConfig(data="digits", out=out, train=TrainConfig(epochs=3, seed=0), source=ModelSpec(depth=18))
    )
    assert res.best_top1 is not None and res.best_top1 > 90.0, res
    return out


@pytest.fixture(scope="session")
def trained_digits_model(trained_digits_dir):
    """A fresh copy of the trained model (load again for every call site that mutates it)."""
    from resnet_opt.resnet import load_model

    return load_model(trained_digits_dir)


@pytest.fixture(scope="session")
def digits_val_pngs(tmp_path_factory):
    """The first 40 real digits of the validation split as 8×8 greyscale PNG files (light ink on a dark ground),
    with their labels."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    from resnet_opt.data import digits_split_indices

    d = load_digits()
    _, va = digits_split_indices(32)
    folder = tmp_path_factory.mktemp("val-pngs")
    paths, labels = [], []
    for i in va[:40]:
        p = folder / f"digit_{i}.png"
        Image.fromarray(np.clip(d.images[i] * 255 / 16, 0, 255).round().astype(np.uint8), mode="L").save(p)
        paths.append(p)
        labels.append(int(d.target[i]))
    return paths, labels


def deprecated_entry_points() -> list[tuple[object, str]]:
    """The TorchScript and torch.ao.quantization calls the default paths must not make."""
    import torch.ao.quantization.quantize_fx as qfx

    return [(torch.jit, n) for n in ("trace", "script", "freeze", "save", "load", "optimize_for_inference")] + \
        [(qfx, "prepare_fx"), (qfx, "convert_fx")]


@pytest.fixture(scope="session")
def pt2_artifacts(trained_digits_dir, tmp_path_factory):
    """The two AOTInductor packages of the trained digits model, compiled ONCE for the whole suite (tests/test_pt2.py,
    test_kinds.py, test_cpp_runner.py): FP32 through ``export pt2`` and PT2E INT8 through ``quantize --target torch``,
    both through the CLI with DeprecationWarning / FutureWarning as errors and the deprecated TorchScript /
    torch.ao.quantization entry points patched to raise (what test_pt2 checks)."""
    import warnings
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from resnet_opt.cli import app

    pytest.importorskip("torchao", reason="the PT2E INT8 target needs torchao")
    root = tmp_path_factory.mktemp("pt2")
    called: list[str] = []
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("error", category=DeprecationWarning)
        warnings.filterwarnings("error", category=FutureWarning)
        for mod, name in deprecated_entry_points():
            def boom(*a, _n=f"{getattr(mod, '__name__', mod)}.{name}", **k):
                called.append(_n)
                raise AssertionError(f"default path called the deprecated {_n}")
            mp.setattr(mod, name, boom)
        fp32 = CliRunner().invoke(app, ["export", "pt2", "--model", str(trained_digits_dir), "--data", "digits",
                                   "--count", "16", "--out", str(root / "pt2-fp32")])
        int8 = CliRunner().invoke(app, ["quantize", "--target", "torch", "--model", str(trained_digits_dir),
                                   "--calib-size", "64", "--eval-size", "120", "--latency-runs", "3",
                                   "--out", str(root / "pt2-int8"), "--json"])
    return SimpleNamespace(fp32=root / "pt2-fp32", int8=root / "pt2-int8", fp32_result=fp32, int8_result=int8,
                           called=called, caught=[(w.category.__name__, str(w.message)[:200]) for w in caught])
