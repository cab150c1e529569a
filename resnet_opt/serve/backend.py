"""The Triton Python-backend models of a resnet-opt repository (``export triton --backend python``, what
``resnet-opt serve`` runs). The repository's ``model.py`` files import these classes inside Triton's Python backend
stub; nothing in resnet-opt imports this module.

* :class:`TensorModel` (model ``NAME``): preprocessed FP32 tensors ``[N, 3, H, W]``, named as the artifact's manifest
  says, in; logits ``[N, classes]`` out. The artifact (``NAME/1/artifact``) is opened with
  :func:`resnet_opt.runtime.load` — the checked opener: manifest parsed, every file against its sha256, no pickle.
* :class:`ImageModel` (model ``NAME-images``): encoded images (BYTES ``[N, 1]``) in; decoded and preprocessed exactly
  as ``resnet-opt predict`` does (the manifest's preprocessing), run through ``NAME`` with a BLS request (so both
  models share NAME's instances and dynamic batcher), and returned as top-k ``labels`` / ``scores`` (softmax) /
  ``indices``.

Every request is checked (input present, data type, shape, batch size, finite values, decodable images) and a bad
one gets an error response naming what is wrong — ``INVALID_ARG`` for the client's mistakes, ``INTERNAL`` for the
model's — while the other requests of the same batch are served and the model stays loaded.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

MAX_IMAGE_BYTES = 64 * 1024 * 1024  # one encoded image; larger ones are refused before decoding


class RequestError(ValueError):
    """A request the client got wrong (answered with INVALID_ARG)."""


def _pb() -> Any:
    import triton_python_backend_utils as pb_utils  # only inside Triton's Python backend stub

    return pb_utils


def _error(message: str, invalid: bool = True) -> Any:
    pb = _pb()
    code = getattr(pb.TritonError, "INVALID_ARG" if invalid else "INTERNAL", None)
    try:
        return pb.TritonError(message, code) if code is not None else pb.TritonError(message)
    except TypeError:  # an older stub without error codes
        return pb.TritonError(message)


def _error_response(message: str, invalid: bool = True) -> Any:
    return _pb().InferenceResponse(output_tensors=[], error=_error(message, invalid))


def _params(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    cfg = json.loads(args["model_config"])
    return cfg, {k: str((v or {}).get("string_value", "")) for k, v in (cfg.get("parameters") or {}).items()}


def _check_numpy() -> None:
    major = int(np.__version__.split(".")[0])
    if major >= 2:
        raise RuntimeError(f"numpy {np.__version__} is installed where Triton's Python backend runs; Triton 2.51's "
                           "Python backend needs numpy<2 (with numpy 2 it returns empty output tensors): "
                           "pip install 'numpy<2' (resnet-opt[serve] does)")


def _one_line(e: BaseException) -> str:
    text = re.sub(r" ?<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", " ".join(str(e).split()))
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def decode_image(data: bytes, index: int) -> Any:
    """Decode one encoded image like :func:`resnet_opt.data.preprocessing.open_image` does for a file (the same
    pixel limit, the same conversion to 8-bit L or RGB), or raise RequestError naming image ``index``."""
    from PIL import Image, UnidentifiedImageError

    from resnet_opt.core.checks import MAX_IMAGE_PIXELS
    from resnet_opt.data.preprocessing import to_standard_mode

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise RequestError(f"image {index} is not bytes ({type(data).__name__})")
    if len(data) == 0:
        raise RequestError(f"image {index} is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise RequestError(f"image {index} is {len(data):,} bytes, over the limit of {MAX_IMAGE_BYTES:,}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data))) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise RequestError(f"image {index} is {w}x{h} = {w * h:,} pixels, over the limit of "
                                       f"{MAX_IMAGE_PIXELS:,} (a decompression bomb?)")
                if w < 1 or h < 1:
                    raise RequestError(f"image {index} is empty ({w}x{h})")
                im.load()
                return to_standard_mode(im)
    except RequestError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise RequestError(f"image {index} is over Pillow's pixel limit (a decompression bomb?): {e}") from e
    except UnidentifiedImageError as e:
        raise RequestError(f"image {index} is not a readable image: not in a format Pillow can identify (send the "
                           "bytes of a PNG, JPEG, ... file)") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise RequestError(f"image {index} is not a readable image (corrupt or truncated?): "
                           f"{_one_line(e)[:160]}") from e
    except Exception as e:  # noqa: BLE001 - a Pillow plugin raising something else on hostile bytes
        raise RequestError(f"image {index} could not be decoded: {_one_line(e)[:160]}") from e


class TensorModel:
    """``NAME``: FP32 tensors in, logits out (see the module doc)."""

    def initialize(self, args: dict[str, Any]) -> None:
        _check_numpy()
        from resnet_opt.runtime import load

        cfg, params = _params(args)
        self.name = cfg["name"]
        self.max_batch = int(cfg.get("max_batch_size", 0))
        inp, out = cfg["input"][0], cfg["output"][0]
        self.input_name, self.output_name = inp["name"], out["name"]
        self.dims = [int(d) for d in inp["dims"]]
        threads = int(params["threads"]) if params.get("threads") else None
        folder = Path(args["model_repository"]) / str(args["model_version"]) / params.get("artifact", "artifact")
        self.predictor = load(folder, provider=params.get("provider") or "cpu", threads=threads)
        if [3, self.predictor.input_size, self.predictor.input_size] != self.dims:
            raise RuntimeError(f"{folder}: the model takes {self.predictor.input_size} px inputs but config.pbtxt "
                               f"says dims {self.dims}")
        self.classes = int(out["dims"][0])

    def check(self, request: Any) -> np.ndarray:
        """The request's input as a float32 array [n, 3, H, W], or RequestError."""
        pb = _pb()
        t = pb.get_input_tensor_by_name(request, self.input_name)
        if t is None:
            raise RequestError(f"model '{self.name}' takes one input named '{self.input_name}'")
        x = t.as_numpy()
        if x.dtype != np.float32:
            raise RequestError(f"input '{self.input_name}' must be FP32, got {x.dtype}")
        if x.ndim != 1 + len(self.dims) or list(x.shape[1:]) != self.dims:
            raise RequestError(f"input '{self.input_name}' must have shape [N, {', '.join(map(str, self.dims))}], got "
                               f"{list(x.shape)}")
        if x.shape[0] == 0:
            raise RequestError(f"input '{self.input_name}' is an empty batch (N = 0)")
        if self.max_batch and x.shape[0] > self.max_batch:
            raise RequestError(f"batch of {x.shape[0]} is over the max batch size {self.max_batch}")
        if not np.isfinite(x).all():
            raise RequestError(f"input '{self.input_name}' holds NaN or infinite values")
        return x

    def logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return np.ascontiguousarray(self.predictor.logits(torch.from_numpy(np.ascontiguousarray(x))).numpy(),
                                        dtype=np.float32)

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = _pb()
        responses: list[Any] = [None] * len(requests)
        good: list[tuple[int, np.ndarray]] = []
        for i, r in enumerate(requests):
            try:
                good.append((i, self.check(r)))
            except RequestError as e:
                responses[i] = _error_response(str(e))
        if good:
            try:
                y = self.logits(np.concatenate([x for _, x in good]) if len(good) > 1 else good[0][1])
                if y.shape != (sum(x.shape[0] for _, x in good), self.classes):
                    raise RuntimeError(f"the model returned logits of shape {list(y.shape)}")
            except Exception as e:  # noqa: BLE001 - the model failed: an error response, the model stays loaded
                for i, _ in good:
                    responses[i] = _error_response(f"model '{self.name}' failed: {_one_line(e)[:300]}", invalid=False)
            else:
                start = 0
                for i, x in good:
                    n = x.shape[0]
                    responses[i] = pb.InferenceResponse(output_tensors=[
                        pb.Tensor(self.output_name, np.ascontiguousarray(y[start:start + n]))])
                    start += n
        return responses

    def finalize(self) -> None:
        self.predictor = None


