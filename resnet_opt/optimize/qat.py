"""Quantization-aware training on the torchao PT2E flow: export -> ``prepare_qat_pt2e`` (fake quantization, BN
folding simulated) -> fine-tune -> ``convert_pt2e`` -> ONNX QDQ carrying the LEARNED scales.

* :func:`prepare_qat` captures the model with ``torch.export`` (dynamic batch) and inserts fake-quant modules with the
  x86 Inductor quantizer's annotation (conv/bn/relu, linear, pooling) placed as onnxruntime's ``quantize_static``
  places its QDQ nodes (every convolution's output and each residual Add quantized: ``_onnx_qdq_quantizer_class``)
  and a :class:`QatScheme`: uint8 asymmetric
  activations (onnxruntime / x86 default) or int8 symmetric per-tensor activations (TensorRT's form); int8 symmetric
  per-channel weights, 7-bit (``[-64, 63]``) where the CPU has no VNNI, for the same reason onnxruntime uses
  ``reduce_range`` there (the AVX2 u8s8 kernel sums pairs of products in saturating int16).
* :func:`freeze_observers` / :func:`freeze_bn` are torchvision's reference QAT schedule steps (observers stop updating
  the scales; BatchNorm uses and keeps its running statistics).
* :func:`convert_qat` gives a graph of quantize/dequantize ops with int8 weights; :func:`export_qat_onnx` writes it as
  an ONNX QDQ model (QuantizeLinear / DequantizeLinear with the learned scales and zero points) in the PTQ
  artifact's layout (:mod:`resnet_opt.optimize.qdq_graph`: ReLU folded into the QuantizeLinear after it where that is
  exact, int32 biases), which onnxruntime runs as QLinearConv / QLinearAdd kernels like the PTQ artifact.
* Target ``torch`` (:attr:`QatScheme.target`): the quantizer is the x86 Inductor quantizer's own QAT configuration
  (``get_default_x86_inductor_quantization_config(is_qat=True)``: uint8 activations, 7-bit ``[0, 127]`` with
  ``reduce_range`` on CPUs without VNNI as the PTQ torch target; int8 per-channel symmetric weights), so the
  converted graph is the one Inductor's x86 passes lower to oneDNN INT8 convolutions: the pipeline compiles it into
  an AOTInductor ``.pt2`` package exactly like ``quantize --target torch`` does.

Needs torchao (``pip install resnet-opt[qat]``); :func:`require_torchao` raises a BackendUnavailableError without it.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from resnet_opt.core.errors import BackendUnavailableError, ConfigError, ExportError, QuantizationError

__all__ = ["ACTIVATION_SCHEMES", "WEIGHT_BITS", "TARGETS", "QatScheme", "require_torchao", "prepare_qat",
           "freeze_observers", "freeze_bn", "convert_qat", "export_qat_onnx", "qat_schedule_hook",
           "quantized_layer_count", "only_present_conv_kinds"]

ACTIVATION_SCHEMES = ("asymmetric", "symmetric")
WEIGHT_BITS = (7, 8)  # symmetric ranges [-2^(b-1), 2^(b-1)-1] stored as int8
TARGETS = ("onnx", "torch")  # onnx: ONNX QDQ file; torch: PT2E graph for Inductor (compiled into a .pt2 package)


@dataclass
class QatScheme:
    activation: str = "asymmetric"  # asymmetric: uint8 per-tensor affine; symmetric: int8 per-tensor symmetric
    weight_bits: int = 8  # 8: [-128, 127]; 7: [-64, 63] (CPUs without VNNI); onnx target
    target: str = "onnx"  # onnx | torch (the x86 Inductor quantizer's own QAT configuration)
    reduce_range: bool = False  # torch target: 7-bit activations [0, 127] (CPUs without VNNI, as the PTQ torch target)

    def validate(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError(f"unknown QAT target {self.target!r}; valid: {', '.join(TARGETS)}")
        if self.activation not in ACTIVATION_SCHEMES:
            raise ConfigError(f"unknown activation scheme {self.activation!r}; valid: {', '.join(ACTIVATION_SCHEMES)}")
        if self.weight_bits not in WEIGHT_BITS:
            raise ConfigError(f"weight bits must be 7 or 8, got {self.weight_bits}")
        if self.target == "torch" and (self.activation != "asymmetric" or self.weight_bits != 8):
            raise ConfigError("the torch (PT2E / Inductor) target uses the x86 Inductor quantizer's scheme: uint8 "
                              "asymmetric activations and 8-bit per-channel weights")
        if self.target == "onnx" and self.reduce_range:
            raise ConfigError("reduce_range (7-bit activations) applies to the torch target; the onnx target uses "
                              "7-bit weights instead (weight_bits=7)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        qmin, qmax = self.weight_range()
        d.update(activation_type="uint8" if self.activation == "asymmetric" else "int8",
                 activation_qscheme="per_tensor_affine" if self.activation == "asymmetric" else "per_tensor_symmetric",
                 activation_range=list(self.activation_range()),
                 weight_type="int8", weight_qscheme="per_channel_symmetric", weight_range=[qmin, qmax])
        if self.target == "torch":
            d["quantizer_config"] = ("torchao get_default_x86_inductor_quantization_config(is_qat=True, "
                                     f"reduce_range={self.reduce_range})")
        return d

    def weight_range(self) -> tuple[int, int]:
        half = 2 ** (self.weight_bits - 1)
        return (-half, half - 1)

    def activation_range(self) -> tuple[int, int]:
        if self.activation == "symmetric":
            return (-128, 127)
        return (0, 127) if self.reduce_range else (0, 255)


@contextlib.contextmanager
def only_present_conv_kinds() -> Iterator[None]:
    """While active, torchao's QAT conv+BN passes (``prepare_qat_pt2e``'s fuse, ``convert_pt2e``'s fold) skip the
    conv kinds the graph does not contain.

    Each pass runs once per conv kind (conv1d, conv2d, conv_transpose1d, conv_transpose2d) and exports every pattern
    variant of that kind with ``torch.export`` (32 exports per kind in the fold) whether or not the graph has such a
    convolution: on a 2-core CPU that is ~40 s of ``convert_pt2e`` for a ResNet, which has only conv2d. A kind with
    no node in the graph cannot match, so its pass is skipped; the conv2d pass runs unchanged. If torchao's internals
    are not as expected (another version), nothing is patched."""
    try:
        from torchao.quantization.pt2e import qat_utils
    except ImportError:
        yield
        return
    names = ("_fuse_conv_bn_qat_helper", "_fold_conv_bn_qat_helper")
    originals = {n: getattr(qat_utils, n, None) for n in names}
    if any(f is None for f in originals.values()):
        yield
        return
    F = torch.nn.functional
    aten = torch.ops.aten
    op_of = {F.conv1d: aten.conv1d, F.conv2d: aten.conv2d, F.conv_transpose1d: aten.conv_transpose1d,
             F.conv_transpose2d: aten.conv_transpose2d}

    def skipping(original):
        def helper(m, conv_fn, *args, **kwargs):
            op = op_of.get(conv_fn)
            if op is not None and not any(getattr(n.target, "overloadpacket", None) is op for n in m.graph.nodes):
                return m
            return original(m, conv_fn, *args, **kwargs)
        return helper

    for n, f in originals.items():
        setattr(qat_utils, n, skipping(f))
    try:
        yield
    finally:
        for n, f in originals.items():
            setattr(qat_utils, n, f)


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
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        QuantizationConfig, X86InductorQuantizer, get_default_x86_inductor_quantization_config,
    )

    if scheme.target == "torch":  # exactly what Inductor's x86 lowering expects (the PTQ torch target's, is_qat=True)
        return X86InductorQuantizer().set_global(
            get_default_x86_inductor_quantization_config(is_qat=True, reduce_range=scheme.reduce_range))

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
    return _onnx_qdq_quantizer_class()().set_global(QuantizationConfig(act, act, weight, None, True))


_ONNX_QUANTIZER: type | None = None


def _onnx_qdq_quantizer_class() -> type:
    """The onnx target's quantizer: the x86 Inductor quantizer's annotation with onnxruntime's QDQ placement.

    Inductor fuses ``conv -> (bn) -> add -> (relu)`` into one oneDNN convolution with a sum post-op, so the x86
    quantizer leaves the convolution's output and the Add in float. onnxruntime has no such kernel: a convolution
    whose output is not quantized runs as an FP32 convolution between a DequantizeLinear and layout transposes (the
    first QAT artifacts ran slower than FP32). This quantizer annotates what ``quantize_static`` writes instead:
    every convolution's output quantized (after its ReLU when one follows), each residual Add with both inputs and
    its output quantized (after the ReLU that follows it), so onnxruntime runs QLinearConv / QLinearAdd throughout.
    The conv (+ BN) (+ ReLU), linear and pooling annotations are the x86 quantizer's own."""
    global _ONNX_QUANTIZER
    if _ONNX_QUANTIZER is not None:
        return _ONNX_QUANTIZER
    from torchao.quantization.pt2e.quantizer.utils import get_input_act_qspec, get_output_act_qspec
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        QUANT_ANNOTATION_KEY, X86InductorQuantizer, _is_any_annotated, _X86InductorQuantizationAnnotation,
    )

    aten = torch.ops.aten
    adds = (aten.add.Tensor, aten.add_.Tensor)
    relus = (aten.relu.default, aten.relu_.default)

    class OnnxQdqQuantizer(X86InductorQuantizer):
        # no conv + add (+ relu) fusion: the convolution keeps its own output quantization, the Add is quantized
        def _annotate_qat_conv2d_bn_binary_unary(self, *args, **kwargs):
            return None

        def _annotate_qat_conv2d_bn_binary(self, *args, **kwargs):
            return None

        def _annotate_conv2d_binary_unary(self, *args, **kwargs):
            return None

        def _annotate_conv2d_binary(self, *args, **kwargs):
            return None

        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            cfg = self.global_config
            if cfg is not None:  # first, so the pooling after the last block sees a quantized producer
                a_in, a_out = get_input_act_qspec(cfg), get_output_act_qspec(cfg)
                for n in model.graph.nodes:
                    if n.op != "call_function" or n.target not in adds or _is_any_annotated([n]):
                        continue
                    lhs, rhs = n.args[0], n.args[1]
                    if not (isinstance(lhs, torch.fx.Node) and isinstance(rhs, torch.fx.Node)):
                        continue
                    users = list(n.users)
                    relu = users[0] if len(users) == 1 and users[0].target in relus else None
                    n.meta[QUANT_ANNOTATION_KEY] = _X86InductorQuantizationAnnotation(
                        input_qspec_map={lhs: a_in, rhs: a_in}, output_qspec=None if relu is not None else a_out,
                        _annotated=True, _is_output_of_quantized_pattern=relu is None)
                    if relu is not None:
                        relu.meta[QUANT_ANNOTATION_KEY] = _X86InductorQuantizationAnnotation(
                            output_qspec=a_out, _annotated=True, _is_output_of_quantized_pattern=True)
            return super().annotate(model)

    _ONNX_QUANTIZER = OnnxQdqQuantizer
    return OnnxQdqQuantizer


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
        with warnings.catch_warnings(), only_present_conv_kinds():
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
        with warnings.catch_warnings(), only_present_conv_kinds():
            warnings.simplefilter("ignore")
            converted = qpt2e.convert_pt2e(prepared)
    except Exception as e:  # noqa: BLE001
        raise QuantizationError(f"convert_pt2e failed: {_first_line(e)}") from e
    move_exported_model_to_eval(converted)
    return converted


