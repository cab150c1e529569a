"""The legacy PyTorch INT8 target ``torchscript-fx``: static post-training quantization for the x86 backend, saved as
TorchScript. (The ``torch`` target is PT2E + AOTInductor now: :mod:`resnet_opt.optimize.quantize_pt2e`; the reasons
below were recorded when FX was chosen, before AOTInductor packages removed the compile-in-every-process objection.)

Path: ``torch.ao.quantization`` FX graph mode (``prepare_fx`` -> calibrate -> ``convert_fx``), then
``torch.jit.trace`` + ``torch.jit.freeze``. Why this and not PT2E, checked on torch 2.14.1 with torchao 0.18.0
(benchmarks/quantize_pt2e_check.py, results in benchmarks/results/quantize_pt2e_check.md):

* torch 2.14 no longer ships PT2E (``torch.ao.quantization.quantize_pt2e`` and ``...quantizer`` are gone); it lives in
  torchao, an extra dependency.
* ``X86InductorQuantizer`` annotation fails on torchvision's resnet50 ("Input partition has more than one output
  node", as docs/reference-figures.md says); on this package's ResNet (separate ReLU modules) it works.
* A PT2E model is only fast through ``torch.compile`` (Inductor with ``freezing=True``): ~8 s of compilation in every
  new process, a C++ compiler at run time, and no TorchScript file to ship - the artifact this target promises.
  Compiled, it was only slightly faster than FX + frozen TorchScript on the CPU we measured (AVX2, no VNNI: 32.8 vs
  35.5 ms for ResNet-50, batch 1, 2 threads); uncompiled it is slower than FP32.
* FX graph mode is deprecated upstream but works on 2.14.1 (deprecation warnings silenced here): it fuses conv+relu
  itself, turns the residual ``Add`` module into a quantized add, and runs on the fbgemm/x86 kernels. Tracing +
  freezing the converted model gives a self-contained ``.ts`` that ``torch.jit.load`` runs without this package, and
  it is faster than the eager quantized model (benchmarks/results/quantize_targets.md).

The pinned torch range in pyproject.toml (<2.15) is what this was tested on.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from resnet_opt.core.checks import check_choice
from resnet_opt.core.errors import QuantizationError
from resnet_opt.engine.progress import progress_iter

__all__ = ["TORCH_METHODS", "DEFAULT_TORCH_METHOD", "quantize_torch", "to_torchscript", "torch_settings"]

TORCH_METHODS = ("minmax", "histogram")
DEFAULT_TORCH_METHOD = "histogram"


def check_torch_method(method: str) -> str:
    return check_choice("calibration method", method, TORCH_METHODS, where=" for the torch target",
                        hint=" (percentile and entropy are onnxruntime calibrators: use --target onnx)")


def _qconfig_mapping(method: str, backend: str):
    from torch.ao.quantization import QConfig, get_default_qconfig_mapping
    from torch.ao.quantization.observer import MinMaxObserver, default_per_channel_weight_observer

    if method == "histogram":
        return get_default_qconfig_mapping(backend)  # HistogramObserver (reduce_range) + per-channel weights
    qc = QConfig(activation=MinMaxObserver.with_args(reduce_range=True),
                 weight=default_per_channel_weight_observer)
    return get_default_qconfig_mapping(backend).set_global(qc)


def torch_settings(method: str, backend: str = "x86") -> dict[str, Any]:
    return {
        "format": "torch.ao FX graph mode (prepare_fx / convert_fx), traced + frozen TorchScript",
        "backend": backend,
        "method": method,
        "activation_observer": "HistogramObserver" if method == "histogram" else "MinMaxObserver",
        "activation_type": "uint8",
        "activation_reduce_range": True,
        "weight_type": "int8",
        "per_channel": True,
        "weight_symmetric": True,
        "reason": "torch's x86 qconfig: uint8 activations with reduce_range (7-bit) so the fbgemm u8s8 kernels cannot "
                  "saturate on CPUs without VNNI; per-channel symmetric int8 weights",
    }


def _graph(model: nn.Module) -> nn.Module:
    """The model as FX sees it: a fused ResNet's Identity placeholders dropped, so conv -> relu fuses."""
    if getattr(getattr(model, "arch", None), "fused", False):
        from resnet_opt.optimize.fuse import strip_identities

        return strip_identities(copy.deepcopy(model).eval())
    return copy.deepcopy(model).eval()


@torch.no_grad()
def quantize_torch(model: nn.Module, calib: Iterable, *, method: str = DEFAULT_TORCH_METHOD, backend: str = "x86",
                   input_size: int = 224, progress: bool = False) -> nn.Module:
    """FX static PTQ: returns the converted (quantized) GraphModule; ``model`` is left untouched.

    ``calib`` yields ``(images, labels)`` batches or image tensors."""
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    m = check_torch_method(method)
    if backend not in torch.backends.quantized.supported_engines:
        raise QuantizationError(f"torch quantized engine {backend!r} is not available here "
                                f"(available: {', '.join(torch.backends.quantized.supported_engines)})")
    torch.backends.quantized.engine = backend
    example = torch.zeros(1, 3, input_size, input_size)
    seen = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prepared = prepare_fx(_graph(model).cpu().float(), _qconfig_mapping(m, backend), example_inputs=(example,))
        except Exception as e:  # noqa: BLE001
            raise QuantizationError(f"torch.ao prepare_fx failed: {str(e).strip().splitlines()[0]}") from e
        for batch in progress_iter(calib, description=f"calibrating ({m})", enabled=progress):
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            prepared(x.float().cpu())
            seen += int(x.shape[0])
        if seen == 0:
            raise QuantizationError("no calibration images: the calibration data is empty")
        try:
            return convert_fx(prepared)
        except Exception as e:  # noqa: BLE001
            raise QuantizationError(f"torch.ao convert_fx failed: {str(e).strip().splitlines()[0]}") from e


@torch.no_grad()
def to_torchscript(qmodel: nn.Module, path: str | os.PathLike | None = None, *, input_size: int = 224,
                   freeze: bool = True) -> torch.jit.ScriptModule:
    """Trace (batch 1; the batch axis stays dynamic for these ResNets) and freeze; save to ``path`` when given."""
    x = torch.zeros(1, 3, input_size, input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ts = torch.jit.trace(qmodel.eval(), x)
            if freeze:
                ts = torch.jit.freeze(ts.eval())
            if path is not None:
                torch.jit.save(ts, str(Path(path)))
        except Exception as e:  # noqa: BLE001
            raise QuantizationError(f"TorchScript trace/freeze of the quantized model failed: "
                                    f"{str(e).strip().splitlines()[0]}") from e
    return ts
