"""Runtime loaders, one per artifact kind: ``fn(artifact, provider=..., threads=...) -> Predictor``.

Each kind names its loader in the kinds registry (:mod:`resnet_opt.core.manifest`); :func:`resnet_opt.runtime.load`
opens the folder with :func:`resnet_opt.core.manifest.open_artifact` and calls it."""

from __future__ import annotations

from typing import Any

import torch

from resnet_opt.core.manifest import Artifact
from resnet_opt.runtime.predictor import OnnxPredictor, Predictor, TorchPredictor

__all__ = ["load_onnx", "load_torchscript", "load_model_folder"]


def load_onnx(art: Artifact, *, provider: str = "cpu", threads: int | None = None) -> Predictor:
    return OnnxPredictor(art.path, art.model_file, art.manifest, provider, threads=threads)


def load_torchscript(art: Artifact, *, provider: str = "cpu", threads: int | None = None) -> Predictor:
    f = art.model_file
    m = art.manifest

    def load_module(device: torch.device) -> Any:
        from resnet_opt.export.common import load_ts

        return load_ts(f, map_location=device)

    return TorchPredictor(art.path, load_module, m, "torchscript", provider,
                          preprocessing=m.preprocessing, class_names=m.class_names, num_classes=m.num_classes,
                          input_size=m.input_size,
                          optimize_on_cpu=bool(m.export.optimize_for_inference_on_load))


def load_model_folder(art: Artifact, *, provider: str = "cpu", threads: int | None = None) -> Predictor:
    from resnet_opt.resnet import load_model

    model = load_model(art.path)
    m = art.manifest
    return TorchPredictor(art.path, lambda device: model.to(device), m, "model", provider,
                          preprocessing=m.preprocessing, class_names=m.class_names,
                          num_classes=model.arch.num_classes, input_size=m.input_size)
