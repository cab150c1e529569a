"""Model family table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resnet_opt.resnet import DEPTHS, count_macs, count_params, get_model

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
        m = get_model(d, num_classes=num_classes)
        rows.append({"name": f"resnet{d}", "depth": d, "block": kind, "stages": list(layers),
                     "parameters": count_params(m), "macs": count_macs(m, input_size), "input_size": input_size})
    return rows
