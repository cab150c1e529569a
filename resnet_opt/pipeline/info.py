"""Model family table (instant: parameters and MACs computed from the architecture, no model built)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resnet_opt.resnet import DEPTHS
from resnet_opt.resnet.flops import analytic_macs, analytic_params

__all__ = ["ModelsConfig", "model_table"]


@dataclass
class ModelsConfig:
    """``resnet-opt models``: the input size and class count the table is computed for."""

    input_size: int = 224
    num_classes: int = 1000

    def validate(self) -> None:
        from resnet_opt.core.checks import MAX_CLASSES, check_input_size, check_int

        check_input_size(self.input_size, optional=False)
        check_int("--num-classes", self.num_classes, 1, MAX_CLASSES)


def model_table(input_size: int = 224, num_classes: int = 1000) -> list[dict[str, Any]]:
    ModelsConfig(input_size=input_size, num_classes=num_classes).validate()
    rows = []
    for d, (kind, layers) in DEPTHS.items():
        rows.append({"name": f"resnet{d}", "depth": d, "block": kind, "stages": list(layers),
                     "parameters": analytic_params(d, num_classes), "macs": analytic_macs(d, input_size, num_classes),
                     "input_size": input_size})
    return rows
