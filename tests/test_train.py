"""Trainer and evaluation."""

from __future__ import annotations

import json

import pytest
import torch

from resnet_opt.core.errors import ConfigError
from resnet_opt.engine import TrainConfig, agreement, evaluate, train
from resnet_opt.data import build_loader
from resnet_opt.pipeline.train import train_model
from resnet_opt.resnet import load_model, resnet18
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.train import TrainStageConfig


def test_short_training_lowers_the_loss():
    model = resnet18(num_classes=10)
    loader = build_loader("digits:16", "train", batch_size=32, limit=128, shuffle=True)
    res = train(model, loader, None, TrainConfig(epochs=3, seed=0))
    losses = [h.train_loss for h in res.history]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_train_model_keeps_best_and_resumes(tmp_path):
    out = tmp_path / "run"
    r1 = train_model(
        TrainStageConfig(
            data="digits:16", out=out, train=TrainConfig(epochs=1, seed=0), limit=96, source=ModelSpec(depth=18)
        )
    )
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert (out / "train_state.pt").is_file() and r1.epochs_run == 1
    r2 = train_model(TrainStageConfig(data="digits:16", out=out, train=TrainConfig(epochs=2, seed=0), limit=96,
                     resume=True, source=ModelSpec(depth=18)))
    assert r2.epochs_run == 2  # history carried over: one epoch resumed, one new
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    m = load_model(out)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["preprocessing"]["crop"] == 16 and cfg["class_names"][0] == "0"
    r = evaluate(m, build_loader("digits:16", "val", batch_size=128))
    assert r.count == 360 and abs(r.top1 - max(h["val_top1"] for h in hist)) < 1e-9


def test_trained_fixture_accuracy_and_agreement(trained_digits_model):
    loader = build_loader("digits", "val", batch_size=128)
    r = evaluate(trained_digits_model, loader)
    assert r.top1 > 90.0 and r.top5 >= r.top1 and r.count == 360
    x = torch.randn(8, 10)
    a = agreement(x, x.clone())
    assert a["top1_agreement"] == 100.0 and a["max_abs_diff"] == 0.0


def test_distillation_runs_with_teacher(trained_digits_model):
    student = resnet18(num_classes=10)
    loader = build_loader("digits:32", "train", batch_size=32, limit=64, shuffle=True)
    res = train(student, loader, None, TrainConfig(epochs=1), teacher=trained_digits_model)
    assert res.history[0].train_loss > 0


@pytest.mark.parametrize("kw", [{"epochs": 0}, {"optimizer": "rmsprop"}, {"label_smoothing": 1.5}, {"lr": -1.0}])
def test_bad_train_config(kw):
    with pytest.raises(ConfigError):
        TrainConfig(**kw).validate()


def test_train_model_is_reproducible(tmp_path):
    """Same seed, same data -> bit-identical weights (the initial weights are seeded too)."""
    runs = []
    for name in ("a", "b"):
        train_model(TrainStageConfig(data="digits:16", out=tmp_path / name, train=TrainConfig(epochs=1, seed=3),
                    limit=64, source=ModelSpec(depth=18)))
        runs.append(load_model(tmp_path / name).state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
