"""OpenVINO as a runtime for our artifacts (optional: ``pip install 'resnet-opt[openvino]'``).

OpenVINO's CPU plugin reads ONNX files directly (FP32, FP16 and our INT8 QDQ artifacts: it fuses the
Quantize/Dequantize pairs into its own INT8 kernels) and its own IR (``model.xml`` + ``model.bin``, the ``openvino``
artifact kind written by ``resnet-opt export openvino``). Sessions, availability and the precision hint (always
explicit; the precision really used is read back) are in :mod:`resnet_opt.engine.openvino_session`.

:func:`load_openvino_artifact` is the one loading function: registered for the ``openvino`` kind in
:mod:`resnet_opt.core.manifest`, and used by :func:`resnet_opt.runtime.load` for ONNX artifacts with
``provider="openvino"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


from resnet_opt.core.errors import ArtifactError, BackendUnavailableError
from resnet_opt.core.manifest import Artifact, Manifest
from resnet_opt.engine.openvino_session import (  # noqa: F401 - re-exported for users of the runtime
    HINTS, KIND, OpenVINOSession, bf16_unavailable_reason, compile_model, cpu_capabilities,
    openvino_unavailable_reason, openvino_version,
)
from resnet_opt.runtime.predictor import SessionPredictor, input_size_of


class OpenVINOPredictor(SessionPredictor):
    """An ONNX or OpenVINO IR artifact run by OpenVINO on the CPU."""

    def __init__(self, path: Path, model_file: Path, manifest: Manifest, *, threads: int | None = None,
                 inference_precision: str | None = None) -> None:
        super().__init__(path, manifest, manifest.preprocessing, manifest.class_names,
                         manifest.architecture.num_classes, input_size_of(manifest), "openvino")
        self.kind = manifest.kind or KIND
        hint = inference_precision or manifest.openvino.inference_precision_hint
        self.session = OpenVINOSession(model_file, threads=threads, inference_precision=hint)
        self.provider = "openvino"
        self.ran_precision = self.session.ran_precision
        self.adopt_session_shapes()

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(openvino=self.session.info)
        return d


def load_openvino_artifact(art: Artifact, *, provider: str = "openvino", threads: int | None = None,
                           inference_precision: str | None = None) -> OpenVINOPredictor:
    """THE loading function of OpenVINO: an ``openvino`` (IR) artifact, or an ``onnx`` artifact run by OpenVINO.

    The artifact was opened with :func:`resnet_opt.core.manifest.open_artifact` (its files, the IR's ``model.bin``
    included, checked against their sha256). Raises BackendUnavailableError when OpenVINO is not installed, BF16 is
    asked for on a CPU without it, or an IR is asked to run on a GPU provider."""
    if art.kind not in ("onnx", KIND):
        raise BackendUnavailableError(f"OpenVINO runs onnx and openvino artifacts, not {art.kind}")
    p = str(provider).strip().lower()
    if p not in ("cpu", "auto", "openvino"):
        raise BackendUnavailableError(f"OpenVINO artifacts run on the CPU with OpenVINO, not on {provider}")
    m = art.manifest
    model_file = art.model_file
    if art.kind == KIND and not model_file.with_suffix(".bin").is_file():
        raise ArtifactError(f"OpenVINO IR {model_file.name} has no weights file {model_file.with_suffix('.bin').name}")
    return OpenVINOPredictor(art.path, model_file, m, threads=threads, inference_precision=inference_precision)


__all__ = ["KIND", "HINTS", "openvino_unavailable_reason", "openvino_version", "bf16_unavailable_reason",
           "cpu_capabilities", "compile_model", "OpenVINOSession", "OpenVINOPredictor", "load_openvino_artifact"]
