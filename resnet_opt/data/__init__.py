"""Data: real embedded digits, ImageNet-style folders, synthetic (latency only)."""

from resnet_opt.data.datasets import (
    DataSpec,
    build_dataset,
    build_loader,
    class_names_for,
    describe_spec,
    digits_split_indices,
    fit_data_to_model,
    input_size_for,
    num_classes_for,
    parse_data_spec,
    preprocessing_for,
    report_split,
    require_labelled,
    require_split,
)
from resnet_opt.data.preprocessing import PRESETS, Preprocessing, digits_preprocessing, load_image

__all__ = [
    "DataSpec", "build_dataset", "build_loader", "class_names_for", "describe_spec", "digits_split_indices", "fit_data_to_model",
    "input_size_for", "num_classes_for", "parse_data_spec", "preprocessing_for", "report_split", "require_labelled", "require_split", "PRESETS",
    "Preprocessing", "digits_preprocessing", "load_image",
]
