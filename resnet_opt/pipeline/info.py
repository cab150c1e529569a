"""Model family table."""

from __future__ import annotations

from typing import Any

from resnet_opt.resnet import DEPTHS, count_macs, count_params, get_model


def model_table(input_size: int = 224, num_classes: int = 1000) -> list[dict[str, Any]]:
    rows = []
    for d, (kind, layers) in DEPTHS.items():
        m = get_model(d, num_classes=num_classes)
        rows.append({"name": f"resnet{d}", "depth": d, "block": kind, "stages": list(layers),
                     "parameters": count_params(m), "macs": count_macs(m, input_size), "input_size": input_size})
    return rows
