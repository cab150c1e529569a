"""BN fusion: equivalence for every depth, input untouched, saveable fused model folders, the fuse command."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from resnet_opt.cli import app
from resnet_opt.optimize import fuse_bn, fuse_for_eager_quantization, strip_identities
from resnet_opt.optimize.fuse import fused_pairs, max_rel_diff
from resnet_opt.resnet import DEPTHS, ResNet, load_model, model_from_weights, save_model

runner = CliRunner()


def _randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, so folding actually changes the conv weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_((torch.rand(c, generator=g) - 0.5) * 0.4)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) * 0.7 + 0.5)
                m.bias.copy_((torch.rand(c, generator=g) - 0.5) * 0.4)
    return model.eval()


@pytest.mark.parametrize("depth", sorted(DEPTHS))
def test_fuse_bn_equivalent_for_every_depth(depth):
    torch.manual_seed(depth)
    model = _randomize_bn(ResNet(depth, num_classes=10))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    pairs = fused_pairs(model)
    assert len(pairs) == n_bn  # stem + every block conv + every downsample path

    fused = fuse_bn(model)

    # a new model; the input is untouched (same tensors, BN modules still there)
    assert fused is not model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == n_bn
    # the fused model has no BN left and every conv carries the folded bias
    assert isinstance(fused, ResNet) and fused.arch.fused
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert all(m.bias is not None for m in fused.modules() if isinstance(m, nn.Conv2d))
    assert fused.get_submodule("conv1").bias.abs().sum() > 0
    if depth >= 50:
        assert isinstance(fused.get_submodule("layer1.0.downsample.1"), nn.Identity)

    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert max_rel_diff(model, fused, x) <= 1e-5


def test_fuse_bn_pruned_widths_and_roundtrip(tmp_path):
    widths = {"layer1.0.conv1": 40, "layer2.0.conv1": 100, "layer3.1.conv1": 200}
    model = _randomize_bn(ResNet(18, num_classes=7, widths=widths))
    fused = fuse_bn(model)
    assert fused.arch.widths == widths and fused.get_submodule("layer1.0.conv1").out_channels == 40
    x = torch.randn(3, 3, 40, 40)
    assert max_rel_diff(model, fused, x) <= 1e-5

    save_model(fused, tmp_path / "m", preprocessing="v1")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["fused"] is True and cfg["widths"] == widths
    again = load_model(tmp_path / "m")
    assert again.arch.fused and not any(isinstance(m, nn.BatchNorm2d) for m in again.modules())
    with torch.no_grad():
        assert torch.equal(again(x), fused.eval()(x))
    # a bare fused state dict (no config) is recognised as fused by the weights loader
    again2 = model_from_weights(tmp_path / "m" / "model.safetensors")
    assert again2.arch.fused
    # fusing a fused model is a copy
    assert max_rel_diff(fused, fuse_bn(fused), x) == 0.0


def test_unfused_config_still_loads(tmp_path):
    """Backwards compatibility: folders written before the "fused" key load as unfused models."""
    model = ResNet(18, num_classes=3)
    save_model(model, tmp_path / "m", preprocessing="v1")
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    assert cfg["fused"] is False
    del cfg["fused"]
    cfg_path.write_text(json.dumps(cfg))
    assert not load_model(tmp_path / "m").arch.fused


def test_quantizer_patterns():
    model = _randomize_bn(ResNet(18, num_classes=10))
    x = torch.randn(2, 3, 32, 32)
    eager = fuse_for_eager_quantization(model)
    names = {type(m).__name__ for m in eager.modules()}
    assert "ConvReLU2d" in names and not any(isinstance(m, nn.BatchNorm2d) for m in eager.modules())
    assert max_rel_diff(model, eager, x) <= 1e-5
    gm = strip_identities(fuse_bn(model))
    assert not any(n.op == "call_module" and isinstance(gm.get_submodule(n.target), nn.Identity)
                   for n in gm.graph.nodes)
    assert max_rel_diff(model, gm, x) <= 1e-5


def test_fuse_bn_generic_module():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4))
    _randomize_bn(net)
    fused = fuse_bn(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert max_rel_diff(net, fused, torch.randn(2, 3, 16, 16)) <= 1e-5


def test_fuse_command(trained_digits_dir, tmp_path):
    out = tmp_path / "fused"
    r = runner.invoke(app, ["fuse", "--model", str(trained_digits_dir), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["folded"] == 20 and res["max_rel_diff"] <= 1e-5
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["fused"] is True and cfg["stage"] == "fuse" and cfg["data"] == "digits"
    assert cfg["preprocessing"]["crop"] == 32 and cfg["class_names"][0] == "0"
    fused = load_model(out)
    orig = load_model(trained_digits_dir)
    assert max_rel_diff(orig, fused, torch.randn(4, 3, 32, 32)) <= 1e-5


def test_fuse_command_bad_input(tmp_path):
    bogus = tmp_path / "not-a-model.pth"
    bogus.write_text("hello")
    for args in (["--model", str(tmp_path / "missing")], ["--weights", str(bogus)], ["--depth", "19"]):
        out = tmp_path / "o"
        r = runner.invoke(app, ["fuse", *args, "--out", str(out)])
        assert r.exit_code == 2, r.output
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), r.output
        assert "Traceback" not in r.output
        assert not out.exists()
