"""A Triton Inference Server model repository from a resnet-opt ONNX or TorchScript artifact.

Layout written (atomically, with :func:`resnet_opt.core.artifact.atomic_dir`)::

    REPO/
      manifest.json          kind "triton-repo" (so resnet-opt recognises the folder)
      README.md              preprocessing, tensor names, the exact tritonserver / docker commands, a client
      NAME/
        config.pbtxt         platform, max_batch_size, input/output, dynamic_batching, instance_group
        labels.txt           class names, one a line (``label_filename`` of the output)
        1/
          model.onnx         platform onnxruntime_onnx   (the artifact's file, byte for byte)
          model.pt           platform pytorch_libtorch   (tensors INPUT__0 / OUTPUT__0)
          manifest.json      the artifact's own manifest ("file" renamed), so resnet-opt can still open NAME/1

Triton reads only the sub-folders of a repository (one per model) and, in a version folder, only the model file, so
the manifests and README are ignored by the server.

``TritonConfig(backend="python")`` writes the repository that ``resnet-opt serve`` runs instead (Triton's Python
backend; any artifact kind the runtime opens, model folders included)::

    REPO/
      manifest.json          kind "triton-repo", triton.backend "python"
      README.md
      NAME/                  FP32 tensors (named and shaped as the manifest says) in, logits out
        config.pbtxt         backend "python", max_batch_size, dynamic_batching, instance_group, parameters
        labels.txt
        1/
          model.py           imports resnet_opt.serve.backend.TensorModel (resnet-opt must be installed where the
                             Python backend runs)
          artifact/          the artifact folder, copied and re-checked (sha256); opened with runtime.load
      NAME-images/           encoded images (BYTES) in, top-k labels / scores / indices out; preprocesses as the
        config.pbtxt         manifest records and runs NAME through Triton (BLS), so both share NAME's batcher
        1/model.py

What is written is checked before the folder appears: config.pbtxt is parsed with Triton's own model-config schema
(``tritonclient.grpc.model_config_pb2``; the ``triton`` extra) and every field is compared with the model file beside
it, opened and run on one batch (onnxruntime for ONNX, ``torch.jit.load`` for TorchScript): tensor names, data types,
dims, the batch axis, the labels file. Without tritonclient the repository is still written, the same comparison is
made against the configuration as rendered, and a :class:`SchemaCheckSkippedWarning` says the schema parse was skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from resnet_opt.core.artifact import atomic_dir, atomic_write_text, sha256_file
from resnet_opt.core.errors import ArtifactError, ConfigError, ExportError, OutputPathError, ResNetOptWarning
from resnet_opt.core.manifest import (
    KINDS, MANIFEST_NAME, FileEntry, Manifest, Source, TensorSpec, open_artifact, write_manifest,
)
from resnet_opt.core.registry import kind_table

__all__ = [
    "TRITON_KIND", "PLATFORMS", "TritonConfig", "TensorConfig", "TritonModelConfig", "ConfigCheck", "TritonResult",
    "SchemaCheckSkippedWarning", "export_triton", "check_model_config", "parse_config_text", "render_config",
    "tritonserver_command", "docker_command", "schema_available", "BACKENDS", "PYTHON_BACKEND", "IMAGES_SUFFIX",
    "ARTIFACT_DIR", "check_python_repository",
]

TRITON_KIND = "triton-repo"
VERSION = "1"
CONFIG_NAME = "config.pbtxt"
LABELS_NAME = "labels.txt"
README_NAME = "README.md"
DEFAULT_MAX_BATCH = 32
DEFAULT_QUEUE_DELAY_US = 100
MAX_INSTANCES = 64
DOCKER_TAG = "25.12"  # a Triton release; use one whose onnxruntime / PyTorch is at least as new as the exporter's

# artifact kind -> (Triton platform, default model file name Triton looks for in the version folder): each kind's
# registered triton_platform (resnet_opt.core.kinds), a live view of the registry
PLATFORMS: Mapping[str, tuple[str, str]] = kind_table(
    lambda: {k: info.triton_platform for k, info in KINDS.items() if info.triton_platform is not None})
# the libtorch backend maps tensors by position: INPUT__0 is forward's first argument, OUTPUT__0 its result
TORCH_INPUT, TORCH_OUTPUT = "INPUT__0", "OUTPUT__0"

_NP_TO_TRITON = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "float64": "TYPE_FP64", "int64": "TYPE_INT64",
                 "int32": "TYPE_INT32", "int8": "TYPE_INT8", "uint8": "TYPE_UINT8", "bool": "TYPE_BOOL"}
_ONNX_TO_NP = {1: "float32", 10: "float16", 11: "float64", 7: "int64", 6: "int32", 3: "int8", 2: "uint8", 9: "bool"}
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

BACKENDS = ("platform", "python")  # platform: onnxruntime_onnx / pytorch_libtorch by kind; python: Triton's Python backend
PYTHON_BACKEND = "python"
IMAGES_SUFFIX = "-images"  # the image model of a Python-backend repository is NAME-images
ARTIFACT_DIR = "artifact"  # NAME/1/artifact: the artifact folder, copied
MODEL_PY = "model.py"
DEFAULT_TOP_K = 5
IMAGE_INPUT = "image"
IMAGE_OUTPUTS = ("labels", "scores", "indices")
# the Python backend classes a model.py imports (resnet_opt/serve/backend.py; run inside Triton's backend stub)
_BACKEND_CLASSES = {"tensor": "TensorModel", "images": "ImageModel"}


class SchemaCheckSkippedWarning(ResNetOptWarning):
    """tritonclient is not installed: config.pbtxt was not parsed with Triton's schema (the rest was checked)."""


# ---------------------------------------------------------------------------------------------------------- config
@dataclass
class TritonConfig:
    """Settings of the Triton export (everything but the source artifact).

    ``max_batch_size``: None picks :data:`DEFAULT_MAX_BATCH` for a model with a dynamic batch axis and 0 for a
    static-batch one; 0 means no Triton batching (dims then include the batch axis). ``preferred_batch_sizes``: None
    picks the powers of two from 4 up to ``max_batch_size`` (and ``max_batch_size`` itself)."""

    out: str | os.PathLike
    name: str | None = None
    max_batch_size: int | None = None
    preferred_batch_sizes: list[int] | None = None
    max_queue_delay_us: int = DEFAULT_QUEUE_DELAY_US
    instances: int = 1
    gpu: bool = False
    overwrite: bool = False
    # backend="python" (the repository `resnet-opt serve` runs): the fields below apply to it only
    backend: str = "platform"
    provider: str = "cpu"  # runtime provider of the model inside Triton (cpu, cuda, tensorrt, auto, openvino)
    threads: int | None = None  # intra-op threads of each model instance (None: the runtime's default)
    top_k: int = DEFAULT_TOP_K  # labels and scores NAME-images returns per image
    images_model: bool = True  # also write NAME-images (encoded images in, top-k out)
    dynamic_batching: bool = True  # False: no dynamic_batching block (each request runs on its own)
    python_path: str | None = None  # put first on sys.path of the backend stub (serve: the running resnet-opt)

    def validate(self) -> None:
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if self.backend not in BACKENDS:
            raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend == PYTHON_BACKEND:
            from resnet_opt.engine.onnx_session import check_provider_name

            if self.gpu:
                raise ConfigError("--gpu sets KIND_GPU for the onnxruntime/libtorch backends; a Python-backend model "
                                  "runs where its runtime provider says: use --provider cuda instead")
            if str(self.provider).strip().lower() != "openvino":
                check_provider_name(self.provider)
            if self.threads is not None:
                from resnet_opt.core.checks import check_threads

                check_threads(self.threads)
            if not is_int(self.top_k) or not 1 <= self.top_k <= 1000:
                raise ConfigError(f"--top-k must be between 1 and 1000, got {self.top_k!r}")
            if self.max_batch_size == 0:
                raise ConfigError("a Python-backend repository batches (it runs any batch size, static-batch "
                                  "artifacts in chunks): --max-batch-size must be 1 or more")
            if self.name is not None and isinstance(self.name, str) and len(self.name) + len(IMAGES_SUFFIX) > 128:
                raise ConfigError(f"--name must leave room for {IMAGES_SUFFIX!r} (at most {128 - len(IMAGES_SUFFIX)} "
                                  f"characters), got {len(self.name)}")
            if self.python_path is not None and (not str(self.python_path).strip()
                                                 or any(c in str(self.python_path) for c in "\n\r\0")):
                raise ConfigError(f"python path {self.python_path!r} must be one line")

        if self.name is not None and (not isinstance(self.name, str) or not _NAME_RE.match(self.name)
                                      or self.name in (".", "..")):
            raise ConfigError(f"--name must be 1-128 letters, digits, '_', '.' or '-' (not starting with '.' or "
                              f"'-'), got {self.name!r}")
        if self.max_batch_size is not None and (not is_int(self.max_batch_size) or self.max_batch_size < 0):
            raise ConfigError(f"--max-batch-size must be 0 (no batching) or more, got {self.max_batch_size}")
        if self.preferred_batch_sizes is not None:
            sizes = list(self.preferred_batch_sizes)
            if not sizes or any(not is_int(b) or b < 1 for b in sizes):
                raise ConfigError(f"preferred batch sizes must be positive integers, got {self.preferred_batch_sizes}")
            if len(set(sizes)) != len(sizes):
                raise ConfigError(f"preferred batch sizes repeat a value: {sizes}")
            if self.max_batch_size == 0:
                raise ConfigError("preferred batch sizes need batching: --max-batch-size 0 turns Triton's batching "
                                  "(and so dynamic batching) off")
            if self.max_batch_size is not None and max(sizes) > self.max_batch_size:
                raise ConfigError(f"preferred batch size {max(sizes)} is above --max-batch-size {self.max_batch_size}")
        if not is_int(self.max_queue_delay_us) or self.max_queue_delay_us < 0:
            raise ConfigError(f"--max-queue-delay-us must be 0 or more microseconds, got {self.max_queue_delay_us}")
        if not is_int(self.instances) or not 1 <= self.instances <= MAX_INSTANCES:
            raise ConfigError(f"--instances must be between 1 and {MAX_INSTANCES}, got {self.instances}")
        if str(self.out).strip() == "":
            raise ConfigError("--out must name a folder")


