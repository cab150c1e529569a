"""Loading a PT2 (AOTInductor) artifact: ``manifest.json`` of kind ``pt2`` + ``model.pt2``.

One function, :func:`load_pt2`, turns the folder into a :class:`Pt2Predictor`; ``runtime.load`` dispatches to it by
kind. The package was compiled at export (compile seconds in the manifest's ``compile`` section); loading it only
unpacks and ``dlopen``s the compiled library (``load_ms`` on the predictor).

A package is compiled for one device: a CPU package runs on the CPU (and only on CPUs with the instruction sets of
the machine that compiled it: its kernels are built with ``-march=native``), a CUDA package on a CUDA GPU.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from resnet_opt.core.errors import ArtifactError, BackendUnavailableError, first_line
from resnet_opt.engine.onnx_session import check_provider_name
from resnet_opt.core.manifest import Manifest
from resnet_opt.runtime.predictor import Predictor

__all__ = ["Pt2Predictor", "load_pt2", "missing_cpu_flags"]


def missing_cpu_flags(manifest: Manifest) -> list[str]:
    """Instruction-set flags the compiling CPU had (manifest ``cpu.flags``) that this CPU lacks."""
    from resnet_opt.core.env import cpu_info

    compiled = manifest.cpu.get("flags") or {}
    here = cpu_info().get("flags") or {}
    if not here:  # /proc/cpuinfo unreadable: cannot tell
        return []
    return sorted(f for f, v in compiled.items() if v and not here.get(f, False))


class Pt2Predictor(Predictor):
    """A loaded ``.pt2`` package. ``device`` (cpu | cuda), ``load_ms`` (unpack + dlopen of the package),
    ``import_ms`` (importing torch's package loader and collecting the objects it leaves: paid once per
    process, not per package), ``package_device``."""

    kind = "pt2"

    def __init__(self, path: Path, model_file: Path, manifest: Manifest, provider: str,
                 static_batch: int | None = None) -> None:
        from resnet_opt.runtime.predictor import input_size_of

        super().__init__(path, manifest, manifest.preprocessing, manifest.class_names,
                         manifest.architecture.num_classes, input_size_of(manifest), provider)
        pkg_dev = str(manifest.compile.device or "cpu")
        if pkg_dev not in ("cpu", "cuda"):
            raise ArtifactError(f"{path}: the manifest's compile.device is {pkg_dev!r}; expected cpu or cuda")
        self.package_device = pkg_dev
        p = check_provider_name(provider)
        if p == "tensorrt":
            raise BackendUnavailableError("the TensorRT provider applies to ONNX artifacts, not pt2 (use cpu or cuda)")
        if p == "auto":
            p = pkg_dev
            if p == "cuda" and not torch.cuda.is_available():
                raise BackendUnavailableError(f"{path} is a CUDA package and torch sees no GPU here")
        if p != pkg_dev:
            raise BackendUnavailableError(f"{path} was compiled for {pkg_dev}; it cannot run on {p} (export a package "
                                          f"for {p}: resnet-opt export pt2 --device {p})")
        if p == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError("CUDA is not available to torch here (no GPU or no CUDA build)")
        if p == "cpu":
            missing = missing_cpu_flags(manifest)
            if missing:
                raise BackendUnavailableError(f"{path} was compiled (-march=native) on a CPU with {', '.join(missing)}, "
                                              "which this CPU lacks; export the package again on this machine")
        self.device = torch.device(p)
        from resnet_opt.export.pt2_export import import_package_loader, load_package

        t0 = time.perf_counter()
        import_package_loader()  # once per process (with the collection of what it leaves); kept out of load_ms
        self.import_ms = (time.perf_counter() - t0) * 1e3

        t0 = time.perf_counter()
        try:
            self.module = load_package(model_file, p, static_batch=static_batch)
        except Exception as e:  # noqa: BLE001 - corrupt zip, missing library, ABI mismatch
            # load_package's ExportError wraps torch's error: quote torch's, not our wrapper's prefix again
            raise ArtifactError(f"{model_file} is not a loadable .pt2 package: {first_line(e.__cause__ or e)}") from e
        self.load_ms = (time.perf_counter() - t0) * 1e3
        self.provider = p
        recorded = manifest.compile.batch_sizes  # written for every package of static-batch models
        got = self.module.batch_sizes
        if recorded is not None and (list(got) if got else None) != list(recorded):
            raise ArtifactError(f"{path}: the manifest says the package serves batch sizes {recorded or 'dynamic'}, "
                                f"but {model_file.name} holds {list(got) if got else 'a dynamic-batch model'}")
        # the compiled batch sizes (None: dynamic); any batch runs, as chunks of these
        self.batch_sizes = got
        self.static_batch = None  # the artifact takes any batch size (its package chunks)

    @torch.no_grad()
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.to(self.device).contiguous())

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "load_ms": self.load_ms, "import_ms": self.import_ms,
                "package_device": self.package_device,
                "batch_sizes": list(self.batch_sizes) if self.batch_sizes else "dynamic"}


def load_pt2(art: Any, *, provider: str = "cpu", threads: int | None = None) -> Predictor:
    """The runtime loader of kind ``pt2`` (registered in :mod:`resnet_opt.core.manifest`): an opened artifact
    (:class:`resnet_opt.core.manifest.Artifact`, files already checked against their sha256) -> a
    :class:`Pt2Predictor`. ``threads``: the package's kernels follow torch's thread count (set it with
    ``torch.set_num_threads``; the CLI's ``--threads`` does)."""
    return Pt2Predictor(Path(art.path), Path(art.model_file), art.manifest, provider,
                        static_batch=art.manifest.static_batch)
