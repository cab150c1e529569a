"""Bench stage: turn folders / a depth / a weights file into variants, measure them, write the report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from resnet_opt.bench import BenchConfig, BenchResult, run_benchmark, write_report
from resnet_opt.bench.variants import (
    Variant, unique_name, variant_from_depth, variant_from_model, variant_from_path,
)
from resnet_opt.core.errors import ConfigError, NothingMeasuredError


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
    from resnet_opt.core.checks import MAX_CLASSES, check_input_size, check_int

    check_input_size(input_size)
    check_int("--num-classes", num_classes, 1, MAX_CLASSES, optional=True)
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


def resolve_reference(variants: list[Variant], reference: str | None) -> str | None:
    """``--reference`` may name a variant or one of the folders given: return the variant name."""
    if reference is None or any(v.name == reference for v in variants):
        return reference
    want = Path(reference).expanduser().resolve()
    for v in variants:
        if v.path is not None and Path(v.path).resolve() == want:
            return v.name
    names = ", ".join(v.name for v in variants)
    raise ConfigError(f"--reference {reference!r} is neither a variant name ({names}) nor one of the folders given")


def bench_paths(paths: Sequence[str | os.PathLike], config: BenchConfig, report_dir: str | os.PathLike | None, *,
                depth: int | str | None = None, weights: str | os.PathLike | None = None,
                model_dir: str | os.PathLike | None = None, input_size: int | None = None,
                num_classes: int | None = None, progress: bool = False,
                log: Callable[[str], None] | None = None) -> tuple[BenchResult, dict[str, Any]]:
    """The `resnet-opt bench` job: validate the inputs, measure, write the report (into ``report_dir``; none when it is
    None)."""
    config.validate()  # unknown backend / bad batch size fail before any folder is read
    variants = bench_variants(paths, depth=depth, weights=weights, model_dir=model_dir, data=config.data,
                              input_size=input_size, num_classes=num_classes)
    config.reference = resolve_reference(variants, config.reference)
    result = run_benchmark(variants, config, progress=progress, log=log)
    if not any(r.status == "ok" and any(t.stats is not None for t in r.timings) for r in result.rows):
        # refused before the report is written: no folder is left behind for a run that measured nothing
        why = "; ".join(sorted({f"{r.backend}: {r.reason}" for r in result.rows if r.reason})[:3]) or "no backend ran"
        raise NothingMeasuredError(f"nothing was measured ({why})")
    return result, (write_report(result, report_dir) if report_dir is not None else {})