@dataclass
class TensorConfig:
    """One ``input`` / ``output`` entry of config.pbtxt."""

    name: str
    data_type: str  # TYPE_FP32 ...
    dims: list[int]  # without the batch axis when max_batch_size > 0; -1 = variable
    label_filename: str | None = None


@dataclass
class TritonModelConfig:
    """The fields of config.pbtxt that resnet-opt writes (rendered by :func:`render_config`)."""

    name: str
    platform: str
    max_batch_size: int
    inputs: list[TensorConfig]
    outputs: list[TensorConfig]
    preferred_batch_sizes: list[int] = field(default_factory=list)  # dynamic_batching (only when batching)
    max_queue_delay_us: int | None = None
    dynamic_batching: bool = False
    instance_kind: str = "KIND_CPU"
    instance_count: int = 1
    parameters: dict[str, str] = field(default_factory=dict)
    backend: str = ""  # "python" for a Python-backend model (platform is then "")


@dataclass
class ConfigCheck:
    """What was checked about a written model folder. ``schema``: "passed (tritonclient X)" or "skipped: why"."""

    schema: str
    checks: dict[str, str]
    schema_checked: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TritonResult:
    repo: Path
    name: str
    platform: str
    model_dir: Path  # REPO/NAME
    version_dir: Path  # REPO/NAME/1
    model_file: Path
    config_file: Path
    labels_file: Path | None
    readme: Path
    config: TritonModelConfig
    check: ConfigCheck
    source: str
    source_kind: str
    precision: str
    warnings: list[str] = field(default_factory=list)
    backend: str = "platform"
    images_name: str | None = None  # python backend: the NAME-images model
    images_config: TritonModelConfig | None = None

    @property
    def serve_command(self) -> str:
        if self.backend == PYTHON_BACKEND:
            return f"resnet-opt serve {Path(self.repo).resolve()}"
        return tritonserver_command(self.repo)

    def to_dict(self) -> dict[str, Any]:
        return {"repo": str(self.repo), "name": self.name, "platform": self.platform, "model_dir": str(self.model_dir),
                "model_file": str(self.model_file), "config_file": str(self.config_file),
                "labels_file": str(self.labels_file) if self.labels_file else None, "readme": str(self.readme),
                "config": asdict(self.config), "check": self.check.to_dict(), "source": self.source,
                "source_kind": self.source_kind, "precision": self.precision, "warnings": self.warnings,
                "serve_command": self.serve_command, "backend": self.backend,
                "images_name": self.images_name,
                "images_config": asdict(self.images_config) if self.images_config is not None else None,
                "docker_command": None if self.backend == PYTHON_BACKEND else docker_command(self.repo, gpu=(
                    self.config.instance_kind == "KIND_GPU"))}


# ---------------------------------------------------------------------------------------------------------- model
@dataclass
class _ModelIO:
    """What the model file itself declares (shapes: None = dynamic / unknown axis; None shape = unknown rank)."""

    input_names: list[str]
    output_names: list[str]
    input_dtype: str
    output_dtype: str
    input_shape: list[int | None] | None
    output_shape: list[int | None] | None


def _onnx_io(path: Path) -> _ModelIO:
    import onnx

    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError and others
        raise ArtifactError(f"{path} is not a loadable ONNX model: {str(e).strip()[:200] or type(e).__name__}") from e
    g = m.graph
    if any(i.data_location == onnx.TensorProto.EXTERNAL for i in g.initializer):
        raise ArtifactError(f"{path} keeps weights in external data files; Triton export copies one model file")
    inits = {i.name for i in g.initializer}
    ins = [i for i in g.input if i.name not in inits]
    if not ins or not g.output:
        raise ArtifactError(f"{path} has no graph input or output")

    def dtype(v: Any) -> str:
        t = v.type.tensor_type.elem_type
        if t not in _ONNX_TO_NP:
            raise ArtifactError(f"{path}: tensor {v.name!r} has an element type ({t}) Triton export does not map")
        return _ONNX_TO_NP[t]

    def shape(v: Any) -> list[int | None] | None:
        tt = v.type.tensor_type
        if not tt.HasField("shape"):
            return None
        return [int(d.dim_value) if d.HasField("dim_value") else None for d in tt.shape.dim]

    return _ModelIO([i.name for i in ins], [o.name for o in g.output], dtype(ins[0]), dtype(g.output[0]),
                    shape(ins[0]), shape(g.output[0]))


def _load_torchscript(path: Path) -> Any:
    from resnet_opt.export.common import load_ts

    return load_ts(path)


def _torchscript_io(path: Path, manifest: Manifest) -> _ModelIO:
    """TorchScript files do not declare shapes: the forward signature gives the tensor count, the manifest the input
    shape, and one run on zeros (batch 2 on a dynamic batch axis) the output shape and types."""
    import torch

    module = _load_torchscript(path)
    try:
        args = [a for a in module.forward.schema.arguments if a.name != "self"]
    except (AttributeError, RuntimeError) as e:
        raise ArtifactError(f"{path}: cannot read the TorchScript forward signature ({e})") from e
    shape = _manifest_shape(manifest, "input")
    x = torch.zeros([2 if d is None else d for d in shape], dtype=torch.float32)
    try:
        with torch.no_grad():
            y = module(x)
    except Exception as e:  # noqa: BLE001 - TorchScript raises torch.jit.Error and others
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ArtifactError(f"{path}: the TorchScript module does not run on a {list(x.shape)} input: {msg[:200]}") from e
    if not isinstance(y, torch.Tensor):
        raise ArtifactError(f"{path}: forward returns {type(y).__name__}, not one tensor (Triton export needs one output)")
    out_shape: list[int | None] = [None if shape[0] is None else int(y.shape[0])] + [int(d) for d in y.shape[1:]]
    return _ModelIO([a.name for a in args], ["output"], "float32", str(y.dtype).replace("torch.", ""),
                    shape, out_shape)


def _manifest_shape(manifest: Manifest, key: str) -> list[int | None]:
    spec: TensorSpec | None = manifest.input if key == "input" else manifest.output
    shape = spec.shape if spec is not None else None
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) for d in shape):
        raise ArtifactError(f"the artifact's manifest has no usable {key} shape ({key}.shape = {shape!r})")
    return [None if d < 0 else d for d in shape]


# ---------------------------------------------------------------------------------------------------------- artifact
@dataclass
class _Artifact:
    path: Path
    manifest: Manifest
    kind: str
    file: Path
    precision: str


def _read_artifact(path: str | os.PathLike) -> _Artifact:
    """Open the source artifact (manifest parsed, every file checked against its sha256) and check its kind."""
    p = Path(path)
    if p.is_dir() and not (p / MANIFEST_NAME).is_file() and (p / "config.json").is_file():
        raise ConfigError(f"{p} is a model folder, not an exported artifact; export it first (resnet-opt export onnx "
                          f"--model {p} --out ART) and pass the artifact")
    art = open_artifact(p)
    kind = art.kind
    if kind == TRITON_KIND:
        raise ConfigError(f"{p} is already a Triton model repository; pass the ONNX or TorchScript artifact it came "
                          "from")
    if kind not in PLATFORMS:
        raise ConfigError(f"{p} is a {kind!r} artifact; a Triton repository is made from an artifact of kind "
                          f"{' or '.join(PLATFORMS)} (resnet-opt export onnx|torchscript, resnet-opt quantize)")
    files = art.manifest.files
    if len(files) != 1:
        raise ArtifactError(f"{p} lists {len(files)} files; Triton export copies exactly one model file")
    if not files[0].sha256:
        raise ArtifactError(f"{p / MANIFEST_NAME} has no sha256 to check {files[0].path} against")
    return _Artifact(p, art.manifest, str(kind), art.model_file, art.manifest.precision)


def _default_name(art: _Artifact) -> str:
    depth = art.manifest.architecture.depth
    base = f"resnet{depth}" if isinstance(depth, int) else "resnet"
    return f"{base}_{art.kind}_{art.precision}"


def _default_preferred(max_batch: int) -> list[int]:
    sizes = [b for b in (4, 8, 16, 32, 64, 128, 256, 512, 1024) if b <= max_batch]
    if max_batch not in sizes:
        sizes.append(max_batch)
    return sizes


