"""Structured pruning: shapes, tied residual channels, importance, target MACs, portable save/load, ONNX export,
fine-tune recovery, and bad input (library errors and one-line CLI errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from resnet_opt.cli import app
from resnet_opt.core.errors import ConfigError, PruningError
from resnet_opt.optimize import parse_macs, prune
from resnet_opt.resnet import ResNet, count_macs, load_model, load_source, save_model
from resnet_opt.resnet.model import conv_widths
from helpers import one_line_error
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.evaluate import EvalConfig
from resnet_opt.pipeline.prune import PruneConfig

runner = CliRunner()


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _tied_groups_consistent(model: ResNet) -> None:
    """Widths tied through residual adds must agree: block outputs, shortcuts and the next block's input."""
    w = conv_widths(model)
    last = "conv2" if model.arch.depth in (18, 34) else "conv3"
    stream = w["conv1"]  # the stem feeds layer1's residual stream (through maxpool)
    for si in range(1, 5):
        stage = getattr(model, f"layer{si}")
        for bi, block in enumerate(stage):
            out = w[f"layer{si}.{bi}.{last}"]
            if block.downsample is not None:
                assert w[f"layer{si}.{bi}.downsample.0"] == out
                assert block.downsample[0].in_channels == stream
            else:
                assert out == stream, f"layer{si}.{bi} output {out} != residual input {stream}"
            assert block.conv1.in_channels == stream
            stream = out
    assert model.fc.in_features == stream


@pytest.mark.parametrize("depth,size", [(18, 32), (50, 64)])
def test_pruned_shapes_ties_and_classifier(depth, size):
    torch.manual_seed(0)
    model = ResNet(depth, num_classes=7).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned, res = prune(model, torch.randn(2, 3, size, size), ratio=0.5)
    # the input model is untouched
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()) and model.arch.widths == {}
    assert isinstance(pruned, ResNet) and pruned is not model
    out = pruned.eval()(torch.randn(3, 3, size, size))
    assert out.shape == (3, 7) and torch.isfinite(out).all()
    assert pruned.fc.out_features == 7
    widths = conv_widths(pruned)
    assert all(v % 8 == 0 for v in widths.values())
    assert widths["conv1"] == 32 and widths["layer4.0.conv1"] == 256  # half of 64 / 512, rounded to 8
    _tied_groups_consistent(pruned)
    standard = conv_widths(ResNet(depth))
    assert pruned.arch.widths == {k: v for k, v in widths.items() if v != standard[k]}
    assert res.macs_after == count_macs(pruned, size) and res.macs_before == count_macs(model, size)
    assert res.macs_reduction > 3.0  # half the channels -> about a quarter of the MACs
    assert res.params_after < res.params_before / 3


def test_l2_importance_keeps_largest_filters():
    torch.manual_seed(1)
    model = ResNet(18, num_classes=10).eval()
    conv = model.layer2[0].conv1  # not tied to a residual: its group's root is itself
    norms = conv.weight.detach().flatten(1).norm(dim=1)
    keep = torch.sort(torch.topk(norms, 64).indices).values
    pruned, _ = prune(model, 32, ratio=0.5, importance="l2", ignored_layers=["conv1"])  # keep its input whole
    assert torch.equal(pruned.layer2[0].conv1.weight, conv.weight[keep])
    assert torch.equal(pruned.layer2[0].bn1.running_mean, model.layer2[0].bn1.running_mean[keep])
    # the consumer lost the matching input channels: each kept filter of conv2 is an original one sliced to `keep`
    orig = model.layer2[0].conv2.weight[:, keep].flatten(1)
    new = pruned.layer2[0].conv2.weight.flatten(1)
    assert new.shape[1] == orig.shape[1]
    assert all(any(torch.equal(row, o) for o in orig) for row in new)


@pytest.mark.parametrize("importance", ["l1", "l2", "group", "taylor"])
def test_every_importance_criterion(importance):
    torch.manual_seed(2)
    model = ResNet(18, num_classes=10).eval()
    data = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))]
    pruned, res = prune(model, 32, ratio=0.25, importance=importance, data=data)
    assert res.importance == importance
    assert pruned(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert res.macs_after < res.macs_before
    if importance == "taylor":
        assert "batch" in res.importance_data
    assert all(p.grad is None for p in pruned.parameters())


def test_importance_criteria_choose_differently():
    torch.manual_seed(3)
    model = ResNet(18, num_classes=10).eval()
    a, _ = prune(model, 32, ratio=0.5, importance="l1")
    b, _ = prune(model, 32, ratio=0.5, importance="taylor", data=(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))))
    assert conv_widths(a) == conv_widths(b)
    assert not _same_state(a, b)


