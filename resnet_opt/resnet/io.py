"""Weights from local files only, and our model folder format (config.json + model.safetensors, no pickle)."""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_opt.core.artifact import atomic_dir, atomic_write_text, chmod_umask, to_json
from resnet_opt.core.errors import ConfigError, ModelFormatError, ResNetOptError, WeightsError
from resnet_opt.core.manifest import MODEL_CONFIG_NAME as CONFIG_NAME
from resnet_opt.core.manifest import MODEL_FORMAT, Source, open_artifact
from resnet_opt.core.model_config import check_model_config, read_config
from resnet_opt.core.preprocessing import Preprocessing
from resnet_opt.core.manifest import MODEL_WEIGHTS_NAME as WEIGHTS_NAME
from resnet_opt.resnet.model import DEPTHS, ResNet, conv_widths, parse_depth

RANDOM_INIT_SEED = 0  # torch seed of every random-init model (``--depth`` with no weights)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torchvision-style ``.pth``/``.pt`` (``weights_only=True``)."""
    p = Path(path)
    if not p.exists():
        raise WeightsError(f"weights file {p} does not exist")
    if p.is_dir():
        raise WeightsError(f"weights path {p} is a folder; use --model for a model folder")
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise WeightsError(f"{p} is not a readable safetensors file: {str(e).splitlines()[0]}") from e
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's pickle-protocol notes: the error below says it
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for corrupt/pickled files
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(f"{p} is not a loadable weights file (weights_only=True): {msg}") from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{p} does not hold a state dict of tensors")
    # checkpoints saved from DataParallel/DDP or torch.compile carry prefixes
    for prefix in ("module.", "_orig_mod."):
        if obj and all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


