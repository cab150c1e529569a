"""The PyTorch INT8 target: PT2E static post-training quantization (torchao) for Inductor's x86 lowering.

Path: ``torch.export`` (dynamic batch) -> torchao ``prepare_pt2e`` with ``X86InductorQuantizer`` -> calibration on
real images -> ``convert_pt2e`` (a graph with quantize/dequantize ops around FP32 convs) -> ``torch.export`` again ->
AOTInductor package (:mod:`resnet_opt.export.pt2_export`): with freezing, Inductor's x86 passes (registered by
torchao) turn each dequantize -> conv -> (add) -> relu -> quantize group into oneDNN INT8 convolutions with
pre-packed int8 weights. The result is one ``.pt2`` file, loadable from Python or C++ without torchao.

This replaces ``torch.ao.quantization`` FX + TorchScript (deprecated upstream; kept as the ``torchscript-fx``
target in :mod:`.quantize_torch`). PT2E annotation works on this package's ResNet because every ReLU and residual
``Add`` is its own module (torchvision's resnet reuses one ReLU per block and fails with "Input partition has more
than one output node": benchmarks/results/quantize_pt2e_check.md).

Quantization scheme (X86InductorQuantizer's default): uint8 per-tensor affine activations, int8 per-channel
symmetric weights. ``reduce_range`` (7-bit activations) defaults to on for CPUs without VNNI, as torchao advises
("set it to True on earlier CPUs without VNNI to avoid accuracy issue"): their u8s8 multiply-add can saturate.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Iterable

import torch
from torch import nn

from resnet_opt.core.checks import check_choice
from resnet_opt.core.errors import QuantizationError
from resnet_opt.engine.progress import progress_iter

__all__ = ["PT2E_METHODS", "DEFAULT_PT2E_METHOD", "check_pt2e_method", "torchao_version", "pt2e_settings",
           "quantize_pt2e"]

PT2E_METHODS = ("histogram", "minmax")
DEFAULT_PT2E_METHOD = "histogram"


def check_pt2e_method(method: str) -> str:
    return check_choice("calibration method", method, PT2E_METHODS, where=" for the torch (PT2E) target",
                        hint=" (percentile and entropy are onnxruntime calibrators: use --target onnx)")


def torchao_version() -> str | None:
    import importlib.metadata as md

    try:
        return md.version("torchao")
    except md.PackageNotFoundError:
        return None


def _require_torchao() -> None:
    if torchao_version() is None:
        raise QuantizationError("the torch INT8 target needs torchao (PT2E quantization): pip install torchao "
                                "(a resnet-opt dependency), or use --target torchscript-fx / --target onnx")


def default_reduce_range() -> bool:
    from resnet_opt.core.env import has_vnni

    return not has_vnni()


def pt2e_settings(method: str, reduce_range: bool) -> dict[str, Any]:
    return {
        "format": "PT2E (torchao prepare_pt2e / convert_pt2e, X86InductorQuantizer), AOTInductor .pt2 package",
        "quantizer": "torchao.quantization.pt2e.quantizer.x86_inductor_quantizer.X86InductorQuantizer",
        "torchao": torchao_version(),
        "method": method,
        "activation_observer": "HistogramObserver" if method == "histogram" else "MinMaxObserver",
        "activation_type": "uint8",
        "activation_qscheme": "per_tensor_affine",
        "activation_reduce_range": reduce_range,
        "reduce_range": reduce_range,
        "weight_type": "int8",
        "per_channel": True,
        "weight_symmetric": True,
        "reason": ("uint8 activations (7-bit with reduce_range, the default on CPUs without VNNI so the u8s8 "
                   "multiply-add cannot saturate), per-channel symmetric int8 weights; Inductor lowers the quantized "
                   "graph to oneDNN INT8 convolutions"),
    }


def _quantization_config(method: str, reduce_range: bool) -> Any:
    import dataclasses

    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq

    cfg = xiq.get_default_x86_inductor_quantization_config(is_qat=False, is_dynamic=False, reduce_range=reduce_range)
    if method == "histogram":
        return cfg
    from torchao.quantization.pt2e.observer import MinMaxObserver

    act = cfg.input_activation
    ctr = MinMaxObserver.with_args(eps=2 ** -12)
    new_act = dataclasses.replace(act, observer_or_fake_quant_ctr=ctr)
    return dataclasses.replace(cfg, input_activation=new_act, output_activation=new_act)


def _graph(model: nn.Module) -> nn.Module:
    """A fused ResNet's Identity placeholders dropped (they trace to nothing, but keep the graph plain)."""
    import copy

    if getattr(getattr(model, "arch", None), "fused", False):
        from resnet_opt.optimize.fuse import strip_identities

        return strip_identities(copy.deepcopy(model).eval())
    return copy.deepcopy(model).eval()


def quantize_pt2e(model: nn.Module, calib: Iterable, *, method: str = DEFAULT_PT2E_METHOD,
                  reduce_range: bool | None = None, input_size: int = 224,
                  progress: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """PT2E static PTQ of ``model`` (left untouched): returns the converted graph module (batch dimension dynamic)
    and facts for the manifest (settings, calibration images and seconds).

    ``calib`` yields ``(images, labels)`` batches or image tensors (CPU, float32, ``input_size`` px)."""
    m = check_pt2e_method(method)
    _require_torchao()
    rr = default_reduce_range() if reduce_range is None else bool(reduce_range)
    from resnet_opt.export.pt2_export import export_program, quiet_inductor

    t0 = time.perf_counter()
    program = export_program(_graph(model).cpu().float(), input_size=input_size, device="cpu")
    try:
        with quiet_inductor():
            import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

            quantizer = xiq.X86InductorQuantizer()
            quantizer.set_global(_quantization_config(m, rr))
            prepared = prepare_pt2e(program.module(), quantizer)
    except Exception as e:  # noqa: BLE001 - annotation errors ("more than one output node") and the like
        raise QuantizationError(f"PT2E prepare_pt2e (X86InductorQuantizer) failed: "
                                f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from e
    seen = 0
    with torch.no_grad():
        for batch in progress_iter(calib, description=f"calibrating ({m}, PT2E)", enabled=progress):
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            x = x.float().cpu()
            if x.ndim != 4 or int(x.shape[-1]) != input_size:
                raise QuantizationError(f"calibration batch of shape {tuple(x.shape)} does not match the "
                                        f"{input_size}-px model input")
            prepared(x)
            seen += int(x.shape[0])
    if seen == 0:
        raise QuantizationError("no calibration images: the calibration data is empty")
    try:
        with warnings.catch_warnings(), quiet_inductor():
            warnings.simplefilter("ignore", UserWarning)  # torchao's notes on constant folding
            converted = convert_pt2e(prepared)
    except Exception as e:  # noqa: BLE001
        raise QuantizationError(f"PT2E convert_pt2e failed: {str(e).strip().splitlines()[0]}") from e
    facts = {**pt2e_settings(m, rr), "calibration_images_seen": seen,
             "calibration_seconds": time.perf_counter() - t0}
    return converted, facts
