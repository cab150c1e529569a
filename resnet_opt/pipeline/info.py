"""Model family table (instant: parameters and MACs computed from the architecture, no model built)."""

from __future__ import annotations

from typing import Any

from resnet_opt.resnet import DEPTHS
from resnet_opt.resnet.flops import analytic_macs, analytic_params


def model_table(input_size: int = 224, num_classes: int = 1000) -> list[dict[str, Any]]:
    rows = []
    for d, (kind, layers) in DEPTHS.items():
        rows.append({"name": f"resnet{d}", "depth": d, "block": kind, "stages": list(layers),
                     "parameters": analytic_params(d, num_classes), "macs": analytic_macs(d, input_size, num_classes),
                     "input_size": input_size})
    return rows
