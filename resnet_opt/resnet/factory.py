"""The registry and the classic factories: ``resnet50(weights=...)``, ``get_model("resnet18")``,
``ResNetModel(layers_count=50, num_classes=1000).get_model()`` (weights from local files only)."""

from __future__ import annotations

import os

from resnet_opt.resnet.io import load_weights
from resnet_opt.resnet.model import DEPTHS, ResNet, parse_depth

__all__ = ["list_models", "get_model", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "ResNetModel"]


def _build(depth: int, num_classes: int, weights: str | os.PathLike | None, widths: dict[str, int] | None = None) -> ResNet:
    model = ResNet(depth, num_classes=num_classes, widths=widths)
    if weights is not None:
        load_weights(model, weights)
    return model


def resnet18(*, num_classes: int = 1000, weights: str | os.PathLike | None = None) -> ResNet:
    return _build(18, num_classes, weights)


def resnet34(*, num_classes: int = 1000, weights: str | os.PathLike | None = None) -> ResNet:
    return _build(34, num_classes, weights)


def resnet50(*, num_classes: int = 1000, weights: str | os.PathLike | None = None) -> ResNet:
    return _build(50, num_classes, weights)


def resnet101(*, num_classes: int = 1000, weights: str | os.PathLike | None = None) -> ResNet:
    return _build(101, num_classes, weights)


def resnet152(*, num_classes: int = 1000, weights: str | os.PathLike | None = None) -> ResNet:
    return _build(152, num_classes, weights)


_FACTORIES = {18: resnet18, 34: resnet34, 50: resnet50, 101: resnet101, 152: resnet152}


def list_models() -> list[str]:
    return [f"resnet{d}" for d in DEPTHS]


def get_model(depth_or_name: int | str, *, num_classes: int = 1000, weights: str | os.PathLike | None = None) -> ResNet:
    """Registry lookup: ``get_model(50)`` or ``get_model("resnet50")``."""
    return _FACTORIES[parse_depth(depth_or_name)](num_classes=num_classes, weights=weights)


class ResNetModel:
    """The classic API: ``ResNetModel(layers_count=50, num_classes=1000).get_model()``."""

    def __init__(self, layers_count: int = 50, num_classes: int = 1000, weights: str | os.PathLike | None = None):
        self.layers_count = parse_depth(layers_count)
        self.num_classes = num_classes
        self.weights = weights

    def get_model(self) -> ResNet:
        return get_model(self.layers_count, num_classes=self.num_classes, weights=self.weights)

    def __repr__(self) -> str:
        return f"ResNetModel(layers_count={self.layers_count}, num_classes={self.num_classes})"