def _check_output(out: Path, overwrite: bool, source: Path | None = None) -> None:
    """``out`` can take a new repository: not inside ``source`` (the artifact it is made from), no file in the way,
    an existing non-empty folder only with ``overwrite`` and only when resnet-opt wrote it, a writable parent."""
    if source is not None:
        try:
            if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
                raise OutputPathError(f"--out {out} is inside the source artifact {source}; choose another folder")
        except OSError:
            pass
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"output path {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputPathError(f"output folder {out} already exists and is not empty; pass --overwrite to replace it")
        try:  # the kind only: a repository whose config was edited by hand is still ours to replace
            kind = json.loads((out / MANIFEST_NAME).read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            kind = None
        if kind != TRITON_KIND:
            raise OutputPathError(f"--overwrite replaces only a Triton repository written by resnet-opt, and {out} is "
                                  "not one; choose another --out or remove the folder yourself")
    anc = out.parent if str(out.parent) else Path(".")
    while not anc.exists() and anc.parent != anc:
        anc = anc.parent
    if not anc.is_dir() or not os.access(anc, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write the output folder {out}: {anc} is not a writable folder")


# ---------------------------------------------------------------------------------------------------------- render
def _check_device(art: _Artifact, cfg: TritonConfig) -> None:
    if cfg.gpu and art.kind == "torchscript" and art.precision == "int8":
        raise ConfigError(f"{art.path} is a PyTorch x86 INT8 TorchScript model, which runs on the CPU only; drop --gpu, "
                          "or serve the ONNX INT8 or FP32/FP16 artifact on the GPU")


def _plan(art: _Artifact, io: _ModelIO, cfg: TritonConfig) -> tuple[TritonModelConfig, list[str]]:
    """The config to write, from the manifest and the model file; settings that the model cannot honour raise."""
    warns: list[str] = []
    platform, _ = PLATFORMS[art.kind]
    if len(io.input_names) != 1 or len(io.output_names) != 1:
        raise ArtifactError(f"{art.file} has {len(io.input_names)} inputs and {len(io.output_names)} outputs; "
                            "Triton export expects one image input and one logits output")
    in_shape = _manifest_shape(art.manifest, "input")
    out_shape = _manifest_shape(art.manifest, "output")
    if io.input_shape is not None:  # ONNX: the file's own shape wins; the manifest must agree
        if len(io.input_shape) != len(in_shape) or any(
                a is not None and b is not None and a != b for a, b in zip(io.input_shape, in_shape)):
            raise ArtifactError(f"{art.file} input shape {io.input_shape} disagrees with its manifest ({in_shape})")
        in_shape = io.input_shape
    if io.output_shape is not None and len(io.output_shape) == len(out_shape):
        out_shape = [m if m is not None else f for m, f in zip(io.output_shape, out_shape)]
    if len(in_shape) != 4:
        raise ArtifactError(f"{art.file} input has rank {len(in_shape)}; expected N×C×H×W")
    for key, dt in (("input", io.input_dtype), ("output", io.output_dtype)):
        spec = art.manifest.input if key == "input" else art.manifest.output
        md = spec.dtype if spec is not None else None
        if md is not None and md != dt:
            raise ArtifactError(f"{art.file} {key} type is {dt} but its manifest says {md}")
        if dt not in _NP_TO_TRITON:
            raise ArtifactError(f"{art.file} {key} type {dt} has no Triton data type")
    static_batch = in_shape[0]
    if cfg.max_batch_size is None:
        mbs = 0 if static_batch is not None else DEFAULT_MAX_BATCH
    else:
        mbs = int(cfg.max_batch_size)
    if mbs > 0 and static_batch is not None:
        raise ConfigError(f"{art.path} has a static batch of {static_batch} (exported with --static-batch), so Triton "
                          f"cannot batch it: use --max-batch-size 0, or export with a dynamic batch axis")
    if cfg.gpu and art.kind == "onnx" and art.precision == "int8":
        warns.append("an INT8 QDQ ONNX model on KIND_GPU: onnxruntime's CUDA provider has no INT8 convolution "
                     "(QLinearConv) kernel, so the model does not run as INT8 on the GPU; for GPU INT8 use TensorRT")
    if not cfg.gpu and art.precision == "fp16":
        warns.append("an FP16 model on KIND_CPU: FP16 is meant for GPUs, CPU execution is usually slower than FP32")

    if art.kind == "onnx":
        in_name, out_name = io.input_names[0], io.output_names[0]
        params: dict[str, str] = {}
    else:
        in_name, out_name = TORCH_INPUT, TORCH_OUTPUT
        params = {"INFERENCE_MODE": "true"}  # torch.inference_mode in the libtorch backend

    def dims(shape: list[int | None]) -> list[int]:
        full = [-1 if d is None else int(d) for d in shape]
        return full[1:] if mbs > 0 else full

    names = art.manifest.class_names
    n_cls = out_shape[-1]
    label = LABELS_NAME if isinstance(names, list) and names and len(names) == n_cls else None
    if label is None:
        warns.append("the artifact records no class names matching its outputs: no labels file is written")
    pref: list[int] = []
    if mbs > 0:
        pref = list(cfg.preferred_batch_sizes) if cfg.preferred_batch_sizes is not None else _default_preferred(mbs)
        if max(pref) > mbs:
            raise ConfigError(f"preferred batch size {max(pref)} is above the max batch size {mbs}")
    mc = TritonModelConfig(
        name=cfg.name or _default_name(art), platform=platform, max_batch_size=mbs,
        inputs=[TensorConfig(in_name, _NP_TO_TRITON[io.input_dtype], dims(in_shape))],
        outputs=[TensorConfig(out_name, _NP_TO_TRITON[io.output_dtype], dims(out_shape), label)],
        preferred_batch_sizes=pref, max_queue_delay_us=cfg.max_queue_delay_us if mbs > 0 else None,
        dynamic_batching=mbs > 0, instance_kind="KIND_GPU" if cfg.gpu else "KIND_CPU",
        instance_count=cfg.instances, parameters=params)
    return mc, warns


def render_config(mc: TritonModelConfig, header: list[str] | None = None) -> str:
    """config.pbtxt text (protobuf text format of Triton's ``ModelConfig``)."""
    def tensor(t: TensorConfig) -> list[str]:
        lines = ["  {", f'    name: "{t.name}"', f"    data_type: {t.data_type}",
                 f"    dims: [ {', '.join(str(d) for d in t.dims)} ]"]
        if t.label_filename:
            lines.append(f'    label_filename: "{t.label_filename}"')
        return lines + ["  }"]

    out = [f"# {h}" for h in (header or [])]
    out += [f'name: "{mc.name}"', f'platform: "{mc.platform}"' if mc.platform else f'backend: "{mc.backend}"',
            f"max_batch_size: {mc.max_batch_size}"]
    for key, ts in (("input", mc.inputs), ("output", mc.outputs)):
        out.append(f"{key} [")
        for i, t in enumerate(ts):
            block = tensor(t)
            if i < len(ts) - 1:
                block[-1] += ","
            out += block
        out.append("]")
    if mc.dynamic_batching:
        out += ["dynamic_batching {"]
        if mc.preferred_batch_sizes:
            out += [f"  preferred_batch_size: [ {', '.join(str(b) for b in mc.preferred_batch_sizes)} ]"]
        out += [f"  max_queue_delay_microseconds: {mc.max_queue_delay_us}", "}"]
    out += ["instance_group [", "  {", f"    count: {mc.instance_count}", f"    kind: {mc.instance_kind}", "  }", "]"]
    for k, v in mc.parameters.items():
        out += ["parameters: {", f'  key: "{k}"', f'  value: {{ string_value: "{_pbtxt_escape(v)}" }}', "}"]
    return "\n".join(out) + "\n"


def _pbtxt_escape(text: str) -> str:
    """A protobuf text-format string body (paths may hold quotes or backslashes)."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


# ---------------------------------------------------------------------------------------------------------- check
def schema_available() -> str | None:
    """tritonclient's version when its model-config schema can be imported, else None."""
    import importlib

    try:
        importlib.import_module("tritonclient.grpc.model_config_pb2")
    except Exception:  # noqa: BLE001 - ImportError, or a protobuf runtime mismatch
        return None
    try:
        from importlib.metadata import version

        return version("tritonclient")
    except Exception:  # noqa: BLE001
        return "unknown version"


def parse_config_text(text: str) -> TritonModelConfig:
    """Parse config.pbtxt with Triton's ``ModelConfig`` protobuf schema (unknown fields, wrong types and bad enum
    values are errors) and return the fields resnet-opt writes. Needs tritonclient (ImportError otherwise)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc_pb2

    msg = mc_pb2.ModelConfig()
    try:
        text_format.Parse(text, msg)
    except text_format.ParseError as e:
        raise ExportError(f"config.pbtxt does not parse with Triton's model-config schema: {e}") from e
    dt = mc_pb2.DataType.Name
    kind = mc_pb2.ModelInstanceGroup.Kind.Name

    def tensors(seq: Any, with_label: bool) -> list[TensorConfig]:
        return [TensorConfig(t.name, dt(t.data_type), list(t.dims), (t.label_filename or None) if with_label else None)
                for t in seq]

    groups = list(msg.instance_group)
    if len(groups) != 1:
        raise ExportError(f"config.pbtxt has {len(groups)} instance groups; expected 1")
    has_db = msg.HasField("dynamic_batching")
    return TritonModelConfig(
        name=msg.name, platform=msg.platform, max_batch_size=msg.max_batch_size,
        inputs=tensors(msg.input, False), outputs=tensors(msg.output, True),
        preferred_batch_sizes=list(msg.dynamic_batching.preferred_batch_size) if has_db else [],
        max_queue_delay_us=int(msg.dynamic_batching.max_queue_delay_microseconds) if has_db else None,
        dynamic_batching=has_db, instance_kind=kind(groups[0].kind), instance_count=groups[0].count,
        parameters={k: v.string_value for k, v in msg.parameters.items()}, backend=msg.backend)


def _run_model(kind: str, path: Path, batch_shape: list[int]) -> tuple[list[int], str]:
    """Open the model file as Triton's backend would and run zeros of ``batch_shape``: (output shape, dtype)."""
    import numpy as np

    if kind == "onnx":
        from resnet_opt.engine.onnx_session import ort_session

        try:
            sess = ort_session(path)
            x = np.zeros(batch_shape, dtype=np.float32)
            y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ExportError(f"{path} does not run in onnxruntime on a {batch_shape} input: {msg[:200]}") from e
        return list(y.shape), str(y.dtype)
    import torch

    module = _load_torchscript(path)
    try:
        with torch.no_grad():
            y = module(torch.zeros(batch_shape))
    except Exception as e:  # noqa: BLE001
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"{path} does not run in torch on a {batch_shape} input: {msg[:200]}") from e
    return list(y.shape), str(y.dtype).replace("torch.", "")


def check_model_config(model_dir: str | os.PathLike, *, require_schema: bool = False,
                       rendered: TritonModelConfig | None = None, shown_as: str | os.PathLike | None = None) -> ConfigCheck:
    """Check a Triton model folder (``REPO/NAME``): parse config.pbtxt with Triton's schema and compare every field
    with the model file in ``1/`` (opened and run on one batch). Raises ExportError naming the first mismatch.

    Without tritonclient the schema parse is skipped (``require_schema`` makes that an error) and ``rendered`` — the
    configuration as written — is compared with the model file instead. ``shown_as``: the folder's name in messages
    (its final place, when ``model_dir`` is still a temporary folder)."""
    d = Path(model_dir)
    text_path = d / CONFIG_NAME
    shown = Path(shown_as) / CONFIG_NAME if shown_as is not None else text_path
    if not text_path.is_file():
        raise ExportError(f"{d} has no {CONFIG_NAME}")
    mc, schema, version = _parsed_config(text_path, rendered, require_schema)
    need = _Need(shown)
    checks: dict[str, str] = {}
    need(mc.name == d.name, f"name {mc.name!r} is not the model folder's name {d.name!r}")
    checks["name"] = f"{mc.name} (= folder name)"
    kinds = {p: k for k, (p, _) in PLATFORMS.items()}
    need(mc.platform in kinds, f"platform {mc.platform!r} is not one of {', '.join(kinds)}")
    kind = kinds[mc.platform]
    fname = PLATFORMS[kind][1]
    model_file = d / VERSION / fname
    need(model_file.is_file(), f"platform {mc.platform} needs {VERSION}/{fname}, which is missing")
    others = [p.name for p in d.iterdir() if p.is_dir() and p.name != VERSION]
    need(not others, f"unexpected folders beside version {VERSION}: {others}")
    checks["platform"] = f"{mc.platform} -> {VERSION}/{fname}"
    if kind == "onnx":
        io = _onnx_io(model_file)
    else:
        man_path = d / VERSION / MANIFEST_NAME
        need(man_path.is_file(), f"{VERSION}/{MANIFEST_NAME} (the model's manifest, its input shape) is missing")
        io = _torchscript_io(model_file, open_artifact(d / VERSION).manifest)
    need(mc.max_batch_size >= 0, f"max_batch_size {mc.max_batch_size} is negative")
    batching = mc.max_batch_size > 0
    inp, outp = _check_tensors(mc, io, kind, need, checks)
    in_dims = _dims_match(inp.dims, io.input_shape, "input", mc.max_batch_size, need)
    out_dims = _dims_match(outp.dims, io.output_shape, "output", mc.max_batch_size, need)
    need(all(c > 0 for c in in_dims[-3:]), f"input dims {in_dims} must fix the image's channels and size")
    checks["dims"] = f"input {in_dims}, output {out_dims}" + (" (batch axis excluded)" if batching else
                                                              " (batch axis included, no Triton batching)")
    batch = min(2, mc.max_batch_size) if batching else None
    run_shape = ([batch] + in_dims) if batching else [2 if c == -1 else c for c in in_dims]
    y_shape, y_dtype = _run_model(kind, model_file, run_shape)
    want = ([batch] if batching else []) + out_dims
    if not batching and in_dims[0] == -1 and out_dims and out_dims[0] == -1:
        want[0] = 2  # the variable batch axis of a model served without Triton batching
    need(len(y_shape) == len(want) and all(w == -1 or w == g for w, g in zip(want, y_shape)),
         f"the model returns shape {y_shape} for an input {run_shape}, config.pbtxt says {want}")
    need(outp.data_type == _NP_TO_TRITON.get(y_dtype), f"the model returns {y_dtype}, config says {outp.data_type}")
    checks["run"] = f"{VERSION}/{fname} opened and run on {run_shape}: output {y_shape} {y_dtype}"
    if outp.label_filename:
        lf = d / outp.label_filename
        need(lf.is_file(), f"label_filename {outp.label_filename} is missing")
        labels = lf.read_text().splitlines()
        need(len(labels) == y_shape[-1], f"{outp.label_filename} has {len(labels)} lines for {y_shape[-1]} classes")
        checks["labels"] = f"{outp.label_filename}: {len(labels)} classes"
    _check_batching(mc, need, checks)
    if rendered is not None and version is not None:
        need(mc == rendered, "the parsed config differs from the one resnet-opt rendered")
        checks["round_trip"] = "parsed config equals the rendered one"
    return ConfigCheck(schema=schema, checks=checks, schema_checked=version is not None)


class _Need:
    """``need(ok, what)``: an ExportError ``<config.pbtxt> check failed: what`` unless ``ok``."""

    def __init__(self, shown: Path) -> None:
        self.shown = shown

    def __call__(self, ok: bool, what: str) -> None:
        if not ok:
            raise ExportError(f"{self.shown} check failed: {what}")


def _parsed_config(text_path: Path, rendered: TritonModelConfig | None,
                   require_schema: bool) -> tuple[TritonModelConfig, str, str | None]:
    """config.pbtxt parsed with Triton's schema (or, without tritonclient, the rendered config): (config, what the
    schema check says, tritonclient's version or None)."""
    version = schema_available()
    if version is not None:
        return (parse_config_text(text_path.read_text()),
                f"passed (tritonclient {version}, tritonclient.grpc.model_config_pb2)", version)
    if require_schema or rendered is None:
        raise ExportError("tritonclient is not installed (pip install 'resnet-opt[triton]'): cannot parse "
                          f"{CONFIG_NAME} with Triton's model-config schema")
    return rendered, "skipped: tritonclient is not installed (pip install 'resnet-opt[triton]')", None


def _check_tensors(mc: TritonModelConfig, io: Any, kind: str, need: _Need, checks: dict[str, str]) -> tuple[Any, Any]:
    """One input and one output, named and typed as the model's: (the config's input, its output)."""
    need(len(mc.inputs) == len(io.input_names) == 1, f"{len(mc.inputs)} inputs in config, model has "
                                                     f"{len(io.input_names)}")
    need(len(mc.outputs) == len(io.output_names) == 1, f"{len(mc.outputs)} outputs in config, model has "
                                                       f"{len(io.output_names)}")
    inp, outp = mc.inputs[0], mc.outputs[0]
    if kind == "onnx":
        need(inp.name == io.input_names[0], f"input name {inp.name!r} is not the model's {io.input_names[0]!r}")
        need(outp.name == io.output_names[0], f"output name {outp.name!r} is not the model's {io.output_names[0]!r}")
    else:
        need((inp.name, outp.name) == (TORCH_INPUT, TORCH_OUTPUT),
             f"pytorch_libtorch tensors must be {TORCH_INPUT}/{TORCH_OUTPUT}, got {inp.name}/{outp.name}")
    checks["names"] = f"input {inp.name}, output {outp.name}"
    need(inp.data_type == _NP_TO_TRITON.get(io.input_dtype), f"input data_type {inp.data_type} but the model takes "
                                                              f"{io.input_dtype}")
    need(outp.data_type == _NP_TO_TRITON.get(io.output_dtype), f"output data_type {outp.data_type} but the model "
                                                                f"returns {io.output_dtype}")
    checks["data_types"] = f"input {inp.data_type}, output {outp.data_type} (model: {io.input_dtype}, {io.output_dtype})"
    return inp, outp


def _dims_match(cfg_dims: list[int], model_shape: list[int | None] | None, what: str, max_batch_size: int,
                need: _Need) -> list[int]:
    """The config's dims of one tensor against the model's shape (without the batch axis when Triton batches)."""
    if model_shape is None:  # an ONNX graph without a declared shape: the run decides
        return cfg_dims
    need(len(model_shape) >= 1, f"{what} of the model has rank 0")
    batching = max_batch_size > 0
    if batching:
        need(model_shape[0] is None, f"max_batch_size {max_batch_size} > 0 but the model's {what} batch axis "
                                     f"is fixed at {model_shape[0]}")
        model_dims = model_shape[1:]
    else:
        model_dims = model_shape
    need(len(cfg_dims) == len(model_dims), f"{what} dims {cfg_dims} do not have the model's rank "
                                           f"({len(model_dims)}{' without the batch axis' if batching else ''})")
    for c, m in zip(cfg_dims, model_dims):
        need(c == -1 or c > 0, f"{what} dim {c} is neither -1 nor positive")
        need(m is None or c == m, f"{what} dims {cfg_dims} do not match the model's {model_dims}")
    return cfg_dims


def _check_batching(mc: TritonModelConfig, need: _Need, checks: dict[str, str]) -> None:
    """Dynamic batching exactly when max_batch_size > 0, with sane preferred sizes; a usable instance group."""
    if mc.max_batch_size > 0:
        need(mc.dynamic_batching, "max_batch_size > 0 but no dynamic_batching")
        need(all(1 <= b <= mc.max_batch_size for b in mc.preferred_batch_sizes),
             f"preferred_batch_size {mc.preferred_batch_sizes} outside 1..{mc.max_batch_size}")
        need((mc.max_queue_delay_us or 0) >= 0, "negative max_queue_delay_microseconds")
        checks["batching"] = (f"max_batch_size {mc.max_batch_size}, dynamic_batching preferred "
                              f"{mc.preferred_batch_sizes}, max queue delay {mc.max_queue_delay_us} us")
    else:
        need(not mc.dynamic_batching, "dynamic_batching needs max_batch_size > 0")
        checks["batching"] = "max_batch_size 0: no Triton batching, dims include the batch axis"
    need(mc.instance_kind in ("KIND_CPU", "KIND_GPU") and mc.instance_count >= 1,
         f"instance_group {mc.instance_count} x {mc.instance_kind}")
    checks["instance_group"] = f"{mc.instance_count} x {mc.instance_kind}"


# ---------------------------------------------------------------------------------------------------------- docs
def tritonserver_command(repo: str | os.PathLike) -> str:
    return f"tritonserver --model-repository={Path(repo).resolve()}"


def docker_command(repo: str | os.PathLike, gpu: bool = False) -> str:
    return (f"docker run --rm{' --gpus=all' if gpu else ''} -p8000:8000 -p8001:8001 -p8002:8002 "
            f"-v {Path(repo).resolve()}:/models nvcr.io/nvidia/tritonserver:{DOCKER_TAG}-py3 "
            "tritonserver --model-repository=/models")


def _readme(repo: Path, art: _Artifact, mc: TritonModelConfig, check: ConfigCheck) -> str:
    pre = art.manifest.preprocessing.to_dict() if art.manifest.preprocessing is not None else {}
    names = art.manifest.class_names
    inp, outp = mc.inputs[0], mc.outputs[0]
    versions = art.manifest.versions
    size = inp.dims[-1]
    gpu = mc.instance_kind == "KIND_GPU"
    shape_doc = (f"[N, {', '.join(str(d) for d in inp.dims)}] with N from 1 to {mc.max_batch_size} (the config's dims "
                 f"leave out the batch axis)" if mc.max_batch_size > 0 else f"exactly {inp.dims} (no Triton batching)")
    steps = []
    if pre.get("grayscale"):
        steps.append("convert to grayscale and replicate it to 3 channels")
    else:
        steps.append("convert to RGB")
    if pre.get("square"):
        steps.append(f"resize to {pre.get('resize')}×{pre.get('resize')} ({pre.get('interpolation', 'bilinear')}, antialias)")
    else:
        steps.append(f"resize the shorter side to {pre.get('resize')} px ({pre.get('interpolation', 'bilinear')}, antialias)")
    if pre.get("crop") != pre.get("resize") or not pre.get("square"):
        steps.append(f"centre-crop {pre.get('crop')}×{pre.get('crop')}")
    steps.append("scale to [0, 1] (divide by 255), layout C×H×W (channels first), float32")
    steps.append(f"normalize per channel: (x - mean) / std with mean {pre.get('mean')} and std {pre.get('std')}")
    label_line = (f"`{LABELS_NAME}` holds the {len(names)} class names, one a line, in output order; it is the output's "
                  "`label_filename`, so Triton's classification extension returns names." if outp.label_filename
                  else "No labels file: the artifact records no class names.")
    client = _client_example(repo.resolve() / mc.name / VERSION, mc)
    fname = PLATFORMS[art.kind][1]
    tree = "\n".join([f"{repo.name}/",
                      f"  {MANIFEST_NAME:<23}resnet-opt's record (Triton reads only the model folders)",
                      f"  {README_NAME:<23}this file", f"  {mc.name}/", f"    {CONFIG_NAME}"]
                     + ([f"    {LABELS_NAME}"] if outp.label_filename else [])
                     + [f"    {VERSION}/", f"      {fname:<19}platform {mc.platform}",
                        f"      {MANIFEST_NAME:<19}the artifact's manifest: resnet-opt opens {mc.name}/{VERSION} as an "
                        "artifact"])
    return f"""# Triton model repository: `{mc.name}`

Written by resnet-opt from the {art.kind} {art.precision} artifact `{art.path.resolve()}` (model file sha256
`{(art.manifest.files[0].sha256 or "")[:16]}…`, checked against its manifest). Exported with torch {versions.get('torch', '?')},
onnx {versions.get('onnx', '?')}.

```
{tree}
```

## Serve it

No Triton server ran this repository when it was written (the Triton that resnet-opt runs, `resnet-opt serve`, has
only the Python backend; `export triton --backend python` writes the repository it serves). Its config.pbtxt was
parsed with Triton's model-config schema and checked against the model file (see the end of this file). On a machine
with Triton (its onnxruntime / libtorch backend):

```sh
{tritonserver_command(repo)}
```

or with Docker (pick a release whose onnxruntime / PyTorch is at least as new as the exporter's: see the NGC
Triton release notes; `{DOCKER_TAG}` is an example):

```sh
{docker_command(repo, gpu=gpu)}
curl -s localhost:8000/v2/models/{mc.name}/ready && echo ready
```

## Tensors

| | name | data type | shape sent / returned |
|---|---|---|---|
| input | `{inp.name}` | {inp.data_type} | {shape_doc} |
| output | `{outp.name}` | {outp.data_type} | {'[N, ' + ', '.join(str(d) for d in outp.dims) + ']' if mc.max_batch_size > 0 else str(outp.dims)}: logits (apply softmax for probabilities) |

Batching: {f'max_batch_size {mc.max_batch_size}, dynamic batching (preferred batch sizes {mc.preferred_batch_sizes}, queue delay up to {mc.max_queue_delay_us} µs)' if mc.max_batch_size > 0 else 'off (max_batch_size 0)'}.
Instances: {mc.instance_count} × {mc.instance_kind}.
{label_line}

## Preprocessing (the client's job: Triton receives the tensor)

Preprocessing `{pre.get('name', '?')}`, applied to every image before it is sent:

{chr(10).join(f'{i}. {s}' for i, s in enumerate(steps, 1))}

resnet-opt's runtime applies exactly this: `resnet_opt.runtime.load("{repo.resolve() / mc.name / VERSION}").to_tensor(path)`
returns the {size}×{size} input tensor of one image.

## Client (tritonclient HTTP)

`pip install 'tritonclient[http]'`, then:

```python
{client}```

## What was checked

config.pbtxt schema check: {check.schema}.
{chr(10).join(f'- {k}: {v}' for k, v in check.checks.items())}
"""


def _client_example(version_dir: Path, mc: TritonModelConfig) -> str:
    inp, outp = mc.inputs[0], mc.outputs[0]
    batch = "x = x[None]  # add the batch axis: [1, 3, H, W]\n" if mc.max_batch_size > 0 or len(inp.dims) == 3 else ""
    if mc.max_batch_size == 0 and inp.dims and inp.dims[0] not in (-1, 1):
        batch = f"x = x[None].repeat({inp.dims[0]}, axis=0)  # the model takes a fixed batch of {inp.dims[0]}\n"
    return f"""import numpy as np
import tritonclient.http as httpclient
from resnet_opt.runtime import load

pre = load("{version_dir}")             # the model's own artifact: its preprocessing and class names
x = pre.to_tensor("digit.png")[0].numpy().astype(np.float32)   # [3, H, W], preprocessed
{batch}
client = httpclient.InferenceServerClient(url="localhost:8000")
inp = httpclient.InferInput("{inp.name}", list(x.shape), "{inp.data_type.replace('TYPE_', '')}")
inp.set_data_from_numpy(x)
out = httpclient.InferRequestedOutput("{outp.name}"{', class_count=3' if outp.label_filename else ''})
res = client.infer("{mc.name}", inputs=[inp], outputs=[out])
{'print(res.as_numpy("' + outp.name + '"))  # [[b"14.2:7:7", ...]]: logit:index:label, best first' if outp.label_filename else 'print(res.as_numpy("' + outp.name + '").argmax(1))  # top-1 class index'}
"""


# ---------------------------------------------------------------------------------------------------------- export
def export_triton(model: str | os.PathLike, config: TritonConfig, *,
                  log: Callable[[str], None] | None = None) -> TritonResult:
    """Write a Triton model repository at ``config.out`` for the artifact folder ``model`` (see the module doc)."""
    import resnet_opt

    config.validate()
    say = log or (lambda _m: None)
    out = Path(config.out)
    if config.backend == PYTHON_BACKEND:
        return _export_python(model, config, say)
    art = _read_artifact(model)
    _check_output(out, config.overwrite, source=art.path)
    _check_device(art, config)
    io = _onnx_io(art.file) if art.kind == "onnx" else _torchscript_io(art.file, art.manifest)
    mc, warns = _plan(art, io, config)
    for w in warns:
        warnings.warn(w, ResNetOptWarning, stacklevel=2)
    platform, fname = PLATFORMS[art.kind]
    say(f"writing Triton repository {out}: model {mc.name} ({platform}, max_batch_size {mc.max_batch_size}, "
        f"{mc.instance_count} x {mc.instance_kind})")
    header = [f"Triton model config written by resnet-opt {getattr(resnet_opt, '__version__', '')} from "
              f"{art.path.resolve()}", f"({art.kind} {art.precision}, file sha256 {(art.manifest.files[0].sha256 or '')[:16]}…).",
              "Inputs are preprocessed images: see ../README.md."]
    with atomic_dir(out, overwrite=True) as tmp:
        mdir = tmp / mc.name
        vdir = mdir / VERSION
        vdir.mkdir(parents=True)
        target = vdir / fname
        shutil.copyfile(art.file, target)
        if sha256_file(target) != art.manifest.files[0].sha256:
            raise ExportError(f"the copy of {art.file} in the repository does not match its sha256")
        src_file = art.manifest.files[0]
        write_manifest(vdir, art.manifest.derive(
            files=[FileEntry(fname, sha256=src_file.sha256, size=src_file.size, role=src_file.role)],
            sections={"triton_source": {"artifact": str(art.path.resolve()), "file": art.file.name}}))
        labels = None
        if mc.outputs[0].label_filename:
            labels = mdir / LABELS_NAME
            atomic_write_text(labels, "\n".join(str(n) for n in art.manifest.class_names or []) + "\n")
        atomic_write_text(mdir / CONFIG_NAME, render_config(mc, header))
        say("checking config.pbtxt against Triton's schema and the model file ...")
        check = check_model_config(mdir, rendered=mc, shown_as=out / mc.name)
        if not check.schema_checked:
            warnings.warn(f"config.pbtxt was not parsed with Triton's schema ({check.schema.removeprefix('skipped: ')})"
                          "; the model-file checks ran", SchemaCheckSkippedWarning, stacklevel=2)
        final = out
        atomic_write_text(tmp / README_NAME, _readme(final, art, mc, check))
        m = art.manifest
        write_manifest(tmp, Manifest.for_triton_repo(
            files=[FileEntry(f"{mc.name}/{VERSION}/{fname}", role="model"),
                   FileEntry(f"{mc.name}/{CONFIG_NAME}", role="config")]
            + ([FileEntry(f"{mc.name}/{LABELS_NAME}", role="labels")] if labels is not None else []),
            precision=art.precision,
            source=Source(artifact=str(art.path.resolve()), kind=art.kind, file=art.file.name,
                          file_sha256=m.files[0].sha256),
            architecture=m.architecture, input=m.input, output=m.output, preprocessing=m.preprocessing,
            class_names=m.class_names, versions=m.versions,
            triton={"name": mc.name, "platform": platform, "model_dir": mc.name,
                    "input_name": mc.inputs[0].name, "output_name": mc.outputs[0].name,
                    "version_dir": f"{mc.name}/{VERSION}", "config": asdict(mc),
                    "config_sha256": sha256_file(mdir / CONFIG_NAME), "check": check.to_dict(),
                    "serve": "tritonserver --model-repository=<this folder>", "warnings": warns}))
    d = out / mc.name
    return TritonResult(repo=out, name=mc.name, platform=platform, model_dir=d, version_dir=d / VERSION,
                        model_file=d / VERSION / fname, config_file=d / CONFIG_NAME,
                        labels_file=(d / LABELS_NAME) if labels is not None else None, readme=out / README_NAME,
                        config=mc, check=check, source=str(art.path), source_kind=art.kind, precision=art.precision,
                        warnings=warns)


# ---------------------------------------------------------------------------------------------------------- python backend
def _model_py(which: str) -> str:
    """The model.py of a Python-backend model: a shim over resnet_opt.serve.backend (imported inside the stub)."""
    cls = _BACKEND_CLASSES[which]
    what = ("preprocessed FP32 tensors in, logits out" if which == "tensor" else
            "encoded images (BYTES) in, top-k labels, scores and indices out")
    return f'''"""Triton Python-backend model written by resnet-opt: {what}.

The code is resnet-opt's (resnet_opt.serve.backend.{cls}), so resnet-opt and its runtime dependencies must be
installed in the Python environment that Triton's Python backend stub runs (and, with Triton 2.51's Python backend,
numpy<2). The optional config parameter resnet_opt_path puts a folder first on sys.path (resnet-opt serve sets it
to the resnet-opt it runs from).
"""

import json
import sys


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters") or {{}}
        path = (params.get("resnet_opt_path") or {{}}).get("string_value")
        if path and path not in sys.path:
            sys.path.insert(0, path)
        from resnet_opt.serve.backend import {cls}

        self.impl = {cls}()
        self.impl.initialize(args)

    def execute(self, requests):
        return self.impl.execute(requests)

    def finalize(self):
        self.impl.finalize()
'''


@dataclass
class _PySource:
    art: Any  # core.manifest.Artifact
    files: list[str]  # relative paths to copy (the manifest's files, manifest.json, config.json)
    input_name: str
    output_name: str
    channels: int
    size: int
    classes: int
    class_names: list[str] | None


def _python_source(path: str | os.PathLike) -> _PySource:
    """The artifact a Python-backend repository serves: any kind with a runtime loader (model folders included),
    opened with the checked opener (every file against its sha256)."""
    from resnet_opt.core.manifest import MODEL_CONFIG_NAME

    p = Path(path)
    art = open_artifact(p)
    if art.kind == TRITON_KIND:
        raise ConfigError(f"{p} is already a Triton model repository; pass the artifact it was made from (or serve "
                          f"it as it is: resnet-opt serve {p})")
    if art.info.loader is None:
        raise ConfigError(f"{p} is a {art.kind!r} artifact ({art.info.description}), which the runtime cannot load")
    art.require_preprocessing()
    m = art.manifest
    size = m.input_size
    if size is None:
        raise ArtifactError(f"{p} records no input size (manifest input.shape or preprocessing.crop)")
    channels = 3
    if m.input is not None:
        if len(m.input.shape) != 4:
            raise ArtifactError(f"{p}: input shape {m.input.shape} is not N×C×H×W")
        if m.input.dtype != "float32":
            raise ArtifactError(f"{p}: input type {m.input.dtype}; the runtime feeds float32 tensors")
        channels = int(m.input.shape[1]) if m.input.shape[1] > 0 else 3
    if channels != 3:
        raise ArtifactError(f"{p}: input has {channels} channels; the runtime takes 3-channel images")
    classes = m.num_classes
    if classes is None:
        raise ArtifactError(f"{p} records no class count (architecture.num_classes or output.shape)")
    in_name = m.input.name if m.input is not None else "input"
    out_name = m.output.name if m.output is not None else "logits"
    for what, n in (("input", in_name), ("output", out_name)):
        if not _NAME_RE.match(n):
            raise ArtifactError(f"{p}: {what} tensor name {n!r} is not a usable Triton tensor name")
    if in_name == out_name:
        raise ArtifactError(f"{p}: input and output are both named {in_name!r}")
    names = m.class_names if m.class_names and len(m.class_names) == classes else None
    files = [f.path for f in m.files]
    for extra in (MANIFEST_NAME, MODEL_CONFIG_NAME):
        if (p / extra).is_file() and extra not in files:
            files.append(extra)
    return _PySource(art, files, in_name, out_name, channels, int(size), int(classes), names)


def _python_configs(src: _PySource, cfg: TritonConfig) -> tuple[TritonModelConfig, TritonModelConfig | None]:
    name = cfg.name or "resnet"
    mbs = int(cfg.max_batch_size) if cfg.max_batch_size is not None else DEFAULT_MAX_BATCH
    pref = list(cfg.preferred_batch_sizes or []) if cfg.dynamic_batching else []
    sizes = src.art.manifest.compile.batch_sizes if src.art.kind == "pt2" else None
    if not pref and cfg.dynamic_batching and sizes:
        # a .pt2 package holds one model per compiled batch size: the batcher forms batches of those sizes, which
        # run as one call each (others run as chunks of them)
        pref = [int(b) for b in sizes if int(b) <= mbs]
    if pref and max(pref) > mbs:
        raise ConfigError(f"preferred batch size {max(pref)} is above the max batch size {mbs}")
    common: dict[str, str] = {}
    if cfg.python_path:
        common["resnet_opt_path"] = str(cfg.python_path)
    params = {"artifact": ARTIFACT_DIR, "provider": str(cfg.provider).strip().lower(), **common}
    if cfg.threads is not None:
        params["threads"] = str(cfg.threads)
    batching = dict(preferred_batch_sizes=pref, dynamic_batching=bool(cfg.dynamic_batching),
                    max_queue_delay_us=cfg.max_queue_delay_us if cfg.dynamic_batching else None)
    tensor = TritonModelConfig(
        name=name, platform="", backend=PYTHON_BACKEND, max_batch_size=mbs,
        inputs=[TensorConfig(src.input_name, "TYPE_FP32", [src.channels, src.size, src.size])],
        outputs=[TensorConfig(src.output_name, "TYPE_FP32", [src.classes], LABELS_NAME if src.class_names else None)],
        instance_kind="KIND_CPU", instance_count=cfg.instances, parameters=params, **batching)
    if not cfg.images_model:
        return tensor, None
    k = min(cfg.top_k, src.classes)
    images = TritonModelConfig(
        name=name + IMAGES_SUFFIX, platform="", backend=PYTHON_BACKEND, max_batch_size=mbs,
        inputs=[TensorConfig(IMAGE_INPUT, "TYPE_STRING", [1])],
        outputs=[TensorConfig(IMAGE_OUTPUTS[0], "TYPE_STRING", [k]), TensorConfig(IMAGE_OUTPUTS[1], "TYPE_FP32", [k]),
                 TensorConfig(IMAGE_OUTPUTS[2], "TYPE_INT64", [k])],
        instance_kind="KIND_CPU", instance_count=cfg.instances,
        parameters={"tensor_model": name, "artifact": f"../../{name}/{VERSION}/{ARTIFACT_DIR}", "top_k": str(k),
                    **common}, **batching)
    return tensor, images


def _read_config(model_dir: Path, rendered: TritonModelConfig | None) -> tuple[TritonModelConfig, str, bool]:
    text_path = model_dir / CONFIG_NAME
    if not text_path.is_file():
        raise ExportError(f"{model_dir} has no {CONFIG_NAME}")
    version = schema_available()
    if version is not None:
        return (parse_config_text(text_path.read_text()),
                f"passed (tritonclient {version}, tritonclient.grpc.model_config_pb2)", True)
    if rendered is None:
        raise ExportError("tritonclient is not installed (pip install 'resnet-opt[triton]'): cannot parse "
                          f"{text_path} with Triton's model-config schema")
    return rendered, "skipped: tritonclient is not installed (pip install 'resnet-opt[triton]')", False


def check_python_repository(repo: str | os.PathLike, *, rendered: dict[str, TritonModelConfig] | None = None,
                            shown_as: str | os.PathLike | None = None) -> dict[str, ConfigCheck]:
    """Check a Python-backend repository (what ``resnet-opt serve`` runs): every model folder's config.pbtxt parses
    with Triton's schema (and equals ``rendered`` when given), names its folder, uses the Python backend and has its
    model.py; the tensor model's artifact copy opens with the checked opener (sha256) and agrees with the config's
    tensors and labels; an images model points at a tensor model of the same repository and its artifact.
    Returns {model name: ConfigCheck}; raises ExportError naming the first mismatch. The model is not run here
    (``resnet-opt serve`` runs it)."""
    root = Path(repo)
    shown = Path(shown_as) if shown_as is not None else root
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and (d / CONFIG_NAME).is_file()) if root.is_dir() else []
    if not dirs:
        raise ExportError(f"{shown} holds no model folder with a {CONFIG_NAME}")
    parsed: dict[str, tuple[TritonModelConfig, str, bool]] = {}
    for d in dirs:
        parsed[d.name] = _read_config(d, (rendered or {}).get(d.name))
    out: dict[str, ConfigCheck] = {}
    for d in dirs:
        mc, schema, schema_ok = parsed[d.name]
        need = _Need(shown / d.name / CONFIG_NAME)
        checks: dict[str, str] = {}
        need(mc.name == d.name, f"name {mc.name!r} is not the model folder's name {d.name!r}")
        need(mc.backend == PYTHON_BACKEND and not mc.platform,
             f"backend {mc.backend!r} / platform {mc.platform!r}: expected backend \"python\"")
        need((d / VERSION / MODEL_PY).is_file(), f"{VERSION}/{MODEL_PY} is missing")
        py = (d / VERSION / MODEL_PY).read_text(errors="replace")
        need("resnet_opt.serve.backend" in py, f"{VERSION}/{MODEL_PY} is not a resnet-opt backend model")
        checks["backend"] = f"python, {VERSION}/{MODEL_PY}"
        need(mc.max_batch_size >= 1, f"max_batch_size {mc.max_batch_size}: a Python-backend model batches")
        need(mc.instance_kind == "KIND_CPU" and mc.instance_count >= 1,
             f"instance_group {mc.instance_count} x {mc.instance_kind}")
        if mc.dynamic_batching:
            need(all(1 <= b <= mc.max_batch_size for b in mc.preferred_batch_sizes),
                 f"preferred_batch_size {mc.preferred_batch_sizes} outside 1..{mc.max_batch_size}")
            checks["batching"] = (f"max_batch_size {mc.max_batch_size}, dynamic batching (max queue delay "
                                  f"{mc.max_queue_delay_us} us)")
        else:
            checks["batching"] = f"max_batch_size {mc.max_batch_size}, no dynamic batching"
        if "tensor_model" not in mc.parameters:
            _check_tensor_model(d, mc, need, checks, shown)
        else:
            _check_images_model(mc, parsed, need, checks)
        if rendered is not None and schema_ok:
            need(mc == rendered.get(d.name), "the parsed config differs from the one resnet-opt rendered")
            checks["round_trip"] = "parsed config equals the rendered one"
        out[d.name] = ConfigCheck(schema=schema, checks=checks, schema_checked=schema_ok)
    return out


