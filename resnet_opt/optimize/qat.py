"""Quantization-aware training on the torchao PT2E flow: export -> ``prepare_qat_pt2e`` (fake quantization, BN
folding simulated) -> fine-tune -> ``convert_pt2e`` -> ONNX QDQ carrying the LEARNED scales.

* :func:`prepare_qat` captures the model with ``torch.export`` (dynamic batch) and inserts fake-quant modules with the
  x86 Inductor quantizer's annotation (conv/bn/relu, add, linear, pooling) and a :class:`QatScheme`: uint8 asymmetric
  activations (onnxruntime / x86 default) or int8 symmetric per-tensor activations (TensorRT's form); int8 symmetric
  per-channel weights, 7-bit (``[-64, 63]``) where the CPU has no VNNI, for the same reason onnxruntime uses
  ``reduce_range`` there (the AVX2 u8s8 kernel sums pairs of products in saturating int16).
* :func:`freeze_observers` / :func:`freeze_bn` are torchvision's reference QAT schedule steps (observers stop updating
  the scales; BatchNorm uses and keeps its running statistics).
* :func:`convert_qat` gives a graph of quantize/dequantize ops with int8 weights; :func:`export_qat_onnx` writes it as
  an ONNX QDQ model (QuantizeLinear / DequantizeLinear with the learned scales and zero points), which onnxruntime
  runs as QLinearConv / QLinearAdd kernels like the PTQ artifact.

Needs torchao (``pip install resnet-opt[qat]``); :func:`require_torchao` raises a BackendUnavailableError without it.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_opt.core.errors import BackendUnavailableError, ConfigError, ExportError, QuantizationError

__all__ = ["ACTIVATION_SCHEMES", "QatScheme", "require_torchao", "prepare_qat", "freeze_observers", "freeze_bn",
           "convert_qat", "export_qat_onnx", "qat_schedule_hook"]

ACTIVATION_SCHEMES = ("asymmetric", "symmetric")


@dataclass
class QatScheme:
    activation: str = "asymmetric"  # asymmetric: uint8 per-tensor affine; symmetric: int8 per-tensor symmetric
    weight_bits: int = 8  # 8: [-128, 127]; 7: [-64, 63] (CPUs without VNNI)

    def validate(self) -> None:
        if self.activation not in ACTIVATION_SCHEMES:
            raise ConfigError(f"unknown activation scheme {self.activation!r}; valid: {', '.join(ACTIVATION_SCHEMES)}")
        if self.weight_bits not in (7, 8):
            raise ConfigError(f"weight bits must be 7 or 8, got {self.weight_bits}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        qmin, qmax = self.weight_range()
        d.update(activation_type="uint8" if self.activation == "asymmetric" else "int8",
                 activation_qscheme="per_tensor_affine" if self.activation == "asymmetric" else "per_tensor_symmetric",
                 weight_type="int8", weight_qscheme="per_channel_symmetric", weight_range=[qmin, qmax])
        return d

    def weight_range(self) -> tuple[int, int]:
        return (-64, 63) if self.weight_bits == 7 else (-128, 127)


def require_torchao():
    import logging

    pytree_log = logging.getLogger("torch.utils._pytree")
    level = pytree_log.level
    pytree_log.setLevel(logging.ERROR)  # torchao's import logs a deprecation warning there (not for users)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torchao  # noqa: F401
            from torchao.quantization.pt2e import quantize_pt2e
    except ImportError as e:
        raise BackendUnavailableError("quantization-aware training needs torchao: pip install 'resnet-opt[qat]' "
                                      f"({e})") from e
    finally:
        pytree_log.setLevel(level)
    return quantize_pt2e


def _quantizer(scheme: QatScheme):
    from torchao.quantization.pt2e import FusedMovingAvgObsFakeQuantize, MovingAveragePerChannelMinMaxObserver
    from torchao.quantization.pt2e.quantizer import QuantizationSpec
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import QuantizationConfig, X86InductorQuantizer

    eps = 2 ** -12
    if scheme.activation == "asymmetric":
        act = QuantizationSpec(dtype=torch.uint8, quant_min=0, quant_max=255, qscheme=torch.per_tensor_affine,
                               is_dynamic=False, observer_or_fake_quant_ctr=FusedMovingAvgObsFakeQuantize.with_args(eps=eps))
    else:
        act = QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_symmetric,
                               is_dynamic=False, observer_or_fake_quant_ctr=FusedMovingAvgObsFakeQuantize.with_args(eps=eps))
    qmin, qmax = scheme.weight_range()
    weight = QuantizationSpec(dtype=torch.int8, quant_min=qmin, quant_max=qmax, qscheme=torch.per_channel_symmetric,
                              ch_axis=0, is_dynamic=False,
                              observer_or_fake_quant_ctr=FusedMovingAvgObsFakeQuantize.with_args(
                                  eps=eps, observer=MovingAveragePerChannelMinMaxObserver))
    return X86InductorQuantizer().set_global(QuantizationConfig(act, act, weight, None, True))


def prepare_qat(model: nn.Module, input_size: int, scheme: QatScheme | None = None) -> torch.fx.GraphModule:
    """The model with fake quantization inserted (train mode, dynamic batch). ``.train()`` / ``.eval()`` work on it
    (they switch BatchNorm between batch and running statistics)."""
    scheme = scheme or QatScheme()
    scheme.validate()
    qpt2e = require_torchao()
    from torchao.quantization.pt2e import allow_exported_model_train_eval

    x = torch.randn(4, 3, input_size, input_size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    model = model.to("cpu").train()
    try:
        gm = torch.export.export(model, (x,), dynamic_shapes=({0: batch},)).module()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prepared = qpt2e.prepare_qat_pt2e(gm, _quantizer(scheme))
    except Exception as e:  # noqa: BLE001 - export / annotation failures come as many types
        raise QuantizationError(f"cannot prepare the model for QAT (torch.export + prepare_qat_pt2e): "
                                f"{_first_line(e)}") from e
    allow_exported_model_train_eval(prepared)
    return prepared


def freeze_observers(gm: nn.Module) -> None:
    """Stop updating the quantization ranges (they stay as learned so far; fake quantization continues)."""
    from torchao.quantization.pt2e import disable_observer

    gm.apply(disable_observer)


def freeze_bn(gm: nn.Module) -> None:
    """BatchNorm uses (and no longer updates) its running statistics, as torchvision's ``freeze_bn_stats``."""
    from torchao.quantization.pt2e import move_exported_model_to_eval

    move_exported_model_to_eval(gm)