def test_global_and_iterative_pruning():
    torch.manual_seed(4)
    model = ResNet(18, num_classes=10).eval()
    one, r1 = prune(model, 32, ratio=0.3)
    three, r3 = prune(model, 32, ratio=0.3, iterative_steps=3)
    assert conv_widths(one) == conv_widths(three) and r3.iterative_steps == 3
    # make half of layer4.1.conv1's filters tiny: global ranking takes them all (more than the local 30 %)
    with torch.no_grad():
        model.layer4[1].conv1.weight[:256].mul_(1e-3)
    g, rg = prune(model, 32, ratio=0.3, global_pruning=True, importance="l2")
    assert rg.global_pruning and g(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert conv_widths(g)["layer4.1.conv1"] <= 256 < conv_widths(one)["layer4.1.conv1"]
    _tied_groups_consistent(g)


def test_ignored_layers_keep_tied_channels():
    torch.manual_seed(5)
    model = ResNet(18, num_classes=10).eval()
    pruned, res = prune(model, 32, ratio=0.5, ignored_layers=["conv1", "layer3.0.conv1"])
    w = conv_widths(pruned)
    assert w["conv1"] == 64 and w["layer1.0.conv2"] == 64 and w["layer1.1.conv2"] == 64  # tied to the stem
    assert w["layer3.0.conv1"] == 256
    assert w["layer1.0.conv1"] == 32 and w["layer2.0.conv2"] == 64
    assert res.ignored_layers == ["conv1", "layer3.0.conv1"]


def test_save_load_round_trip_is_exact(tmp_path):
    torch.manual_seed(6)
    model = ResNet(50, num_classes=10).eval()
    pruned, _ = prune(model, 64, ratio=0.4, round_to=None)  # odd widths too
    save_model(pruned, tmp_path / "m", preprocessing="digits:64")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["widths"] == pruned.arch.widths and cfg["conv_widths"] == conv_widths(pruned)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_model(tmp_path / "m")
    assert _same_state(loaded, pruned)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), pruned.eval()(x))
    assert load_source(model_dir=tmp_path / "m").model.arch.widths == pruned.arch.widths


def test_target_macs_within_tolerance():
    torch.manual_seed(7)
    r18 = ResNet(18, num_classes=10).eval()
    base18 = count_macs(r18, 32)
    for target in (int(base18 * 0.45), 9_000_000):  # 9M sits in a gap of the ratio staircase: needs refinement
        pruned, res = prune(r18, 32, target_macs=target)
        assert abs(count_macs(pruned, 32) - target) <= 0.02 * target, (target, res.macs_after)
        assert res.mode == "target_macs" and res.search
        _tied_groups_consistent(pruned)
    r50 = ResNet(50, num_classes=10).eval()
    pruned, res = prune(r50, 64, target_macs="100M")
    assert abs(res.macs_after - 100e6) <= 0.02 * 100e6 and res.macs_after == count_macs(pruned, 64)


def test_parse_macs():
    assert parse_macs("2.0G") == 2_000_000_000
    assert parse_macs("500M") == 500_000_000
    assert parse_macs("2e9") == 2_000_000_000
    assert parse_macs("1.5 GMACs") == 1_500_000_000
    assert parse_macs("750k") == 750_000
    assert parse_macs(3e6) == 3_000_000
    for bad in ("abc", "2X", "-1G", "", "0"):
        with pytest.raises(ConfigError):
            parse_macs(bad)


def test_bad_input_raises_typed_errors():
    model = ResNet(18, num_classes=10).eval()
    for r in (0, 1, 1.5, -0.2, float("nan")):
        with pytest.raises(ConfigError, match="between 0 and 1"):
            prune(model, 32, ratio=r)
    with pytest.raises(ConfigError, match="exactly one"):
        prune(model, 32, ratio=0.5, target_macs="10M")
    with pytest.raises(ConfigError, match="exactly one"):
        prune(model, 32)
    with pytest.raises(ConfigError, match="not below"):
        prune(model, 32, target_macs="1G")
    with pytest.raises(ConfigError, match="unknown importance"):
        prune(model, 32, ratio=0.5, importance="entropy")
    with pytest.raises(PruningError, match="layer9.conv1"):
        prune(model, 32, ratio=0.5, ignored_layers=["layer9.conv1"])
    with pytest.raises(PruningError):
        prune(torch.nn.Conv2d(3, 8, 3), 32, ratio=0.5)