def quantized_layer_count(converted: torch.fx.GraphModule) -> int:
    """Convolutions and linear layers of a converted PT2E graph whose weight comes through a dequantize op."""
    n = 0
    for node in converted.graph.nodes:
        name = str(node.target)
        if node.op == "call_function" and ("conv" in name or "linear" in name):
            w = node.args[1] if len(node.args) > 1 else None
            if isinstance(w, torch.fx.Node) and "dequantize" in str(w.target):
                n += 1
    return n


def export_qat_onnx(converted: nn.Module, path: str | os.PathLike, *, input_size: int, opset: int = 17,
                    report: dict[str, Any] | None = None) -> Path:
    """Write the converted model as one ONNX QDQ file (input ``input`` N×3×S×S, output ``logits``, dynamic batch),
    rewritten into the layout of onnxruntime's own quantizer (:func:`resnet_opt.optimize.qdq_graph.ptq_like_qdq`:
    ReLU folded into the following QuantizeLinear where that is exact, int32 biases, GlobalAveragePool / Flatten);
    ``report`` (a dict) receives what each rewrite did."""
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
    from resnet_opt.optimize.qdq_graph import ptq_like_qdq

    try:
        stats = ptq_like_qdq(path)
    except Exception as e:  # noqa: BLE001 - onnx raises many types
        raise ExportError(f"rewriting the QAT ONNX graph into onnxruntime's QDQ layout failed: {_first_line(e)}") from e
    if report is not None:
        report.update(stats)
    return path


def _first_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return f"{type(e).__name__}: {s[0]}" if s else type(e).__name__