def _check_tensor_model(d: Path, mc: TritonModelConfig, need: _Need, checks: dict[str, str], shown: Path) -> None:
    """A tensor model of a Python-backend repository: its artifact copy opens with the checked opener and agrees
    with the config's tensors and labels; its runtime parameters are valid."""
    rel = mc.parameters.get("artifact", "")
    need(rel == ARTIFACT_DIR, f"parameter artifact {rel!r}: expected {ARTIFACT_DIR!r}")
    try:
        art = open_artifact(d / VERSION / ARTIFACT_DIR)
    except ArtifactError as e:
        raise ExportError(f"{shown / d.name / VERSION / ARTIFACT_DIR}: {e}") from e
    m = art.manifest
    need(len(mc.inputs) == 1 and len(mc.outputs) == 1, "expected one input and one output")
    inp, outp = mc.inputs[0], mc.outputs[0]
    size, classes = m.input_size, m.num_classes
    want_in = m.input.name if m.input is not None else "input"
    want_out = m.output.name if m.output is not None else "logits"
    need(inp.name == want_in and outp.name == want_out,
         f"tensors {inp.name}/{outp.name}, the artifact's manifest says {want_in}/{want_out}")
    need(inp.data_type == "TYPE_FP32" and outp.data_type == "TYPE_FP32",
         f"data types {inp.data_type}/{outp.data_type}: the runtime takes and returns FP32")
    need(inp.dims == [3, size, size], f"input dims {inp.dims}, the artifact takes [3, {size}, {size}]")
    need(outp.dims == [classes], f"output dims {outp.dims}, the artifact has {classes} classes")
    checks["artifact"] = (f"{VERSION}/{ARTIFACT_DIR}: {m.kind} {m.precision}, every file checked against its "
                          f"sha256; input {inp.name} {inp.dims}, output {outp.name} {outp.dims}")
    if outp.label_filename:
        lf = d / outp.label_filename
        need(lf.is_file(), f"label_filename {outp.label_filename} is missing")
        labels = lf.read_text().splitlines()
        need(len(labels) == classes, f"{outp.label_filename} has {len(labels)} lines for {classes} classes")
        checks["labels"] = f"{outp.label_filename}: {len(labels)} classes"
    provider = mc.parameters.get("provider", "cpu")
    try:
        if provider != "openvino":
            from resnet_opt.engine.onnx_session import check_provider_name

            check_provider_name(provider)
        if "threads" in mc.parameters:
            from resnet_opt.core.checks import check_threads

            check_threads(int(mc.parameters["threads"]))
    except (ConfigError, ValueError) as e:
        raise ExportError(f"{need.shown} check failed: {e}") from None
    checks["runtime"] = f"provider {provider}, threads {mc.parameters.get('threads', 'default')}"