def qat_schedule_hook(freeze_observers_epoch: int | None, freeze_bn_epoch: int | None, log=None):
    """An ``on_epoch_start(model, epoch)`` for the trainer: from epoch ``freeze_bn_epoch`` (0-based) BN statistics
    are frozen, from ``freeze_observers_epoch`` the observers (torchvision's reference QAT schedule)."""

    def hook(model: nn.Module, epoch: int) -> None:
        if freeze_observers_epoch is not None and epoch >= freeze_observers_epoch:
            if epoch == freeze_observers_epoch and log:
                log(f"epoch {epoch + 1}: quantization observers frozen")
            freeze_observers(model)
        if freeze_bn_epoch is not None and epoch >= freeze_bn_epoch:
            if epoch == freeze_bn_epoch and log:
                log(f"epoch {epoch + 1}: BatchNorm statistics frozen")
            freeze_bn(model)

    return hook


def convert_qat(prepared: nn.Module) -> torch.fx.GraphModule:
    """Quantize/dequantize graph (int8 weights, learned activation scales), in eval mode."""
    qpt2e = require_torchao()
    from torchao.quantization.pt2e import move_exported_model_to_eval

    move_exported_model_to_eval(prepared)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = qpt2e.convert_pt2e(prepared)
    except Exception as e:  # noqa: BLE001
        raise QuantizationError(f"convert_pt2e failed: {_first_line(e)}") from e
    move_exported_model_to_eval(converted)
    return converted


def export_qat_onnx(converted: nn.Module, path: str | os.PathLike, *, input_size: int, opset: int = 17) -> Path:
    """Write the converted model as one ONNX QDQ file (input ``input`` N×3×S×S, output ``logits``, dynamic batch)."""
    path = Path(path)
    x = torch.randn(2, 3, input_size, input_size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(converted, (x,), str(path), dynamo=True, input_names=["input"], output_names=["logits"],
                              dynamic_shapes=({0: batch},), opset_version=opset, external_data=False, verbose=False)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"ONNX export of the QAT model failed: {_first_line(e)}") from e
    if not path.is_file():
        raise ExportError(f"ONNX export of the QAT model wrote no file at {path}")
    return path


def _first_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return f"{type(e).__name__}: {s[0]}" if s else type(e).__name__
