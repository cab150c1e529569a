"""Bench stage: turn folders / a depth / a weights file into variants, measure them, write the report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from resnet_opt.bench import BenchConfig, BenchResult, run_benchmark, write_report
from resnet_opt.bench.variants import (
    Variant, unique_name, variant_from_depth, variant_from_model, variant_from_path,
)
from resnet_opt.core.errors import ConfigError


def bench_variants(
    paths: Sequence[str | os.PathLike] = (),
    *,
    depth: int | str | None = None,
    weights: str | os.PathLike | None = None,
    model_dir: str | os.PathLike | None = None,
    data: str | None = None,
    input_size: int | None = None,
    num_classes: int | None = None,
) -> list[Variant]:
    """Variants for artifact/model folders, plus ``model_dir``, a ``weights`` file and/or a random-init ``depth``.

    Every folder is checked (manifest and model file present) before anything is measured."""
    from resnet_opt.data import input_size_for, num_classes_for, parse_data_spec

    spec = parse_data_spec(data) if data is not None else None
    if input_size is not None and input_size < 8:
        raise ConfigError(f"--input-size must be at least 8, got {input_size}")
    if num_classes is not None and num_classes < 1:
        raise ConfigError(f"--num-classes must be at least 1, got {num_classes}")
    taken: set[str] = set()
    out: list[Variant] = []
    for p in list(paths) + ([model_dir] if model_dir is not None else []):
        v = variant_from_path(p)
        v.name = unique_name(v.name, taken)
        out.append(v)
    size = input_size or (input_size_for(spec) if spec is not None else 224)
    if weights is not None:
        from resnet_opt.resnet import load_source

        src = load_source(depth=depth, weights=weights, num_classes=num_classes, input_size=size)
        out.append(variant_from_model(src.model, unique_name(Path(weights).stem, taken), input_size=size,
                                      trained=True, preprocessing=src.preprocessing, stage="weights"))
    elif depth is not None:
        n = num_classes or (num_classes_for(spec) if spec is not None else None) or 1000
        v = variant_from_depth(depth, input_size=size, num_classes=n)
        v.name = unique_name(v.name, taken)
        out.append(v)
    if not out:
        raise ConfigError("nothing to benchmark: give ARTIFACT_DIR..., --model DIR, --weights FILE or --depth N")
    return out


def bench_and_report(variants: list[Variant], config: BenchConfig, report_dir: str | os.PathLike, *,
                     progress: bool = False, log: Callable[[str], None] | None = None,
                     title: str = "resnet-opt benchmark", command: str | None = None) -> tuple[BenchResult, dict[str, Path]]:
    """Measure ``variants`` and write report.md / results.json / results.csv / the plot into ``report_dir``."""
    result = run_benchmark(variants, config, progress=progress, log=log, title=title, command=command)
    return result, write_report(result, report_dir)


def bench_paths(paths: Sequence[str | os.PathLike], config: BenchConfig, report_dir: str | os.PathLike, *,
                depth: int | str | None = None, weights: str | os.PathLike | None = None,
                model_dir: str | os.PathLike | None = None, input_size: int | None = None,
                num_classes: int | None = None, progress: bool = False,
                log: Callable[[str], None] | None = None) -> tuple[BenchResult, dict[str, Any]]:
    """The `resnet-opt bench` job: validate the inputs, measure, write the report."""
    config.validate()  # unknown backend / bad batch size fail before any folder is read
    variants = bench_variants(paths, depth=depth, weights=weights, model_dir=model_dir, data=config.data,
                              input_size=input_size, num_classes=num_classes)
    return bench_and_report(variants, config, report_dir, progress=progress, log=log)
