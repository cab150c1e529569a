"""Predictors: one interface over ONNX artifacts, TorchScript artifacts, PT2 packages (:mod:`.pt2`) and model folders.

``predictor.logits(batch)`` maps a preprocessed N×3×H×W float tensor to float32 CPU logits (what
:func:`resnet_opt.engine.evaluate` consumes); ``predictor.predict(images, top_k)`` applies the artifact's own
preprocessing to image files, PIL images or arrays and returns the top-k classes with probabilities.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from resnet_opt.engine.evaluate import run_in_fixed_batches
from resnet_opt.core.errors import ArtifactError, BackendUnavailableError, ConfigError, DataError
from resnet_opt.core.manifest import Manifest
from resnet_opt.data import Preprocessing, load_image
from resnet_opt.engine.onnx_session import ORT_NAMES, OnnxSession, ProviderFallbackWarning, check_provider_name

PREDICT_BATCH = 32


@dataclass
class Prediction:
    """Top-k result for one image."""

    source: str  # file path, or "<PIL image 0>" / "<array 0>" / "<tensor 0>"
    indices: list[int]
    probabilities: list[float]
    names: list[str] | None

    @property
    def top1(self) -> int:
        return self.indices[0]

    @property
    def top1_name(self) -> str:
        return self.names[0] if self.names else str(self.indices[0])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _array_to_pil(a: np.ndarray):
    from PIL import Image

    arr = np.asarray(a)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
        arr = np.transpose(arr, (1, 2, 0))  # CHW -> HWC
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise DataError(f"an image array must be H×W, H×W×3 or H×W×4, got shape {tuple(np.asarray(a).shape)}")
    if arr.dtype != np.uint8:
        f = arr.astype(np.float64)
        if not np.isfinite(f).all():
            raise DataError("image array holds non-finite values")
        if f.size and f.max() <= 1.0 and f.min() >= 0.0:
            f = f * 255.0  # float images in [0, 1]
        arr = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


class Predictor:
    """Common interface. Attributes:

    ``kind`` ("onnx" | "torchscript" | "pt2" | "model"), ``path``, ``manifest`` (the typed
    :class:`~resnet_opt.core.manifest.Manifest`), ``precision``,
    ``num_classes``, ``class_names`` (list or None), ``preprocessing`` (:class:`~resnet_opt.data.Preprocessing`),
    ``input_size``, ``provider`` (what really runs: cpu / cuda / tensorrt), ``requested_provider``,
    ``node_providers`` (ONNX: onnxruntime provider -> nodes it ran in the probe), ``warnings`` (fall-backs)."""

    kind = "?"

    def __init__(self, path: Path, manifest: Manifest, preprocessing: Preprocessing | dict[str, Any] | None,
                 class_names: list[str] | None, num_classes: int | None, input_size: int | None,
                 requested_provider: str) -> None:
        self.path = path
        self.manifest = manifest
        pre = Preprocessing.optional(preprocessing)
        # runtime.load refuses an artifact that records none; a predictor made without (load_artifact, used by
        # eval with a data spec and by bench on synthetic inputs) says so and uses the ImageNet V1 preset explicitly
        self.preprocessing_recorded = pre is not None
        self.preprocessing = pre if pre is not None else Preprocessing.preset("v1")
        self.input_size = int(input_size or self.preprocessing.crop)
        self.class_names = list(class_names) if class_names else None
        self.num_classes = num_classes
        self.requested_provider = requested_provider
        self.provider = "cpu"
        self.node_providers: dict[str, int] = {}
        self.warnings: list[str] = []
        self.precision = manifest.precision
        if self.class_names is not None and self.num_classes is not None and len(self.class_names) != self.num_classes:
            self.class_names = None  # inconsistent metadata: show indices rather than wrong names

    # ---------------------------------------------------------------- to implement
    def _forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- public
    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Float32 CPU logits [N, classes] of a preprocessed batch [N, 3, H, W]."""
        x = torch.as_tensor(batch)
        if x.ndim == 3:
            x = x.unsqueeze(0)
        if x.ndim != 4 or x.shape[1] != 3:
            raise DataError(f"expected a batch of shape [N, 3, H, W], got {tuple(x.shape)}")
        if x.shape[0] == 0:
            return torch.empty(0, self.num_classes or 0)
        return self._forward(x.float()).float().cpu()

    def to_tensor(self, image: Any, index: int = 0) -> tuple[torch.Tensor, str]:
        """Apply the artifact's preprocessing to one image: a path, a PIL image, a numpy array (H×W, H×W×C in uint8
        or float in [0, 1]) or a torch tensor (taken as already preprocessed, 3×H×W)."""
        from PIL import Image

        if isinstance(image, (str, os.PathLike)):
            return load_image(image, self.preprocessing), str(image)
        if isinstance(image, Image.Image):
            return self.preprocessing.transform()(image), f"<PIL image {index}>"
        if isinstance(image, torch.Tensor):
            t = image.detach().float().cpu()
            if t.ndim != 3 or t.shape[0] != 3:
                raise DataError(f"a tensor image must be preprocessed 3×H×W, got shape {tuple(t.shape)}")
            return t, f"<tensor {index}>"
        if isinstance(image, np.ndarray):
            return self.preprocessing.transform()(_array_to_pil(image)), f"<array {index}>"
        raise DataError(f"cannot read an image from {type(image).__name__}; give a path, PIL image or array")

    def predict(self, images: Any, top_k: int = 5) -> list[Prediction]:
        """Top-``top_k`` classes (indices, softmax probabilities, names when known) for each image."""
        if not isinstance(top_k, int) or top_k < 1:
            raise ConfigError(f"top-k must be a positive integer, got {top_k!r}")
        if isinstance(images, (str, os.PathLike, np.ndarray, torch.Tensor)) or hasattr(images, "getpixel"):
            items: Sequence[Any] = [images]
        else:
            items = list(images) if isinstance(images, Iterable) else [images]
        if not items:
            return []
        out: list[Prediction] = []
        for start in range(0, len(items), PREDICT_BATCH):
            pairs = [self.to_tensor(im, start + i) for i, im in enumerate(items[start:start + PREDICT_BATCH])]
            shapes = {tuple(t.shape) for t, _ in pairs}
            if len(shapes) > 1:
                raise DataError(f"preprocessed images have different shapes {sorted(shapes)}")
            probs = torch.softmax(self.logits(torch.stack([t for t, _ in pairs])), dim=1)
            k = min(top_k, probs.shape[1])
            p, idx = probs.topk(k, dim=1)
            for (_, src), pi, ii in zip(pairs, p.tolist(), idx.tolist()):
                names = [self.class_names[i] for i in ii] if self.class_names else None
                out.append(Prediction(source=src, indices=ii, probabilities=pi, names=names))
        return out

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "kind": self.kind, "precision": self.precision,
                "num_classes": self.num_classes, "input_size": self.input_size,
                "requested_provider": self.requested_provider, "provider": self.provider,
                "node_providers": self.node_providers, "warnings": self.warnings}

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.logits(batch)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.precision} {self.path} on {self.provider}>"


