"""ResNet models: the family, a registry, weights loading and the model folder format."""

from resnet_opt.resnet.blocks import Add, BasicBlock, Bottleneck
from resnet_opt.resnet.flops import count_macs, count_params
from resnet_opt.resnet.io import (
    check_model_config,
    check_source_args,
    is_model_dir,
    ModelSource,
    ModelSpec,
    load_model,
    load_source,
    load_weights,
    model_from_weights,
    RANDOM_INIT_SEED,
    read_config,
    read_state_dict,
    resolve_preprocessing,
    save_model,
)
from resnet_opt.resnet.model import DEPTHS, STEMS, ArchConfig, ResNet, conv_bn_pairs, conv_widths, parse_depth, parse_stem
from resnet_opt.resnet.factory import (
    ResNetModel, get_model, list_models, resnet18, resnet34, resnet50, resnet101, resnet152,
)

__all__ = [
    "Add", "BasicBlock", "Bottleneck", "check_model_config", "check_source_args", "count_macs", "count_params",
    "is_model_dir", "load_model", "load_source", "ModelSource", "ModelSpec", "load_weights", "model_from_weights", "RANDOM_INIT_SEED",
    "read_config", "read_state_dict", "save_model", "resolve_preprocessing", "conv_bn_pairs", "DEPTHS", "ArchConfig",
    "ResNet", "ResNetModel", "conv_widths", "get_model", "list_models", "parse_depth", "parse_stem", "STEMS", "resnet18", "resnet34",
    "resnet50", "resnet101", "resnet152",
]
