"""Residual blocks with torchvision-identical parameter names, written ready for fusion and quantization.

* every ReLU position has its own module (``relu1``, ``relu2``, ``relu_out``), so conv+bn+relu patterns are
  unambiguous for fusers and quantizers;
* the residual add is an :class:`Add` module, which quantization tooling can see and replace
  (``torch.ao`` swaps it for a quantized add; FX and ONNX see a plain ``add``);
* channel widths are explicit, so a pruned model (narrower convs) is the same class.
"""

from __future__ import annotations

import torch
from torch import nn


class Add(nn.Module):
    """Residual add as a module: a named node for fusion, quantization and pruning graphs. No parameters."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convs. ``widths`` = (conv1_out, conv2_out); conv2_out is the block's output width."""

    expansion = 1

    def __init__(self, inplanes: int, widths: tuple[int, int], stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        w1, w2 = widths
        self.conv1 = conv3x3(inplanes, w1, stride)
        self.bn1 = nn.BatchNorm2d(w1)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv2 = conv3x3(w1, w2)
        self.bn2 = nn.BatchNorm2d(w2)
        self.downsample = downsample
        self.add = Add()
        self.relu_out = nn.ReLU(inplace=False)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu_out(self.add(out, identity))


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (carries the stride, as torchvision's V1.5), 1×1 expand (×4)."""

    expansion = 4

    def __init__(self, inplanes: int, widths: tuple[int, int, int], stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        w1, w2, w3 = widths
        self.conv1 = conv1x1(inplanes, w1)
        self.bn1 = nn.BatchNorm2d(w1)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv2 = conv3x3(w1, w2, stride)
        self.bn2 = nn.BatchNorm2d(w2)
        self.relu2 = nn.ReLU(inplace=False)
        self.conv3 = conv1x1(w2, w3)
        self.bn3 = nn.BatchNorm2d(w3)
        self.downsample = downsample
        self.add = Add()
        self.relu_out = nn.ReLU(inplace=False)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu_out(self.add(out, identity))