class SessionPredictor(Predictor):
    """A predictor over an inference session with ``run(x)``, ``input_shape``, ``output_shape`` and ``static_batch``
    (onnxruntime, OpenVINO): the session's shapes are checked against the manifest and decide the input size."""

    session: Any

    def adopt_session_shapes(self) -> None:
        shp, oshp = list(self.session.input_shape), list(self.session.output_shape)
        out_c = oshp[1] if len(oshp) == 2 and isinstance(oshp[1], int) and oshp[1] > 0 else None
        if out_c is not None:
            if self.num_classes is not None and self.num_classes != out_c:
                raise ArtifactError(f"manifest of {self.path} says {self.num_classes} classes but the model outputs "
                                    f"{out_c}")
            self.num_classes = out_c
        if len(shp) == 4 and isinstance(shp[-1], int) and shp[-1] > 0:
            self.input_size = int(shp[-1])
        self.static_batch = self.session.static_batch

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        bs = self.static_batch
        if bs is None:
            return self.session.run(x)
        return run_in_fixed_batches(self.session.run, x, bs)  # a static batch axis: fixed-size, padded chunks


class OnnxPredictor(SessionPredictor):
    kind = "onnx"

    def __init__(self, path: Path, model_file: Path, manifest: Manifest, provider: str,
                 threads: int | None = None) -> None:
        super().__init__(path, manifest, manifest.preprocessing, manifest.class_names,
                         manifest.architecture.num_classes, input_size_of(manifest), provider)
        self.session = OnnxSession(model_file, provider=provider, threads=threads, name=str(model_file))
        self.provider = self.session.provider
        self.node_providers = self.session.node_providers
        self.warnings = list(self.session.warnings)
        self.adopt_session_shapes()


class TorchPredictor(Predictor):
    """TorchScript artifacts (``torch.jit.load``) and model folders (``resnet.load_model``).

    ``load_module(device)`` is called once the device is settled (cpu, or cuda when torch sees a GPU), so a frozen
    TorchScript module is loaded with ``map_location`` onto it (``.to()`` would not move its inlined constants)."""

    def __init__(self, path: Path, load_module: Callable[[torch.device], Any], manifest: Manifest, kind: str,
                 provider: str, *,
                 preprocessing: Preprocessing | None, class_names: list[str] | None, num_classes: int | None,
                 input_size: int | None, optimize_on_cpu: bool = False) -> None:
        super().__init__(path, manifest, preprocessing, class_names, num_classes, input_size, provider)
        self.kind = kind
        p = check_provider_name(provider)
        if p == "tensorrt":
            raise BackendUnavailableError(f"the TensorRT provider applies to ONNX artifacts, not {kind} (use cpu or cuda)")
        cuda_ok = torch.cuda.is_available()
        if p == "cuda" and not cuda_ok:
            raise BackendUnavailableError("CUDA is not available to torch here (no GPU or no CUDA build)")
        if p == "auto":
            if cuda_ok:
                p = "cuda"
            else:
                msg = "provider auto: CUDA is not available to torch here; falling back to the CPU"
                self.warnings.append(msg)
                warnings.warn(msg, ProviderFallbackWarning, stacklevel=3)
                p = "cpu"
        self.device = torch.device("cuda" if p == "cuda" else "cpu")
        self.module = load_module(self.device)  # loaded straight onto the device (frozen constants included)
        self.module.eval()
        self.optimized = False
        if optimize_on_cpu and self.device.type == "cpu":
            # recorded at export when optimize_for_inference was faster on the exporting CPU (it cannot be saved)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.module = torch.jit.optimize_for_inference(self.module)
            self.optimized = True
        self.provider = p

    @torch.no_grad()
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.to(self.device))


def input_size_of(manifest: Manifest) -> int | None:
    """H (= W) of the manifest's input shape [N, 3, H, W], or None."""
    shape = manifest.input.shape if manifest.input is not None else None
    if shape is not None and len(shape) == 4 and shape[-1] > 0:
        return int(shape[-1])
    return None



__all__ = ["Prediction", "Predictor", "SessionPredictor", "OnnxPredictor", "TorchPredictor", "ORT_NAMES", "input_size_of"]
