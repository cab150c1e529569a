"""Predict stage settings: ``resnet-opt predict ARTIFACT IMAGE...``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from resnet_opt.core.errors import ArtifactError, DataError

__all__ = ["PredictConfig"]

MAX_IMAGES = 100_000


@dataclass
class PredictConfig:
    """The artifact, the images (files, folders, glob patterns) and how to run them, checked once in
    :meth:`validate` before the model is loaded."""

    artifact: str | os.PathLike
    images: list[str | os.PathLike] = field(default_factory=list)
    top_k: int = 5
    provider: str = "cpu"
    threads: int | None = None
    files: list[Path] = field(default_factory=list, init=False)  # the images resolved by validate(), in order

    def validate(self) -> None:
        from resnet_opt.core.checks import check_int, check_threads
        from resnet_opt.runtime import check_runtime_provider

        check_int("--top-k", self.top_k, 1, 100_000)
        check_threads(self.threads)
        self.provider = check_runtime_provider(self.provider)
        a = Path(self.artifact)
        if not a.exists():
            raise ArtifactError(f"artifact {a} does not exist")
        if not a.is_dir():
            raise ArtifactError(f"{a} is a file; pass the artifact or model folder that holds it")
        from resnet_opt.runtime.images import resolve_images

        files = resolve_images(self.images)  # files, folders, globs: each must match an image
        if len(files) > MAX_IMAGES:
            raise DataError(f"{len(files)} images given; at most {MAX_IMAGES} per call")
        self.files = list(files)