def check_state_dict(model: nn.Module, sd: dict[str, torch.Tensor], source: str = "weights") -> None:
    """Raise a WeightsError naming missing/unexpected keys and mismatching tensor shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    mismatched = [
        f"{k} {tuple(sd[k].shape)} vs expected {tuple(own[k].shape)}"
        for k in own
        if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if "fc.weight" in sd and "fc.weight" in own and sd["fc.weight"].shape[0] != own["fc.weight"].shape[0]:
        problems.append(f"class count {sd['fc.weight'].shape[0]} in {source} but the model has {own['fc.weight'].shape[0]}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es): " + "; ".join(mismatched[:4]) + (" ..." if len(mismatched) > 4 else ""))
    if missing:
        problems.append(f"{len(missing)} missing: " + ", ".join(missing[:4]) + (" ..." if len(missing) > 4 else ""))
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: " + ", ".join(unexpected[:4]) + (" ..." if len(unexpected) > 4 else ""))
    if problems:
        raise WeightsError(f"{source} do not match {getattr(getattr(model, 'arch', None), 'name', 'the model')}: " + " | ".join(problems))


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    sd = read_state_dict(path)
    check_state_dict(model, sd, source=f"weights in {Path(path).name}")
    model.load_state_dict(sd, strict=True)
    return model


def infer_depth(sd: dict[str, torch.Tensor]) -> int:
    """Guess the ResNet depth of a torchvision-layout state dict from its block counts."""
    kind = "bottleneck" if any(k.endswith("conv3.weight") for k in sd) else "basic"
    counts = []
    for stage in range(1, 5):
        idx = {int(k.split(".")[1]) for k in sd if k.startswith(f"layer{stage}.") and k.split(".")[1].isdigit()}
        counts.append(max(idx) + 1 if idx else 0)
    for d, (k, layers) in DEPTHS.items():
        if k == kind and tuple(counts) == layers:
            return d
    raise WeightsError(f"state dict does not look like a ResNet ({kind} blocks {counts})")


def _standard_widths(depth: int) -> dict[str, int]:
    return conv_widths(ResNet(depth, num_classes=1))


def nonstandard_widths(model: ResNet) -> dict[str, int]:
    std = _standard_widths(model.arch.depth)
    return {k: v for k, v in conv_widths(model).items() if std.get(k) != v}


def model_from_weights(path: str | os.PathLike, depth: int | None = None, num_classes: int | None = None) -> ResNet:
    """Build the architecture that fits a weights file (depth, classes and widths read from the tensors)."""
    sd = read_state_dict(path)
    d = depth if depth is not None else infer_depth(sd)
    n = num_classes if num_classes is not None else (int(sd["fc.weight"].shape[0]) if "fc.weight" in sd else 1000)
    widths = {k[: -len(".weight")]: int(v.shape[0]) for k, v in sd.items() if k.endswith(".weight") and v.ndim == 4}
    std = _standard_widths(d)
    widths = {k: v for k, v in widths.items() if k in std and std[k] != v}
    fused = "conv1.bias" in sd and "bn1.weight" not in sd  # a BN-folded state dict (resnet_opt.optimize.fuse_bn)
    c1 = sd.get("conv1.weight")
    stem = "small" if c1 is not None and c1.ndim == 4 and tuple(c1.shape[-2:]) == (3, 3) else "imagenet"
    try:
        model = ResNet(d, num_classes=n, widths=widths, fused=fused, stem=stem)
    except ResNetOptError as e:
        raise WeightsError(f"weights in {Path(path).name} do not fit resnet{d}: {e}") from e
    check_state_dict(model, sd, source=f"weights in {Path(path).name}")
    model.load_state_dict(sd, strict=True)
    return model


def resolve_preprocessing(preprocessing: Any, input_size: int | None = None) -> Preprocessing:
    """The preprocessing to record: a :class:`~resnet_opt.core.preprocessing.Preprocessing`, a dict, a data spec
    (``"digits"``, ``"digits:64"``) or an ImageNet preset name (``"v1"``, ``"v2"``). ``input_size``, when given,
    must equal its crop. Never guessed: None is an error naming the choices."""
    from resnet_opt.data import PRESETS, parse_data_spec, preprocessing_for

    if preprocessing is None or (isinstance(preprocessing, dict) and not preprocessing):
        raise ConfigError("the model's preprocessing must be recorded so its images are prepared the way it was "
                          "trained: pass preprocessing='digits' (or 'digits:64'), 'v1'/'v2' (ImageNet presets), "
                          "a data spec, or a resnet_opt.data.Preprocessing")
    if isinstance(preprocessing, Preprocessing):
        pre = preprocessing
    elif isinstance(preprocessing, dict):
        try:
            pre = Preprocessing.from_dict(preprocessing)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"invalid preprocessing {preprocessing!r}: {e}") from e
    elif isinstance(preprocessing, str):
        if preprocessing in PRESETS:
            pre = PRESETS[preprocessing]
        else:
            pre = preprocessing_for(parse_data_spec(preprocessing))
    else:
        raise ConfigError(f"preprocessing must be a Preprocessing, dict or spec string, got {type(preprocessing).__name__}")
    if input_size is not None and int(input_size) != pre.crop:
        raise ConfigError(f"input size {input_size} does not match the preprocessing crop {pre.crop} px")
    return pre


def save_model(
    model: ResNet,
    out: str | os.PathLike,
    *,
    preprocessing: Any = None,
    input_size: int | None = None,
    class_names: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    in_place: bool = False,
) -> Path:
    """Save ``model`` as a folder: ``config.json`` (architecture, classes, input size, preprocessing,
    per-layer widths) + ``model.safetensors``.

    ``preprocessing`` is required (see :func:`resolve_preprocessing`: ``"digits"``, ``"v1"``, a dict...), so every
    model folder can be used by ``predict``; the input size is its crop.

    Written atomically: a new folder is renamed into place when complete. ``in_place=True`` (a training run
    folder that holds other files) replaces the two files one by one, each atomically, weights first."""
    from safetensors.torch import save_file

    if not isinstance(model, ResNet):
        raise ModelFormatError(f"save_model expects a resnet_opt ResNet, got {type(model).__name__}")
    pre = resolve_preprocessing(preprocessing, input_size)
    input_size = int(pre.crop)
    if class_names is not None and len(class_names) != model.arch.num_classes:
        raise ConfigError(f"{len(class_names)} class names for a model with {model.arch.num_classes} classes")
    config = {
        "format": MODEL_FORMAT,
        "format_version": 1,
        "architecture": model.arch.name,
        "depth": model.arch.depth,
        "num_classes": model.arch.num_classes,
        "input_size": input_size,
        "preprocessing": pre.to_dict(),
        "class_names": class_names,
        "widths": nonstandard_widths(model),
        "fused": bool(getattr(model.arch, "fused", False)),
        "stem": model.arch.stem,
        "conv_widths": conv_widths(model),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if extra:
        config.update(extra)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if in_place:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tmp_w = out / f".{WEIGHTS_NAME}.tmp"
        save_file(sd, str(tmp_w), metadata={"format": "pt"})
        chmod_umask(tmp_w)
        os.replace(tmp_w, out / WEIGHTS_NAME)
        atomic_write_text(out / CONFIG_NAME, to_json(config) + "\n")
        return out
    with atomic_dir(out) as tmp:
        save_file(sd, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        chmod_umask(tmp / WEIGHTS_NAME)
        atomic_write_text(tmp / CONFIG_NAME, to_json(config) + "\n")
    return Path(out)


def check_source_args(*, depth: int | str | None = None, weights: str | os.PathLike | None = None,
                      model_dir: str | os.PathLike | None = None,
                      num_classes: int | None = None) -> dict[str, Any] | None:
    """The cheap checks of a ``--depth`` / ``--weights`` / ``--model`` source (no tensor is read): a stage's
    ``validate()`` calls it so a wrong source fails before any work."""
    if model_dir is not None and weights is not None:
        raise ConfigError("give either --weights FILE or --model DIR, not both")
    if depth is not None:
        parse_depth(depth)
    if weights is not None:
        p = Path(weights)
        if not p.exists():
            raise WeightsError(f"weights file {p} does not exist")
        if not p.is_file():
            raise WeightsError(f"weights path {p} is not a file; use --model for a model folder")
    if model_dir is not None:
        d = Path(model_dir)
        if (d / "manifest.json").is_file() and not (d / CONFIG_NAME).is_file():
            raise ModelFormatError(f"{d} is an exported artifact, not a model folder; --model takes a model folder "
                                   f"({CONFIG_NAME} + {WEIGHTS_NAME}, written by train, prune, fuse or save_model)")
        cfg = read_config(model_dir)
        if not (Path(model_dir) / WEIGHTS_NAME).is_file():
            raise ModelFormatError(f"model folder {model_dir} has no {WEIGHTS_NAME}")
        if num_classes is not None and int(num_classes) != int(cfg["num_classes"]):
            raise ConfigError(f"--num-classes {num_classes} does not match the model folder ({cfg['num_classes']} "
                              "classes); leave it out")
        return cfg
    return None


@dataclass
class ModelSpec:
    """Where a stage's model comes from, as every command gives it: ``--model DIR`` (our model folder),
    ``--weights FILE`` (torchvision ``.pth`` / ``.safetensors``, depth inferred unless given) or ``--depth`` alone
    (random initialisation: latency and agreement only), plus ``--num-classes``. Stage configs hold one; its checks
    live in :meth:`validate`, and :meth:`load` resolves it into a :class:`ModelSource`."""

    depth: int | str | None = None
    weights: str | os.PathLike | None = None
    model_dir: str | os.PathLike | None = None
    num_classes: int | None = None

    def validate(self) -> "ModelSpec":
        """The cheap checks (no tensor is read): both ``weights`` and ``model_dir``, a missing file, a depth or class
        count out of range, an exported artifact given where a model folder is expected."""
        from resnet_opt.core.checks import MAX_CLASSES, check_int

        check_int("--num-classes", self.num_classes, 1, MAX_CLASSES, optional=True)
        cfg = check_source_args(depth=self.depth, weights=self.weights, model_dir=self.model_dir,
                                num_classes=self.num_classes)
        # the model folder's config, read and checked once here, is carried to load() (not a dataclass field, so
        # a config written to JSON does not include it)
        self.__dict__["_config"] = (str(self.model_dir), cfg) if cfg is not None else None
        return self

    def model_config(self) -> dict[str, Any] | None:
        """The checked config.json of ``model_dir`` (None for weights / random init), read once per spec."""
        if self.model_dir is None:
            return None
        cached = self.__dict__.get("_config")
        if cached is None or cached[0] != str(self.model_dir):
            self.__dict__["_config"] = (str(self.model_dir), read_config(self.model_dir))
        return self.__dict__["_config"][1]

    def load(self, *, input_size: int | None = None,
             preprocessing: Preprocessing | dict[str, Any] | None = None) -> "ModelSource":
        return load_source(depth=self.depth, weights=self.weights, model_dir=self.model_dir,
                           num_classes=self.num_classes, input_size=input_size, preprocessing=preprocessing,
                           config=self.model_config())

    @property
    def is_model_dir(self) -> bool:
        return self.model_dir is not None


def is_model_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and (p / CONFIG_NAME).is_file() and (p / WEIGHTS_NAME).is_file()


def load_model(path: str | os.PathLike, *, config: dict[str, Any] | None = None) -> ResNet:
    """Rebuild a model saved by :func:`save_model` from its config (pruned widths included), no pickle.
    ``config``: the folder's config.json already read and checked by :func:`read_config` (not read again)."""
    p = Path(path)
    cfg = config if config is not None else read_config(p)
    wpath = p / WEIGHTS_NAME
    if not wpath.is_file():
        raise ModelFormatError(f"model folder {p} has no {WEIGHTS_NAME}")
    try:
        model = ResNet(int(cfg["depth"]), num_classes=int(cfg["num_classes"]), widths={k: int(v) for k, v in (cfg.get("widths") or {}).items()},
                       fused=bool(cfg.get("fused", False)), stem=cfg.get("stem", "imagenet"))
    except ResNetOptError as e:
        raise ModelFormatError(f"{p / CONFIG_NAME} describes an invalid model: {e}") from e
    sd = read_state_dict(wpath)
    check_state_dict(model, sd, source=f"weights in {wpath}")
    model.load_state_dict(sd, strict=True)
    model.eval()
    return model


