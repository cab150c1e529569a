"""The small-image stem (``stem="small"``): an explicit, recorded architecture option that every stage keeps
(save/load, weights files, fuse, prune, ONNX export, train), while the default stays torchvision's, weight for weight."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from helpers import one_line_error
from resnet_opt.cli import app
from resnet_opt.core.errors import ConfigError, ModelFormatError
from resnet_opt.optimize import fuse_bn, prune
from resnet_opt.resnet import ResNet, count_macs, load_model, model_from_weights, parse_stem, read_config, save_model

runner = CliRunner()


def test_small_stem_shapes_macs_and_default_parity():
    tv = pytest.importorskip("torchvision")
    small, std = ResNet(18, num_classes=10, stem="small").eval(), ResNet(18, num_classes=10).eval()
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, torch.nn.Identity) and small.arch.stem == "small"
    assert std.arch.stem == "imagenet" and std.conv1.kernel_size == (7, 7)
    # same parameter names: only conv1's kernel differs
    assert small.state_dict().keys() == std.state_dict().keys()
    # layer1 sees the full 28 px input (the imagenet stem gives it 7 px): 16x the work in the stages
    assert count_macs(small, 28) > 10 * count_macs(std, 28)
    assert small(torch.randn(2, 3, 28, 28)).shape == (2, 10)
    # the default is torchvision's ResNet, weight for weight and output for output
    ref = tv.models.resnet18(num_classes=10).eval()
    std.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(std(x), ref(x))


def test_parse_stem_names_the_choices():
    assert parse_stem(None) == "imagenet" and parse_stem(" Small ") == "small"
    with pytest.raises(ConfigError, match="imagenet, small"):
        parse_stem("cifar")
    with pytest.raises(ConfigError, match="unknown stem"):
        ResNet(18, stem="tiny")


def test_stem_is_recorded_and_kept_by_save_load_weights_fuse_and_prune(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    m = ResNet(18, num_classes=10, stem="small").eval()
    save_model(m, tmp_path / "m", preprocessing="digits")
    assert read_config(tmp_path / "m")["stem"] == "small"
    back = load_model(tmp_path / "m")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert back.arch.stem == "small" and torch.equal(back(x), m(x))
    # a bare weights file: the stem is read from conv1's kernel
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "w.safetensors"))
    assert model_from_weights(tmp_path / "w.safetensors").arch.stem == "small"
    fused = fuse_bn(m)
    with torch.no_grad():
        assert fused.arch.stem == "small" and (fused(x) - m(x)).abs().max() < 1e-4
    pruned, res = prune(m, torch.randn(2, 3, 32, 32), ratio=0.5)
    assert pruned.arch.stem == "small" and pruned.conv1.kernel_size == (3, 3) and res.macs_reduction > 3
    save_model(pruned, tmp_path / "p", preprocessing="digits")
    assert load_model(tmp_path / "p").arch.stem == "small"
    # an unknown stem in a config is refused with the field named
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["stem"] = "tiny"
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match="'stem'"):
        load_model(tmp_path / "m")


def test_small_stem_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from resnet_opt.export import export_onnx

    torch.manual_seed(1)
    m = ResNet(18, num_classes=10, stem="small").eval()
    path = export_onnx(m, tmp_path / "m.onnx", input_size=28)
    x = torch.randn(3, 3, 28, 28)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["logits"], {"input": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, m(x).numpy(), rtol=1e-4, atol=1e-4)


def test_cli_train_small_stem_records_it(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--data", "digits:16", "--stem", "small", "--epochs", "1", "--limit", "64",
                            "--batch-size", "32", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert read_config(out)["stem"] == "small" and load_model(out).conv1.kernel_size == (3, 3)
    r = runner.invoke(app, ["train", "--data", "digits", "--stem", "cifar", "--out", str(tmp_path / "x")])
    one_line_error(r, "Invalid value for '--stem'", "'imagenet', 'small'", code=2)
