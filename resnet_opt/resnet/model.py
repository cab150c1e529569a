"""The ResNet family (18/34/50/101/152), torchvision-compatible, with a registry and the classic API."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from resnet_opt.core.errors import ConfigError
from resnet_opt.core.model_config import MODEL_DEPTHS, STEMS, parse_depth
from resnet_opt.resnet.blocks import BasicBlock, Bottleneck

__all__ = [
    "ResNet",
    "ArchConfig",
    "DEPTHS",
    "STEMS",
    "parse_depth",
    "parse_stem",
    "conv_widths",
    "conv_bn_pairs",
]

# depth -> (block kind, blocks per stage)
DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
STAGE_PLANES = (64, 128, 256, 512)
# the stem: "imagenet" is torchvision's (7x7 stride-2 conv + 3x3 stride-2 max pool, /4 before layer1); "small" is the
# small-image stem of the CIFAR-style ResNets (one 3x3 stride-1 conv, no pool: layer1 sees the full input), an
# explicit, recorded option for 28-32 px data. Parameter names are the same (conv1/bn1), only conv1's kernel differs.
# STEMS and the depths a config may name live in core.model_config, which checks configs against them
assert tuple(DEPTHS) == MODEL_DEPTHS


@dataclass
class ArchConfig:
    """Everything needed to rebuild a model without pickle. ``widths`` maps conv names to output channels
    where they differ from the standard architecture (a pruned model)."""

    depth: int
    num_classes: int = 1000
    widths: dict[str, int] = field(default_factory=dict)
    fused: bool = False  # BatchNorms folded into the convs (BN modules are Identity, convs carry a bias)
    stem: str = "imagenet"  # see STEMS

    @property
    def name(self) -> str:
        return f"resnet{self.depth}"


def parse_stem(stem: str | None) -> str:
    """``imagenet`` (torchvision's, the default) or ``small``; a typed error listing both otherwise."""
    s = "imagenet" if stem is None else str(stem).strip().lower()
    if s not in STEMS:
        raise ConfigError(f"unknown stem {stem!r}; valid: {', '.join(STEMS)}")
    return s


class ResNet(nn.Module):
    """ResNet V1.5 (stride on the 3×3 conv), parameter names identical to torchvision's ``ResNet``.

    ``stem="small"``: a 3×3 stride-1 first conv and no max pool, for 28-32 px images (see ``STEMS``); the default
    ``"imagenet"`` stem is torchvision's, weight for weight."""

    def __init__(self, depth: int, num_classes: int = 1000, widths: dict[str, int] | None = None, fused: bool = False,
                 stem: str = "imagenet"):
        super().__init__()
        depth = parse_depth(depth)
        stem_kind = parse_stem(stem)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
        kind, layers = DEPTHS[depth]
        widths = dict(widths or {})
        self.arch = ArchConfig(depth=depth, num_classes=num_classes, widths=widths, fused=bool(fused), stem=stem_kind)
        block_cls = BasicBlock if kind == "basic" else Bottleneck

        stem = widths.get("conv1", 64)
        if stem_kind == "small":
            self.conv1 = nn.Conv2d(3, stem, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=False)
        self.maxpool: nn.Module = nn.Identity() if stem_kind == "small" else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        inplanes = stem
        std_inplanes = 64  # the unpruned input width: decides where the standard architecture has a projection
        for si, (planes, nblocks) in enumerate(zip(STAGE_PLANES, layers)):
            stage_name = f"layer{si + 1}"
            stride = 1 if si == 0 else 2
            blocks = []
            for bi in range(nblocks):
                p = f"{stage_name}.{bi}"
                s = stride if bi == 0 else 1
                if kind == "basic":
                    bw = (widths.get(f"{p}.conv1", planes), widths.get(f"{p}.conv2", planes))
                else:
                    bw = (
                        widths.get(f"{p}.conv1", planes),
                        widths.get(f"{p}.conv2", planes),
                        widths.get(f"{p}.conv3", planes * 4),
                    )
                out_planes = bw[-1]
                downsample = None
                standard_out = planes * block_cls.expansion
                # A projection shortcut exists where the standard architecture has one (stride or width change);
                # a pruned model keeps the same topology even when its (tied) widths make input == output.
                if bi == 0 and (s != 1 or std_inplanes != standard_out or f"{p}.downsample.0" in widths):
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, out_planes, kernel_size=1, stride=s, bias=False),
                        nn.BatchNorm2d(out_planes),
                    )
                elif inplanes != out_planes:
                    raise ConfigError(
                        f"inconsistent widths at {p}: input has {inplanes} channels but the block outputs "
                        f"{out_planes} without a projection shortcut"
                    )
                blocks.append(block_cls(inplanes, bw, stride=s, downsample=downsample))
                inplanes = out_planes
                std_inplanes = standard_out
            self.add_module(stage_name, nn.Sequential(*blocks))

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        self._init_weights()
        if fused:
            self._use_fused_layout()

    def _use_fused_layout(self) -> None:
        """The layout of a BN-folded model (see ``resnet_opt.optimize.fuse_bn``): every BatchNorm becomes
        ``nn.Identity`` and the conv before it gets a (zero) bias, so the folded weights load with strict keys."""
        for conv_name, bn_name in conv_bn_pairs(self):
            conv = self.get_submodule(conv_name)
            conv.bias = nn.Parameter(torch.zeros(conv.out_channels))
            parent, _, leaf = bn_name.rpartition(".")
            setattr(self.get_submodule(parent) if parent else self, leaf, nn.Identity())

    def _init_weights(self) -> None:
        # torchvision's initialisation (kaiming fan_out for convs, BN weight 1 / bias 0)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def zero_init_residual(self) -> "ResNet":
        """Zero the last BatchNorm's scale in every residual block, so each block starts as the identity (Goyal et al.
        2017; torchvision's ``zero_init_residual=True``), for a new model trained from scratch: deep bottleneck models
        train much faster early on (benchmarks/results/zero_init_residual.md). Returns the model."""
        if self.arch.fused:
            raise ConfigError("zero_init_residual is for a new, unfused model")
        for m in self.modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                nn.init.zeros_((m.bn3 if isinstance(m, Bottleneck) else m.bn2).weight)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv, batchnorm) module-name pairs of a ResNet: stem, every block conv, every downsample path.

    Works on the unfused model (BN modules) and the fused one (Identity in the BN slots)."""
    names = dict(model.named_modules())
    pairs = []
    for name, m in names.items():
        if not isinstance(m, nn.Conv2d):
            continue
        parent, _, leaf = name.rpartition(".")
        pre = f"{parent}." if parent else ""
        if leaf.startswith("conv"):
            bn = f"{pre}bn{leaf[len('conv'):]}"
        elif parent.endswith("downsample") and leaf == "0":
            bn = f"{pre}1"
        else:
            continue
        if bn in names:
            pairs.append((name, bn))
    return pairs


def conv_widths(model: nn.Module) -> dict[str, int]:
    """Output channels of every conv in ``model`` (the per-layer widths recorded in a model's config)."""
    return {n: m.out_channels for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
