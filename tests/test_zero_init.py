"""``ResNet.zero_init_residual`` and ``train --zero-init-residual``: every residual block starts as the identity (its
last BatchNorm scale 0), for deep bottleneck models trained from scratch."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from helpers import one_line_error
from resnet_opt.cli import app
from resnet_opt.core.errors import ConfigError
from resnet_opt.resnet import ResNet, load_model
from resnet_opt.resnet.blocks import BasicBlock, Bottleneck

runner = CliRunner()


@pytest.mark.parametrize("depth,last", [(18, "bn2"), (50, "bn3")])
def test_zero_init_residual_zeroes_only_the_last_bn_of_each_block(depth, last):
    m = ResNet(depth, num_classes=10).zero_init_residual()
    blocks = [b for b in m.modules() if isinstance(b, (BasicBlock, Bottleneck))]
    assert len(blocks) == (8 if depth == 18 else 16)
    for b in blocks:
        assert torch.count_nonzero(getattr(b, last).weight) == 0
        assert torch.all(b.bn1.weight == 1)
    assert torch.all(m.bn1.weight == 1)
    # each block is now relu(shortcut(x)): an identity block passes its (non-negative) input through unchanged
    b = m.layer1[1].eval()
    x = torch.rand(2, b.conv1.in_channels, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(b(x), x)


def test_zero_init_residual_refuses_a_fused_model():
    with pytest.raises(ConfigError, match="unfused"):
        ResNet(18, num_classes=10, fused=True).zero_init_residual()


def test_cli_train_zero_init_residual(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--data", "digits:16", "--depth", "50", "--zero-init-residual", "--epochs", "1",
                            "--limit", "64", "--batch-size", "32", "--lr", "1e-9", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    # a learning rate of 1e-9 for one epoch leaves the zeroed scales (almost) at zero
    assert float(load_model(out).layer2[0].bn3.weight.detach().abs().max()) < 1e-6
    w = tmp_path / "w.safetensors"
    from safetensors.torch import save_file
    save_file(ResNet(18, num_classes=10).state_dict(), str(w))
    r = runner.invoke(app, ["train", "--data", "digits:16", "--weights", str(w), "--zero-init-residual",
                            "--out", str(tmp_path / "x")])
    one_line_error(r, "--zero-init-residual is for a new model")
