"""Parameter and MAC counts, measured with torch's FlopCounterMode (not counted by hand)."""

from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: int = 224, batch: int = 1) -> int:
    """Multiply-accumulates of one forward pass at ``input_size``×``input_size`` (FLOPs / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    p = next(iter(model.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    x = torch.zeros(batch, 3, input_size, input_size, device=device)
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2 // batch


def _out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def analytic_macs(depth: int, input_size: int = 224, num_classes: int = 1000) -> int:
    """MACs of one forward pass of a standard-width ResNet, from its shape alone (no model built): every conv
    (Cout·Hout·Wout·Cin·k²) plus the classifier (in·out) — what FlopCounterMode counts (it ignores BN, ReLU, adds and
    pooling). Tested equal to :func:`count_macs` for every depth. Pruned models: use :func:`count_macs`."""
    from resnet_opt.resnet.model import DEPTHS, STAGE_PLANES

    kind, layers = DEPTHS[int(depth)]
    exp = 4 if kind == "bottleneck" else 1
    h = _out(input_size, 7, 2, 3)
    macs = 64 * h * h * 3 * 49  # stem conv 7×7/2
    h = _out(h, 3, 2, 1)  # max pool 3×3/2
    cin = 64
    for i, (planes, blocks) in enumerate(zip(STAGE_PLANES, layers)):
        for b in range(blocks):
            stride = 2 if (i > 0 and b == 0) else 1
            ho = _out(h, 3, stride, 1)
            if kind == "basic":
                macs += planes * ho * ho * cin * 9 + planes * ho * ho * planes * 9
            else:
                macs += planes * h * h * cin + planes * ho * ho * planes * 9 + planes * exp * ho * ho * planes
            if stride != 1 or cin != planes * exp:
                macs += planes * exp * ho * ho * cin  # 1×1 downsample
            cin, h = planes * exp, ho
    return macs + cin * num_classes


def analytic_params(depth: int, num_classes: int = 1000) -> int:
    """Parameters of a standard-width ResNet (convs, BatchNorm weight + bias, classifier), from its shape alone."""
    from resnet_opt.resnet.model import DEPTHS, STAGE_PLANES

    kind, layers = DEPTHS[int(depth)]
    exp = 4 if kind == "bottleneck" else 1
    n = 3 * 64 * 49 + 2 * 64
    cin = 64
    for i, (planes, blocks) in enumerate(zip(STAGE_PLANES, layers)):
        for b in range(blocks):
            stride = 2 if (i > 0 and b == 0) else 1
            if kind == "basic":
                n += cin * planes * 9 + 2 * planes + planes * planes * 9 + 2 * planes
            else:
                n += cin * planes + 2 * planes + planes * planes * 9 + 2 * planes + planes * planes * exp + 2 * planes * exp
            if stride != 1 or cin != planes * exp:
                n += cin * planes * exp + 2 * planes * exp
            cin = planes * exp
    return n + cin * num_classes + num_classes