class ImageModel:
    """``NAME-images``: encoded images in, top-k labels / scores / indices out, through ``NAME`` (module doc)."""

    def initialize(self, args: dict[str, Any]) -> None:
        _check_numpy()
        from resnet_opt.core.manifest import open_artifact
        from resnet_opt.data import Preprocessing

        cfg, params = _params(args)
        self.name = cfg["name"]
        self.max_batch = int(cfg.get("max_batch_size", 0))
        self.tensor_model = params["tensor_model"]
        self.k = int(params.get("top_k") or 5)
        folder = (Path(args["model_repository"]) / str(args["model_version"]) / params["artifact"]).resolve()
        art = open_artifact(folder)  # the tensor model's artifact: its preprocessing, tensor names, class names
        m = art.manifest
        self.preprocessing = Preprocessing.from_dict(art.require_preprocessing())
        self.transform = self.preprocessing.transform()
        self.input_name = m.input.name if m.input is not None else "input"
        self.output_name = m.output.name if m.output is not None else "logits"
        classes = m.num_classes or 0
        self.class_names = list(m.class_names) if m.class_names and len(m.class_names) == classes else None
        self.k = max(1, min(self.k, classes or self.k))

    def tensors(self, request: Any) -> np.ndarray:
        """The request's images, decoded and preprocessed: float32 [n, 3, H, W], or RequestError."""
        import torch

        pb = _pb()
        t = pb.get_input_tensor_by_name(request, "image")
        if t is None:
            raise RequestError(f"model '{self.name}' takes one input named 'image' (BYTES, shape [N, 1])")
        a = t.as_numpy()
        if a.dtype != np.object_:
            raise RequestError(f"input 'image' must be BYTES (encoded image files), got {a.dtype}")
        if a.ndim != 2 or a.shape[1] != 1:
            raise RequestError(f"input 'image' must have shape [N, 1], got {list(a.shape)}")
        if a.shape[0] == 0:
            raise RequestError("input 'image' is an empty batch (N = 0)")
        if self.max_batch and a.shape[0] > self.max_batch:
            raise RequestError(f"batch of {a.shape[0]} is over the max batch size {self.max_batch}")
        out = []
        for j in range(a.shape[0]):
            img = decode_image(a[j, 0], j)
            try:
                out.append(self.transform(img))
            except Exception as e:  # noqa: BLE001 - a decoded image the transform cannot use
                raise RequestError(f"image {j} could not be preprocessed: {_one_line(e)[:160]}") from e
        with torch.no_grad():
            return torch.stack(out).numpy().astype(np.float32, copy=False)

    def run_tensor_model(self, x: np.ndarray) -> np.ndarray:
        pb = _pb()
        req = pb.InferenceRequest(model_name=self.tensor_model, requested_output_names=[self.output_name],
                                  inputs=[pb.Tensor(self.input_name, np.ascontiguousarray(x))])
        resp = req.exec()
        if resp.has_error():
            raise RuntimeError(f"model '{self.tensor_model}' answered: {resp.error().message()}")
        y = pb.get_output_tensor_by_name(resp, self.output_name)
        if y is None:
            raise RuntimeError(f"model '{self.tensor_model}' returned no '{self.output_name}'")
        return y.as_numpy()

    def execute(self, requests: list[Any]) -> list[Any]:
        import torch

        pb = _pb()
        responses: list[Any] = [None] * len(requests)
        good: list[tuple[int, np.ndarray]] = []
        for i, r in enumerate(requests):
            try:
                good.append((i, self.tensors(r)))
            except RequestError as e:
                responses[i] = _error_response(str(e))
        if not good:
            return responses
        try:
            logits = self.run_tensor_model(np.concatenate([x for _, x in good]) if len(good) > 1 else good[0][1])
            probs = torch.softmax(torch.from_numpy(np.asarray(logits, dtype=np.float32)), dim=1)
            p, idx = probs.topk(min(self.k, probs.shape[1]), dim=1)
            p_np, idx_np = p.numpy().astype(np.float32), idx.numpy().astype(np.int64)
        except Exception as e:  # noqa: BLE001
            for i, _ in good:
                responses[i] = _error_response(f"model '{self.name}' failed: {_one_line(e)[:300]}", invalid=False)
            return responses
        names = self.class_names
        start = 0
        for i, x in good:
            n = x.shape[0]
            ii = idx_np[start:start + n]
            labels = np.array([[(names[c] if names else str(c)).encode() for c in row] for row in ii], dtype=np.object_)
            responses[i] = pb.InferenceResponse(output_tensors=[
                pb.Tensor("labels", labels), pb.Tensor("scores", np.ascontiguousarray(p_np[start:start + n])),
                pb.Tensor("indices", np.ascontiguousarray(ii))])
            start += n
        return responses

    def finalize(self) -> None:
        self.transform = None