def _check_images_model(mc: TritonModelConfig, parsed: dict[str, tuple[TritonModelConfig, str, bool]], need: _Need,
                        checks: dict[str, str]) -> None:
    """An images model: points at a tensor model of the same repository and its artifact, takes encoded images and
    returns its top-k labels, scores and indices."""
    target = mc.parameters["tensor_model"]
    need(target in parsed and "tensor_model" not in parsed[target][0].parameters,
         f"parameter tensor_model {target!r} is not a tensor model of this repository")
    tm = parsed[target][0]
    rel = mc.parameters.get("artifact", "")
    need(rel == f"../../{target}/{VERSION}/{ARTIFACT_DIR}",
         f"parameter artifact {rel!r} does not point at {target}/{VERSION}/{ARTIFACT_DIR}")
    need(mc.max_batch_size <= tm.max_batch_size, f"max_batch_size {mc.max_batch_size} is above {target}'s "
                                                 f"{tm.max_batch_size}")
    need([(t.name, t.data_type, t.dims) for t in mc.inputs] == [(IMAGE_INPUT, "TYPE_STRING", [1])],
         f"inputs {[t.name for t in mc.inputs]}: expected one {IMAGE_INPUT} TYPE_STRING [1]")
    try:
        k = int(mc.parameters.get("top_k", ""))
    except ValueError:
        k = 0
    classes = tm.outputs[0].dims[0] if tm.outputs and tm.outputs[0].dims else 0
    need(1 <= k <= classes, f"parameter top_k {mc.parameters.get('top_k')!r} outside 1..{classes}")
    want = [(IMAGE_OUTPUTS[0], "TYPE_STRING", [k]), (IMAGE_OUTPUTS[1], "TYPE_FP32", [k]),
            (IMAGE_OUTPUTS[2], "TYPE_INT64", [k])]
    need([(t.name, t.data_type, t.dims) for t in mc.outputs] == want,
         f"outputs {[(t.name, t.data_type, t.dims) for t in mc.outputs]}, expected {want}")
    checks["images"] = f"encoded images -> top-{k} labels, scores, indices; runs {target} (BLS)"


