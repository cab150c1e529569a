"""Models: family, torchvision parity, registry, classic API, weights loading and the model folder format."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from resnet_opt import resnet as R
from resnet_opt.core.errors import ModelFormatError, UnsupportedDepthError, WeightsError

DEPTHS = [18, 34, 50, 101, 152]
PARAMS_1000 = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}


@pytest.mark.parametrize("depth", DEPTHS)
def test_builds_and_outputs_shape(depth):
    m = R.get_model(depth, num_classes=7).eval()
    with torch.no_grad():
        y = m(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 7)


@pytest.mark.parametrize("depth", DEPTHS)
def test_parity_with_torchvision(depth):
    torch.manual_seed(depth)
    tv = getattr(torchvision.models, f"resnet{depth}")(weights=None).eval()
    ours = R.get_model(depth).eval()
    ours.load_state_dict(tv.state_dict(), strict=True)
    assert R.count_params(ours) == sum(p.numel() for p in tv.parameters()) == PARAMS_1000[depth]
    assert list(ours.state_dict().keys()) == list(tv.state_dict().keys())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), rtol=1e-5, atol=1e-5)


def test_factories_registry_and_classic_api():
    assert R.list_models() == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert R.count_params(R.resnet50()) == PARAMS_1000[50]
    assert R.get_model("resnet34").arch.depth == 34
    assert R.get_model("ResNet-101", num_classes=3).fc.out_features == 3
    m = R.ResNetModel(layers_count=50, num_classes=1000).get_model()
    assert isinstance(m, R.ResNet) and R.count_params(m) == PARAMS_1000[50]
    with pytest.raises(TypeError):
        R.resnet18(10)  # num_classes is keyword-only


@pytest.mark.parametrize("bad", [7, "resnet200", "foo", 0])
def test_unsupported_depth_lists_valid_ones(bad):
    with pytest.raises(UnsupportedDepthError, match="18, 34, 50, 101, 152"):
        R.get_model(bad)
    with pytest.raises(UnsupportedDepthError):
        R.ResNetModel(layers_count=bad)


def test_blocks_are_ready_for_fusion_and_quantization():
    m = R.resnet50()
    blk = m.layer2[0]
    assert isinstance(blk.add, R.Add)
    # separate ReLU modules per position (no module reused twice)
    relus = [n for n, mod in blk.named_modules() if isinstance(mod, torch.nn.ReLU)]
    assert relus == ["relu1", "relu2", "relu_out"]
    assert blk.conv2.stride == (2, 2) and blk.conv1.stride == (1, 1)  # stride on the 3x3 (V1.5)
    assert isinstance(blk.downsample[0], torch.nn.Conv2d) and isinstance(blk.downsample[1], torch.nn.BatchNorm2d)


def test_macs_counted_by_library():
    assert abs(R.count_macs(R.resnet50(), 224) / 1e9 - 4.09) < 0.02
    assert abs(R.count_macs(R.resnet18(), 224) / 1e9 - 1.81) < 0.02


def test_save_load_round_trip_exact(tmp_path):
    m = R.resnet18(num_classes=10).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    out = R.save_model(m, tmp_path / "m", preprocessing="digits:32", class_names=list("abcdefghij"))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architecture"] == "resnet18" and cfg["num_classes"] == 10 and cfg["input_size"] == 32
    assert cfg["conv_widths"]["layer4.1.conv2"] == 512 and cfg["widths"] == {}
    m2 = R.load_model(out)
    for (k, a), (k2, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))
    assert not list(tmp_path.glob(".m.tmp-*"))  # no temporary left behind


def test_round_trip_with_custom_widths(tmp_path):
    widths = {"conv1": 32, "layer1.0.conv1": 16, "layer1.0.conv2": 32, "layer1.1.conv1": 24, "layer1.1.conv2": 32,
              "layer2.0.conv1": 40, "layer2.0.conv2": 64, "layer2.0.downsample.0": 64, "layer2.1.conv2": 64}
    m = R.ResNet(18, num_classes=4, widths=widths).eval()
    assert m.fc.in_features == 512 and m.layer2[0].conv2.out_channels == 64
    m2 = R.load_model(R.save_model(m, tmp_path / "p", preprocessing="v1"))
    assert R.conv_widths(m2) == R.conv_widths(m)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))


def test_load_torchvision_pth_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    tv = torchvision.models.resnet18(weights=None).eval()
    torch.save(tv.state_dict(), tmp_path / "r18.pth")
    save_file(tv.state_dict(), str(tmp_path / "r18.safetensors"))
    x = torch.randn(1, 3, 32, 32)
    for f in ("r18.pth", "r18.safetensors"):
        m = R.resnet18(weights=tmp_path / f).eval()
        with torch.no_grad():
            torch.testing.assert_close(m(x), tv(x), rtol=1e-5, atol=1e-5)
    inferred = R.model_from_weights(tmp_path / "r18.pth")
    assert inferred.arch.depth == 18 and inferred.arch.num_classes == 1000


def test_weights_errors_name_the_problem(tmp_path):
    tv = torchvision.models.resnet18(weights=None)
    torch.save(tv.state_dict(), tmp_path / "r18.pth")
    with pytest.raises(WeightsError, match="does not exist"):
        R.resnet18(weights=tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match="class count 1000.*has 10"):
        R.resnet18(num_classes=10, weights=tmp_path / "r18.pth")
    with pytest.raises(WeightsError, match="96 missing: layer1.2.conv1.weight"):
        R.resnet34(weights=tmp_path / "r18.pth")  # missing blocks named
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="not a loadable weights file"):
        R.resnet18(weights=tmp_path / "junk.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        R.resnet18(weights=tmp_path / "junk.safetensors")
    torch.save(tv, tmp_path / "pickled_module.pth")  # a whole pickled module: refused by weights_only
    with pytest.raises(WeightsError):
        R.resnet18(weights=tmp_path / "pickled_module.pth")
    sd = tv.state_dict()
    sd["layer2.0.conv1.weight"] = torch.zeros(128, 64, 1, 1)
    torch.save(sd, tmp_path / "badshape.pth")
    with pytest.raises(WeightsError, match=r"layer2.0.conv1.weight \(128, 64, 1, 1\) vs expected \(128, 64, 3, 3\)"):
        R.resnet18(weights=tmp_path / "badshape.pth")


def test_model_folder_errors(tmp_path):
    with pytest.raises(ModelFormatError, match="does not exist"):
        R.load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFormatError, match="no config.json"):
        R.load_model(tmp_path / "empty")
    out = R.save_model(R.resnet18(num_classes=3), tmp_path / "m", preprocessing="v1")
    (out / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(WeightsError, match="safetensors"):
        R.load_model(out)
    (out / "config.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        R.load_model(out)


def test_load_source_kinds(tmp_path):
    src = R.load_source(depth=18)
    assert src.kind == "random" and not src.trained and src.model.arch.depth == 18
    folder = R.save_model(R.resnet18(num_classes=10), tmp_path / "m", preprocessing="digits:32")
    src = R.load_source(model_dir=folder)
    assert src.kind == "model_dir" and src.trained and src.input_size == 32 and len(src.sha256) == 64


def test_random_init_is_the_same_weights_every_time_and_leaves_the_global_rng_alone():
    """``--depth`` alone builds the same random weights in every command and run (so ``prune --depth 50`` then
    ``quantize`` is reproducible), seeded without moving the caller's torch RNG stream."""
    import torch

    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = R.load_source(depth=18, num_classes=7).model.state_dict()
    assert torch.equal(torch.rand(3), expected_next)
    b = R.load_source(depth=18, num_classes=7).model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(R.RANDOM_INIT_SEED)
    c = R.ResNet(18, num_classes=7).state_dict()
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_model_folder_config_is_read_once_per_run(tmp_path, monkeypatch):
    """A stage validates its ModelSpec, then loads it: config.json is read (and checked) once, and the source carries
    it and its typed preprocessing on (issue 24)."""
    from pathlib import Path

    from resnet_opt.core.preprocessing import Preprocessing
    from resnet_opt.resnet import ModelSpec

    d = R.save_model(R.resnet18(num_classes=3), tmp_path / "m", preprocessing="digits:32", extra={"data": "digits:32"})
    reads = []
    real = Path.read_text

    def counting(self, *a, **k):
        if self.name == "config.json":
            reads.append(self)
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", counting)
    spec = ModelSpec(model_dir=d).validate()
    src = spec.load()
    assert len(reads) == 1
    assert isinstance(src.preprocessing, Preprocessing) and src.preprocessing.name == "digits-32"
    assert src.config is not None and src.config["data"] == "digits:32"