def test_pruned_model_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from resnet_opt.export import export_onnx

    torch.manual_seed(8)
    pruned, _ = prune(ResNet(18, num_classes=10).eval(), 32, ratio=0.5)
    save_model(pruned, tmp_path / "m", preprocessing="digits:32")
    model = load_model(tmp_path / "m")  # the folder flows on like any other model
    path = export_onnx(model, tmp_path / "m.onnx", input_size=32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        ref = model(x).numpy()
    got = sess.run(["logits"], {"input": x.numpy()})[0]
    assert got.shape == (4, 10)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_pruned_fused_model_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    fuse_mod = pytest.importorskip("resnet_opt.optimize.fuse", reason="resnet_opt.optimize.fuse is not there yet")
    fuse_bn = getattr(fuse_mod, "fuse_bn", None)
    if fuse_bn is None:
        pytest.skip("resnet_opt.optimize.fuse has no fuse_bn yet")
    from resnet_opt.export import export_onnx

    torch.manual_seed(9)
    pruned, _ = prune(ResNet(18, num_classes=10).eval(), 32, ratio=0.5)
    fused = fuse_bn(pruned)
    fused = fused[0] if isinstance(fused, tuple) else fused
    path = export_onnx(fused, tmp_path / "f.onnx", input_size=32)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = pruned.eval()(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["logits"], {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)


def test_finetune_with_distillation_recovers_accuracy(trained_digits_dir, tmp_path):
    from resnet_opt.pipeline.prune import prune_model

    res = prune_model(PruneConfig(out=tmp_path / "p", ratio=0.5, data="digits", finetune_epochs=2, distill=True,
                      train_limit=640, latency_runs=2, source=ModelSpec(model_dir=trained_digits_dir)))
    ft = res.finetune
    assert ft["distill"] and ft["epochs"] == 2 and len(ft["history"]) == 2
    assert res.after["top1"] > ft["top1_before_finetune"] + 20, (ft["top1_before_finetune"], res.after["top1"])
    assert res.after["macs"] < res.before["macs"] / 3
    assert res.after["size_bytes"] < res.before["size_bytes"] / 3
    assert res.before["latency_ms"] > 0 and res.after["latency_ms"] > 0
    # the output is a model folder + manifest, and reloads to the reported accuracy
    from resnet_opt.core.manifest import read_manifest
    from resnet_opt.pipeline.evaluate import evaluate_path

    from resnet_opt.resnet import read_config

    assert read_config(tmp_path / "p")["data"] == "digits"  # later stages (quantize calibration) find its data
    man = read_manifest(tmp_path / "p")
    assert man["stage"] == "prune" and man["architecture"]["widths"] == load_model(tmp_path / "p").arch.widths
    assert evaluate_path(EvalConfig(tmp_path / "p", "digits")).top1 == pytest.approx(res.after["top1"])


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_prune_json_and_table(tmp_path):
    common = ["prune", "--depth", "18", "--input-size", "32", "--latency-runs", "2"]
    r = runner.invoke(app, common + ["--target-macs", "12M", "--out", str(tmp_path / "a"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert abs(res["after"]["macs"] - 12e6) <= 0.02 * 12e6
    assert load_model(tmp_path / "a").arch.widths == res["pruning"]["widths"]
    r = runner.invoke(app, common + ["--ratio", "0.5", "--importance", "group", "--ignore", "conv1",
                                     "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    for row in ("parameters", "MACs", "size on disk", "latency"):
        assert row in r.output
    assert load_model(tmp_path / "b").conv1.out_channels == 64


@pytest.mark.parametrize("args,needle", [
    (["--ratio", "1.5"], "--ratio must be less than 1"),
    (["--ratio", "0"], "--ratio must be greater than 0"),
    (["--target-macs", "1G"], "not below"),
    (["--target-macs", "lots"], "cannot read MACs"),
    (["--ratio", "0.5", "--importance", "magic"], "Invalid value for '--importance'"),
    (["--ratio", "0.5", "--ignore", "layer9.conv1"], "layer9.conv1"),
    (["--ratio", "0.5", "--target-macs", "10M"], "exactly one"),
    ([], "exactly one"),
    (["--ratio", "0.5", "--distill"], "--distill needs"),
    (["--ratio", "0.5", "--finetune-epochs", "2"], "needs labelled --data"),
    (["--ratio", "0.5", "--data", "synthetic", "--finetune-epochs", "1"], "no labels"),
    (["--ratio", "0.5", "--round-to", "0"], "--round-to"),
    (["--ratio", "0.5", "--round-to", "auto", "--target-runtime", "openvino"], "--round-to auto is measured on"),
])
def test_cli_bad_input_one_line(tmp_path, args, needle):
    r = runner.invoke(app, ["prune", "--depth", "18", "--input-size", "32", "--out", str(tmp_path / "x"), *args])
    one_line_error(r, needle)
    assert not (tmp_path / "x").exists()
