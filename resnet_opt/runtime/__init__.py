"""Loading artifacts for inference: ``load(path, provider=...)`` -> a :class:`Predictor`.

Every kind registered in :data:`resnet_opt.core.manifest.KINDS` with a loader is accepted, among them

* an ONNX artifact folder (``manifest.json`` with ``kind: "onnx"``; FP32, FP16 or INT8 — the file named by
  ``manifest["file"]``), run with onnxruntime on ``cpu``, ``cuda``, ``tensorrt`` or ``auto`` (see
  :mod:`resnet_opt.engine.onnx_session` for how a GPU provider is checked to really run nodes);
* a TorchScript artifact folder (``kind: "torchscript"``), loaded with ``torch.jit.load``;
* a model folder (``config.json`` + ``model.safetensors``), loaded with :func:`resnet_opt.resnet.load_model`.

No PyTorch reference model is needed to load an artifact. Every file the manifest lists is checked against its
sha256 first, so a truncated or modified file is reported as such.
"""

from __future__ import annotations

import os

from resnet_opt.core.errors import ArtifactError, BackendUnavailableError, ConfigError
from resnet_opt.core.manifest import KINDS, Artifact, open_artifact
from resnet_opt.engine.onnx_session import (
    ORT_NAMES, PROVIDERS, OnnxSession, ProviderFallbackWarning, check_provider_name,
)
from resnet_opt.runtime.predictor import OnnxPredictor, Prediction, Predictor, TorchPredictor


RUNTIME_PROVIDERS = (*PROVIDERS, "openvino")  # openvino: OpenVINO's CPU plugin (optional extra) for onnx/openvino


def check_runtime_provider(provider: str) -> str:
    """A provider name for ``load``/``eval``/``predict``: onnxruntime's (cpu, cuda, tensorrt, auto) or ``openvino``."""
    p = str(provider).strip().lower()
    return p if p == "openvino" else check_provider_name(provider)


_EP_NAMES = {"cpu": "CPU", "cuda": "CUDA", "tensorrt": "TensorRT"}


def runtime_name(kind: str, provider: str = "cpu") -> str:
    """The runtime that runs an artifact of ``kind`` on ``provider`` (what really ran, not what was asked), in
    words: ``onnxruntime CPU``, ``onnxruntime TensorRT``, ``OpenVINO CPU``, ``PyTorch CPU``. INT8 kernels differ
    between these, so an INT8 artifact's top-1 on one need not be its top-1 on another."""
    p = str(provider or "cpu").lower()
    family = KINDS[kind].family if kind in KINDS else kind  # a registered kind runs as its backend family
    if p == "openvino" or family == "openvino":
        return "OpenVINO CPU"
    if family == "onnx":
        return f"onnxruntime {_EP_NAMES.get(p, p)}"
    return f"PyTorch {_EP_NAMES.get(p, p.upper())}"


def load(path: str | os.PathLike, provider: str = "cpu", *, threads: int | None = None,
         inference_precision: str | None = None) -> Predictor:
    """Load an artifact folder or model folder for inference on ``provider`` (cpu | cuda | tensorrt | auto |
    openvino). ``openvino`` runs ONNX artifacts with OpenVINO (optional extra); OpenVINO IR artifacts run with it on
    ``cpu``/``auto``/``openvino``. ``inference_precision`` (OpenVINO only): ``f32`` (default) or ``bf16``.

    The folder is opened with :func:`resnet_opt.core.manifest.open_artifact` (manifest parsed and checked, every file
    checked against its sha256), then handed to its kind's loader. A folder that records no preprocessing is
    refused: images could not be prepared for it. Raises ArtifactError (missing/corrupt artifact or manifest),
    BackendUnavailableError (an explicitly requested provider that does not work here), ConfigError (unknown
    provider). ``auto`` falls back to the CPU with a :class:`ProviderFallbackWarning`."""
    provider = check_runtime_provider(provider)
    art = open_artifact(path)
    art.require_preprocessing()
    pred = load_artifact(art, provider=provider, threads=threads, inference_precision=inference_precision)
    if pred.preprocessing.crop != pred.input_size:
        raise ArtifactError(f"{pred.path}: preprocessing crops to {pred.preprocessing.crop} px but the model input is "
                            f"{pred.input_size} px")
    return pred


def load_artifact(art: Artifact, provider: str = "cpu", *, threads: int | None = None,
                  inference_precision: str | None = None) -> Predictor:
    """The predictor of an opened artifact, through its kind's registered loader (no preprocessing requirement:
    ``eval`` brings the data spec's own). ``provider="openvino"`` runs an ONNX artifact with OpenVINO's loader."""
    provider = check_runtime_provider(provider)
    if provider == "openvino" or art.info.family == "openvino":
        if art.info.family not in ("onnx", "openvino"):
            raise BackendUnavailableError(f"the openvino provider runs ONNX and OpenVINO IR artifacts, not {art.kind} "
                                          "(export one first: resnet-opt export onnx|openvino)")
        from resnet_opt.runtime.openvino import load_openvino_artifact

        return load_openvino_artifact(art, provider=provider, threads=threads, inference_precision=inference_precision)
    if inference_precision is not None:
        raise ConfigError("inference precision hints apply to the openvino provider only")
    return art.info.load_function()(art, provider=provider, threads=threads)


__all__ = ["load", "load_artifact", "Predictor", "OnnxPredictor", "TorchPredictor", "Prediction", "OnnxSession",
           "ProviderFallbackWarning", "PROVIDERS", "RUNTIME_PROVIDERS", "ORT_NAMES", "check_provider_name",
           "check_runtime_provider", "runtime_name"]