def _export_python(model: str | os.PathLike, config: TritonConfig, say: Callable[[str], None]) -> TritonResult:
    import resnet_opt

    out = Path(config.out)
    src = _python_source(model)
    art = src.art
    _check_output(out, config.overwrite, source=art.path)
    tensor, images = _python_configs(src, config)
    names = [tensor.name] + ([images.name] if images else [])
    say(f"writing Triton Python-backend repository {out}: {', '.join(names)} (max_batch_size {tensor.max_batch_size}, "
        f"{'dynamic batching' if tensor.dynamic_batching else 'no dynamic batching'}, {tensor.instance_count} "
        "instance(s))")
    header = [f"Triton model config written by resnet-opt {getattr(resnet_opt, '__version__', '')} from "
              f"{art.path.resolve()}", f"({art.kind} {art.manifest.precision}; Python backend: resnet_opt.serve.backend)."]
    file_sha = art.manifest.files[0].sha256 if art.manifest.files else None
    with atomic_dir(out, overwrite=True) as tmp:
        mdir = tmp / tensor.name
        adir = mdir / VERSION / ARTIFACT_DIR
        adir.mkdir(parents=True)
        for rel in src.files:
            s_path, d_path = art.path / rel, adir / rel
            d_path.parent.mkdir(parents=True, exist_ok=True)
            want = sha256_file(s_path)
            shutil.copyfile(s_path, d_path)
            if sha256_file(d_path) != want:
                raise ExportError(f"the copy of {s_path} in the repository does not match its sha256")
        atomic_write_text(mdir / VERSION / MODEL_PY, _model_py("tensor"))
        labels = None
        if src.class_names:
            labels = mdir / LABELS_NAME
            atomic_write_text(labels, "\n".join(str(n) for n in src.class_names) + "\n")
        atomic_write_text(mdir / CONFIG_NAME, render_config(tensor, header + ["FP32 tensors in, logits out; see "
                                                                               "../README.md."]))
        rendered = {tensor.name: tensor}
        if images is not None:
            idir = tmp / images.name
            (idir / VERSION).mkdir(parents=True)
            atomic_write_text(idir / VERSION / MODEL_PY, _model_py("images"))
            atomic_write_text(idir / CONFIG_NAME, render_config(images, header + [
                f"Encoded images in, top-k out; runs {tensor.name}; see ../README.md."]))
            rendered[images.name] = images
        say("checking config.pbtxt against Triton's schema and the artifact copy ...")
        checks = check_python_repository(tmp, rendered=rendered, shown_as=out)
        check = checks[tensor.name]
        if not check.schema_checked:
            warnings.warn(f"config.pbtxt was not parsed with Triton's schema ({check.schema.removeprefix('skipped: ')})"
                          "; the other checks ran", SchemaCheckSkippedWarning, stacklevel=3)
        atomic_write_text(tmp / README_NAME, _python_readme(out, src, tensor, images, checks))
        model_rel = f"{tensor.name}/{VERSION}/{ARTIFACT_DIR}"
        files = [FileEntry(f"{model_rel}/{rel}", role="model" if i == 0 else "artifact")
                 for i, rel in enumerate(src.files)]
        files += [FileEntry(f"{n}/{CONFIG_NAME}", role="config") for n in names]
        files += [FileEntry(f"{n}/{VERSION}/{MODEL_PY}", role="code") for n in names]
        if labels is not None:
            files.append(FileEntry(f"{tensor.name}/{LABELS_NAME}", role="labels"))
        m = art.manifest
        write_manifest(tmp, Manifest.for_triton_repo(
            files=files, precision=m.precision,
            source=Source(artifact=str(art.path.resolve()), kind=art.kind, file=m.file, file_sha256=file_sha),
            architecture=m.architecture,
            input=TensorSpec(src.input_name, [-1, src.channels, src.size, src.size]),
            output=TensorSpec(src.output_name, [-1, src.classes]), preprocessing=m.preprocessing,
            class_names=src.class_names, versions=m.versions,
            triton={"backend": PYTHON_BACKEND, "name": tensor.name, "platform": "",
                    "images_name": images.name if images else None, "model_dir": tensor.name,
                    "input_name": src.input_name, "output_name": src.output_name,
                    "version_dir": f"{tensor.name}/{VERSION}", "artifact_dir": model_rel,
                    "config": asdict(tensor), "images_config": asdict(images) if images else None,
                    "config_sha256": sha256_file(mdir / CONFIG_NAME),
                    "check": {n: c.to_dict() for n, c in checks.items()},
                    "serve": "resnet-opt serve <this folder>", "warnings": []}))
    d = out / tensor.name
    return TritonResult(repo=out, name=tensor.name, platform=PYTHON_BACKEND, model_dir=d, version_dir=d / VERSION,
                        model_file=d / VERSION / ARTIFACT_DIR / src.files[0], config_file=d / CONFIG_NAME,
                        labels_file=(d / LABELS_NAME) if labels is not None else None, readme=out / README_NAME,
                        config=tensor, check=check, source=str(art.path), source_kind=art.kind,
                        precision=art.manifest.precision, warnings=[], backend=PYTHON_BACKEND,
                        images_name=images.name if images else None, images_config=images)