@dataclass
class ModelSource:
    """A model plus what is known about where it came from (for manifests and preprocessing)."""

    model: ResNet
    kind: str  # "random" | "weights" | "model_dir"
    path: str | None
    sha256: str | None
    input_size: int
    preprocessing: Preprocessing | None  # None: a model folder that records none (never guessed)
    class_names: list[str] | None
    trained: bool  # False for random init: accuracy figures are meaningless
    config: dict[str, Any] | None = None  # a model folder's config.json, read once and checked

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "sha256": self.sha256, "architecture": self.model.arch.name,
                "num_classes": self.model.arch.num_classes, "trained": self.trained}

    def manifest_source(self) -> Source:
        """The ``source`` section of the manifests of artifacts made from this model."""
        return Source(kind=self.kind, path=self.path, sha256=self.sha256, architecture=self.model.arch.name,
                      num_classes=self.model.arch.num_classes, trained=self.trained)

    @property
    def label(self) -> str:
        """Where the model came from, in words: "model folder runs/r18", "weights file r50.pth", "random init"."""
        where = {"model_dir": "model folder", "weights": "weights file", "random": "random init"}.get(self.kind, self.kind)
        return f"{where} {self.path}" if self.path else where


def load_source(
    *,
    depth: int | str | None = None,
    weights: str | os.PathLike | None = None,
    model_dir: str | os.PathLike | None = None,
    num_classes: int | None = None,
    input_size: int | None = None,
    preprocessing: Preprocessing | dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> ModelSource:
    """Resolve the ``--depth`` / ``--weights FILE`` / ``--model DIR`` trio every command shares.

    * ``model_dir``: our folder format (its config gives preprocessing and input size; ``config``: the folder's
      config.json when the caller has already read it with :func:`read_config`);
    * ``weights``: a torchvision ``.pth`` or ``.safetensors`` (depth inferred unless given; ImageNet V1 preset);
    * only ``depth``: random initialisation (latency and agreement only — not an accuracy claim), always from
      torch seed :data:`RANDOM_INIT_SEED`, so the same ``--depth`` gives the same weights in every command and run.
    """
    from resnet_opt.core.artifact import sha256_path

    if model_dir is not None and weights is not None:
        raise ConfigError("give either --weights FILE or --model DIR, not both")
    if model_dir is not None:
        cfg = config if config is not None else read_config(model_dir)
        art = open_artifact(model_dir, config=cfg)
        if not art.info.model_input:
            raise ModelFormatError(f"{model_dir} is a {art.kind} artifact ({art.info.description}); this stage takes "
                                   "a model folder (config.json + model.safetensors: train, prune or fuse output)")
        model = load_model(model_dir, config=cfg)
        if depth is not None and parse_depth(depth) != model.arch.depth:
            raise ConfigError(f"--depth {depth} does not match the model folder ({model.arch.name})")
        pre = Preprocessing.optional(cfg.get("preprocessing"))
        if num_classes is not None and int(num_classes) != model.arch.num_classes:
            raise ConfigError(f"--num-classes {num_classes} does not match the model folder "
                              f"({model.arch.num_classes} classes); leave it out")
        size = int(input_size or cfg.get("input_size") or 224)
        return ModelSource(model, "model_dir", str(model_dir), sha256_path(Path(model_dir) / WEIGHTS_NAME), size,
                           pre.fit(size) if pre is not None else None, cfg.get("class_names"), True, cfg)
    if weights is not None:
        model = model_from_weights(weights, depth=parse_depth(depth) if depth is not None else None, num_classes=num_classes)
        model.eval()
        size = int(input_size or 224)
        return ModelSource(model, "weights", str(weights), sha256_path(weights), size,
                           fit_preprocessing(preprocessing or Preprocessing.preset("v1"), size), None, True)
    d = parse_depth(depth if depth is not None else 50)
    # the same weights on every call (so `prune --depth 50` then `quantize` gives the same artifact run after run),
    # without touching the caller's global RNG stream
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = ResNet(d, num_classes=num_classes or 1000).eval()
    size = int(input_size or 224)
    return ModelSource(model, "random", None, None, size,
                       fit_preprocessing(preprocessing or Preprocessing.preset("v1"), size),
                       None, False)


def fit_preprocessing(pre: Preprocessing | dict[str, Any], input_size: int) -> Preprocessing:
    """``pre`` with its crop set to ``input_size`` (same resize/crop ratio), so the recorded preprocessing always
    prepares images of the model's input size (a source used at another size than it was saved with)."""
    return Preprocessing.from_dict(pre).fit(input_size)
