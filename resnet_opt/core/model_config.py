"""The model folder's ``config.json`` (what ``train``, ``save_model``, ``fuse`` and ``prune`` write), read and checked in
ONE place: :func:`read_config` for the model code (resnet.io re-exports it) and the artifact opener
(:func:`resnet_opt.core.manifest.open_artifact`), which builds a model folder's manifest from the checked config.

The ResNet depths and stems a config may name live here too (resnet.model builds them), so the checks need no model
code."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from resnet_opt.core.checks import INPUT_SIZE_MAX, INPUT_SIZE_MIN, MAX_CLASSES
from resnet_opt.core.errors import ArtifactError, ModelFormatError, ResNetOptError, UnsupportedDepthError
from resnet_opt.core.preprocessing import Preprocessing, PreprocessingError

__all__ = ["MODEL_CONFIG_NAME", "MODEL_WEIGHTS_NAME", "MODEL_FORMAT", "MODEL_DEPTHS", "STEMS", "ModelConfigError",
           "parse_depth", "read_config", "check_model_config"]

MODEL_CONFIG_NAME = "config.json"
MODEL_WEIGHTS_NAME = "model.safetensors"
MODEL_FORMAT = "resnet-opt-model"
CONFIG_NAME, WEIGHTS_NAME = MODEL_CONFIG_NAME, MODEL_WEIGHTS_NAME
MODEL_DEPTHS = (18, 34, 50, 101, 152)
# the stem: "imagenet" is torchvision's (7x7 stride-2 conv + 3x3 stride-2 max pool), "small" the small-image stem
STEMS = ("imagenet", "small")


class ModelConfigError(ModelFormatError, ArtifactError):
    """A model folder's config.json refused by :func:`check_model_config` while the folder was opened as an artifact
    (both a model-format and an artifact error, so either vocabulary catches it)."""


def parse_depth(depth_or_name: int | str) -> int:
    """Accept 50, "50", "resnet50", "ResNet-50"; raise a typed error listing valid depths otherwise."""
    s = str(depth_or_name).strip().lower().replace("-", "").replace("_", "")
    if s.startswith("resnet"):
        s = s[len("resnet"):]
    try:
        d = int(s)
    except ValueError:
        d = -1
    if d not in MODEL_DEPTHS:
        valid = ", ".join(str(k) for k in MODEL_DEPTHS)
        raise UnsupportedDepthError(f"unsupported ResNet depth {depth_or_name!r}; valid depths: {valid}")
    return d


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check the config.json of model folder ``path`` (a typed ModelFormatError naming the problem)."""
    p = Path(path)
    if not p.exists():
        raise ModelFormatError(f"model folder {p} does not exist")
    if not p.is_dir():
        raise ModelFormatError(f"{p} is not a model folder (expected a folder with {CONFIG_NAME} and {WEIGHTS_NAME})")
    cfg_path = p / CONFIG_NAME
    if not cfg_path.is_file():
        raise ModelFormatError(f"model folder {p} has no {CONFIG_NAME}")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ModelFormatError(f"{cfg_path} is not valid JSON: {e}") from e
    except OSError as e:
        raise ModelFormatError(f"cannot read {cfg_path}: {e.strerror or e}") from e
    check_model_config(cfg, cfg_path)
    return cfg


def check_model_config(cfg: Any, where: str | os.PathLike = CONFIG_NAME) -> None:
    """Every field of a model config that is used later, checked for type and range (a typed error naming it):
    the one set of checks of config.json, for :func:`read_config` and for the opener of a model folder."""
    if not isinstance(cfg, dict) or cfg.get("format") != MODEL_FORMAT:
        raise ModelFormatError(f"{where} is not a resnet-opt model config")
    for key in ("depth", "num_classes"):
        if key not in cfg:
            raise ModelFormatError(f"{where} lacks '{key}'")

    def bad(field: str, why: str) -> ModelFormatError:
        return ModelFormatError(f"{where}: field '{field}' {why}, got {cfg.get(field)!r}"[:300])

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    try:
        parse_depth(cfg["depth"]) if is_int(cfg["depth"]) or isinstance(cfg["depth"], str) else parse_depth("x")
    except ResNetOptError:
        raise bad("depth", f"must be one of {', '.join(str(d) for d in MODEL_DEPTHS)}") from None
    if not is_int(cfg["num_classes"]) or not 1 <= cfg["num_classes"] <= MAX_CLASSES:
        raise bad("num_classes", f"must be an integer in 1..{MAX_CLASSES}")
    if cfg.get("input_size") is not None and (not is_int(cfg["input_size"])
                                              or not INPUT_SIZE_MIN <= cfg["input_size"] <= INPUT_SIZE_MAX):
        raise bad("input_size", f"must be an integer in {INPUT_SIZE_MIN}..{INPUT_SIZE_MAX}")
    widths = cfg.get("widths")
    if widths is not None and (not isinstance(widths, dict) or not all(
            isinstance(k, str) and is_int(v) and 1 <= v <= 65536 for k, v in widths.items())):
        raise bad("widths", "must map layer names to channel counts 1..65536")
    names = cfg.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)
                              or len(names) != cfg["num_classes"]):
        raise bad("class_names", f"must be a list of {cfg['num_classes']} strings")
    if not isinstance(cfg.get("fused", False), bool):
        raise bad("fused", "must be true or false")
    if cfg.get("stem", "imagenet") not in STEMS:
        raise bad("stem", f"must be one of {', '.join(STEMS)}")
    pre = cfg.get("preprocessing")
    if pre:
        try:
            Preprocessing.from_dict(pre)
        except PreprocessingError as e:
            raise ModelFormatError(f"{where}: field 'preprocessing': {e}") from None
    if cfg.get("data") is not None and not isinstance(cfg["data"], str):
        raise bad("data", "must be a data spec string")