def _python_readme(repo: Path, src: _PySource, tensor: TritonModelConfig, images: TritonModelConfig | None,
                   checks: dict[str, ConfigCheck]) -> str:
    art = src.art
    inp, outp = tensor.inputs[0], tensor.outputs[0]
    batching = (f"dynamic batching, max queue delay {tensor.max_queue_delay_us} µs" if tensor.dynamic_batching
                else "no dynamic batching (each request runs on its own)")
    img = ""
    if images is not None:
        k = images.outputs[0].dims[0]
        img = f"""
### `{images.name}`: encoded images

| | name | data type | shape sent / returned |
|---|---|---|---|
| input | `{IMAGE_INPUT}` | BYTES (TYPE_STRING) | [N, 1]: the bytes of an image file each (PNG, JPEG, ...) |
| output | `labels` | BYTES | [N, {k}]: class names, best first |
| output | `scores` | FP32 | [N, {k}]: softmax probabilities |
| output | `indices` | INT64 | [N, {k}]: class indices |

It decodes each image, preprocesses it as the artifact's manifest records (`{art.manifest.preprocessing.name if art.manifest.preprocessing else '?'}`:
the same steps as `resnet-opt predict`), and runs `{tensor.name}` through Triton (business-logic scripting), so both
models share `{tensor.name}`'s instances and batcher.

```python
import numpy as np
import tritonclient.http as httpclient

client = httpclient.InferenceServerClient(url="127.0.0.1:8000")
data = np.array([[open("digit.png", "rb").read()]], dtype=object)       # [1, 1]
inp = httpclient.InferInput("{IMAGE_INPUT}", list(data.shape), "BYTES")
inp.set_data_from_numpy(data)
res = client.infer("{images.name}", inputs=[inp])
print(res.as_numpy("labels")[0], res.as_numpy("scores")[0])
```
"""
    lines = [f"- `{n}`: config.pbtxt schema check {c.schema}; " + "; ".join(f"{k}: {v}" for k, v in c.checks.items())
             for n, c in checks.items()]
    return f"""# Triton model repository (Python backend): `{tensor.name}`

Written by resnet-opt from the {art.kind} {art.manifest.precision} artifact `{art.path.resolve()}`, copied into
`{tensor.name}/{VERSION}/{ARTIFACT_DIR}/` with every file checked against its sha256. Triton's Python backend runs
`{VERSION}/{MODEL_PY}`, which opens that folder with resnet-opt's runtime (`resnet_opt.runtime.load`: the manifest
and every file's sha256 checked again, no pickle) on provider `{tensor.parameters.get('provider')}`.

## Serve it

```sh
resnet-opt serve {repo.resolve()}       # Triton from nvidia-pytriton's wheel, on 127.0.0.1 (pip install 'resnet-opt[serve]')
```

or copy the folder into your own Triton's model repository: its Python backend needs resnet-opt and its runtime
dependencies installed in the Python environment the backend stub runs (for Triton 2.51's Python backend: numpy<2).
Triton has no authentication of its own: keep it on loopback or behind an authenticating proxy.

## Models

### `{tensor.name}`: preprocessed tensors

| | name | data type | shape sent / returned |
|---|---|---|---|
| input | `{inp.name}` | FP32 | [N, {', '.join(str(d) for d in inp.dims)}], N from 1 to {tensor.max_batch_size}, preprocessed as the manifest records |
| output | `{outp.name}` | FP32 | [N, {outp.dims[0]}]: logits{' (labels.txt: classification extension)' if outp.label_filename else ''} |

Batching: max_batch_size {tensor.max_batch_size}, {batching}. Instances: {tensor.instance_count} × KIND_CPU.
{img}
## What was checked

{chr(10).join(lines)}
"""
