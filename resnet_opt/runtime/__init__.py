"""Loading artifacts for inference: ``load(path, provider=...)`` -> a :class:`Predictor`.

Accepts

* an ONNX artifact folder (``manifest.json`` with ``kind: "onnx"``; FP32, FP16 or INT8 — the file named by
  ``manifest["file"]``), run with onnxruntime on ``cpu``, ``cuda``, ``tensorrt`` or ``auto`` (see
  :mod:`resnet_opt.runtime.onnx_session` for how a GPU provider is checked to really run nodes);
* a TorchScript artifact folder (``kind: "torchscript"``), loaded with ``torch.jit.load``;
* a model folder (``config.json`` + ``model.safetensors``), loaded with :func:`resnet_opt.resnet.load_model`.

No PyTorch reference model is needed to load an artifact. When the manifest records ``file_sha256`` the model file is
checked against it first, so a truncated or modified file is reported as such.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from resnet_opt.core.artifact import MANIFEST_NAME, read_manifest, sha256_file
from resnet_opt.core.errors import ArtifactError, BackendUnavailableError
from resnet_opt.runtime.onnx_session import (
    ORT_NAMES, PROVIDERS, OnnxSession, ProviderFallbackWarning, check_provider_name,
)
from resnet_opt.runtime.predictor import OnnxPredictor, Prediction, Predictor, TorchPredictor

KINDS = ("onnx", "torchscript", "openvino")
RUNTIME_PROVIDERS = (*PROVIDERS, "openvino")  # openvino: OpenVINO's CPU plugin (optional extra) for onnx/openvino


def _model_file(folder: Path, manifest: dict[str, Any]) -> Path:
    name = manifest.get("file")
    if not isinstance(name, str) or not name:
        raise ArtifactError(f"{folder / MANIFEST_NAME} does not name the model file ('file')")
    f = folder / name
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise ArtifactError(f"{folder / MANIFEST_NAME} names a model file outside the folder: {name!r}")
    if not f.is_file():
        raise ArtifactError(f"artifact folder {folder} is missing its model file {name}")
    if f.stat().st_size == 0:
        raise ArtifactError(f"model file {f} is empty")
    expected = manifest.get("file_sha256")
    if isinstance(expected, str) and expected:
        got = sha256_file(f)
        if got != expected:
            raise ArtifactError(f"model file {f} does not match the sha256 in its manifest (modified or truncated; "
                                f"expected {expected[:12]}…, got {got[:12]}…)")
    return f


def _check_preprocessing(pred: Predictor) -> Predictor:
    crop = pred.preprocessing.crop
    if crop != pred.input_size:
        raise ArtifactError(f"{pred.path}: preprocessing crops to {crop} px but the model input is {pred.input_size} px")
    return pred


def load(path: str | os.PathLike, provider: str = "cpu", *, threads: int | None = None,
         inference_precision: str | None = None) -> Predictor:
    """Load an artifact folder or model folder for inference on ``provider`` (cpu | cuda | tensorrt | auto |
    openvino). ``openvino`` runs ONNX artifacts with OpenVINO; ``openvino`` (IR) artifacts always run with it (on
    ``cpu``/``auto``/``openvino``). ``inference_precision`` (OpenVINO only): ``f32`` (default) or ``bf16``.

    Raises ArtifactError (missing/corrupt artifact or manifest), BackendUnavailableError (an explicitly requested
    provider that does not work here), ConfigError (unknown provider). ``auto`` falls back to the CPU with a
    :class:`ProviderFallbackWarning`."""
    p = Path(path)
    provider = str(provider).strip().lower()
    if provider != "openvino":
        provider = check_provider_name(provider)
    if inference_precision is not None and provider != "openvino":
        from resnet_opt.core.errors import ConfigError

        raise ConfigError("inference precision hints apply to the openvino provider only")
    if not p.exists():
        raise ArtifactError(f"artifact {p} does not exist")
    if p.is_file():
        raise ArtifactError(f"{p} is a file; pass the artifact folder that holds it and {MANIFEST_NAME}")
    from resnet_opt.resnet import is_model_dir

    if is_model_dir(p) and not (p / MANIFEST_NAME).is_file():
        if provider == "openvino":
            raise BackendUnavailableError("the openvino provider runs ONNX and OpenVINO IR artifacts, not model "
                                          "folders (export one first: resnet-opt export onnx|openvino)")
        return _load_model_dir(p, provider)
    manifest = read_manifest(p)
    kind = manifest.get("kind")
    if kind not in KINDS:
        raise ArtifactError(f"{p / MANIFEST_NAME} has unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    f = _model_file(p, manifest)
    if kind == "openvino" or provider == "openvino":
        if kind == "openvino" and provider not in ("cpu", "auto", "openvino"):
            raise BackendUnavailableError(f"OpenVINO IR artifacts run on the CPU with OpenVINO, not on {provider}")
        if kind == "torchscript":
            raise BackendUnavailableError("the openvino provider runs ONNX and OpenVINO IR artifacts, not torchscript")
        from resnet_opt.runtime.openvino import load_openvino

        return _check_preprocessing(load_openvino(p, f, manifest, threads=threads,
                                                  inference_precision=inference_precision))
    if kind == "onnx":
        return _check_preprocessing(OnnxPredictor(p, f, manifest, provider, threads=threads))
    return _check_preprocessing(_load_torchscript(p, f, manifest, provider))


def _load_torchscript(folder: Path, f: Path, manifest: dict[str, Any], provider: str) -> Predictor:
    import warnings

    import torch

    def load_module(device: torch.device) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
                return torch.jit.load(str(f), map_location=device)
        except Exception as e:  # noqa: BLE001 - torch raises RuntimeError and others for corrupt archives
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ArtifactError(f"{f} is not a loadable TorchScript file: {msg.split('. ')[0]}") from e

    arch = manifest.get("architecture") or {}
    export = manifest.get("export") or {}
    from resnet_opt.runtime.predictor import _input_size

    return TorchPredictor(folder, load_module, manifest, "torchscript", provider,
                          preprocessing=manifest.get("preprocessing"), class_names=manifest.get("class_names"),
                          num_classes=arch.get("num_classes"), input_size=_input_size(manifest),
                          optimize_on_cpu=bool(export.get("optimize_for_inference_on_load")))


def _load_model_dir(folder: Path, provider: str) -> Predictor:
    from resnet_opt.resnet import load_model, read_config

    cfg = dict(read_config(folder))
    model = load_model(folder)
    cfg.setdefault("precision", "fp32")
    return TorchPredictor(folder, lambda device: model.to(device), cfg, "model", provider,
                          preprocessing=cfg.get("preprocessing"), class_names=cfg.get("class_names"),
                          num_classes=int(cfg["num_classes"]), input_size=cfg.get("input_size"))


__all__ = ["load", "Predictor", "OnnxPredictor", "TorchPredictor", "Prediction", "OnnxSession",
           "ProviderFallbackWarning", "PROVIDERS", "RUNTIME_PROVIDERS", "ORT_NAMES", "check_provider_name"]
