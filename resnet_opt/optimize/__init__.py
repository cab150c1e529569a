"""Optimize: transforms of a model (pruning, fusion, quantization) or of an ONNX file.

Builds only on resnet_opt.core and the bottom layer (resnet, data, engine); never imports export."""

from resnet_opt.optimize.prune import (
    IMPORTANCES, PruneResult, parse_macs, prunable_layer_names, prune, rebuild_resnet, resolve_ignored_layers,
)
from resnet_opt.optimize.fuse import fuse_bn, fuse_for_eager_quantization, strip_identities
from resnet_opt.optimize.quantize_onnx import (
    METHODS, OnnxQuantConfig, TypeChoice, choose_quant_types, gate_accuracy, quantize_onnx, rank_sensitivity,
)
from resnet_opt.optimize.quantize_torch import TORCH_METHODS, quantize_torch, to_torchscript

__all__ = ["IMPORTANCES", "PruneResult", "parse_macs", "prunable_layer_names", "prune", "rebuild_resnet",
           "resolve_ignored_layers"]
__all__ += ["fuse_bn", "fuse_for_eager_quantization", "strip_identities"]
__all__ += ["METHODS", "OnnxQuantConfig", "TypeChoice", "choose_quant_types", "gate_accuracy", "quantize_onnx",
            "rank_sensitivity", "TORCH_METHODS", "quantize_torch", "to_torchscript"]
