"""What an artifact is, at a glance: ``inspect_artifact(path)`` opens an artifact folder or a model folder through
:func:`resnet_opt.core.manifest.open_artifact`, checks every file against the size and sha256 its manifest records,
and returns an :class:`ArtifactInfo` (kind, files and hashes, input/output, preprocessing, classes, validation and
measured figures, provenance). ``resnet-opt inspect`` prints it as a table or JSON."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from resnet_opt.core.artifact import sha256_file
from resnet_opt.core.manifest import open_artifact


@dataclass
class FileCheck:
    path: str
    role: str
    size: int | None
    sha256: str  # computed now
    recorded_sha256: str | None
    status: str  # "ok" (matches the manifest) | "mismatch" | "not recorded" | "missing"


@dataclass
class ArtifactInfo:
    path: str
    kind: str
    kind_description: str
    precision: str
    stage: str | None
    architecture: str | None
    num_classes: int | None
    fused: bool | None
    pruned: bool
    trained: bool
    input: dict[str, Any] | None
    output: dict[str, Any] | None
    preprocessing: dict[str, Any] | None
    class_names: list[str] | None
    files: list[FileCheck] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)  # flattened: "top1_agreement": 100.0, ...
    measurements: dict[str, Any] = field(default_factory=dict)  # flattened: "latency_ms.int8": 0.29, ...
    settings: dict[str, Any] = field(default_factory=dict)  # the stage's own section: "quantization.method": ...
    created: str | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    cpu: str | None = None  # model and ISA of the CPU it was built / measured on
    manifest_version: int | None = None

    @property
    def verified(self) -> bool:
        """Every file is present, and every recorded sha256 matches."""
        return all(f.status in ("ok", "not recorded") for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verified"] = self.verified
        return d


def flatten(d: Any, prefix: str = "", *, max_list: int = 8) -> dict[str, Any]:
    """Nested dicts as dotted keys with scalar values (short lists kept, long ones summarised, histories dropped)."""
    out: dict[str, Any] = {}
    if not isinstance(d, dict):
        return out
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + ".", max_list=max_list))
        elif isinstance(v, list):
            if all(not isinstance(x, (dict, list)) for x in v):
                out[key] = v if len(v) <= max_list else f"{len(v)} items"
        elif v is not None:
            out[key] = v
    return out


def _isa(cpu: dict[str, Any]) -> str | None:
    if not cpu:
        return None
    flags = cpu.get("flags") or {}
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if flags.get(f)]
    return f"{cpu.get('model', '?')} ({', '.join(isa) or 'ISA not recorded'})"


def inspect_artifact(path: str | os.PathLike) -> ArtifactInfo:
    """Open ``path`` (artifact folder or model folder) and describe it; file hashes are checked, not trusted: a
    mismatch is reported in ``files[i].status`` (and ``verified`` is False) rather than raised, so a damaged artifact
    can still be inspected."""
    art = open_artifact(path, verify=False)  # presence is checked; hashes are compared below, file by file
    m = art.manifest
    files: list[FileCheck] = []
    for e in m.files:
        p = art.path / e.path
        if not p.is_file():
            files.append(FileCheck(e.path, e.role, None, "", e.sha256, "missing"))
            continue
        got = sha256_file(p)
        status = "not recorded" if not e.sha256 else ("ok" if got == e.sha256 else "mismatch")
        if e.size is not None and e.size != p.stat().st_size:
            status = "mismatch"
        files.append(FileCheck(e.path, e.role, p.stat().st_size, got, e.sha256, status))
    arch = m.architecture
    widths = arch.widths or {}
    settings: dict[str, Any] = {}
    for section in ("pruning", "quantization", "export", "fusion", "finetune"):
        sec = m.section(section)
        if sec:  # the stage's settings, e.g. quantization.method
            sec = sec.to_dict() if hasattr(sec, "to_dict") else sec
            if isinstance(sec, dict):
                settings.update({f"{section}.{k}": v for k, v in flatten(sec).items()
                                 if not k.startswith(("history", "pairs", "search", "groups", "nodes"))})
    comp = m.compile
    if comp:  # a .pt2 package: what it was compiled for (batch_sizes None: one dynamic-batch model)
        settings.update({"compile.device": comp.device, "compile.batch_sizes": comp.batch_sizes or "dynamic"})
        settings.update({f"compile.{k}": getattr(comp, k) for k in ("vec_isa", "compile_seconds")
                         if getattr(comp, k) is not None})
    return ArtifactInfo(
        path=str(art.path), kind=m.kind, kind_description=art.info.description, precision=m.precision, stage=m.stage,
        architecture=m.architecture_name, num_classes=m.num_classes,
        fused=arch.fused if isinstance(arch.fused, bool) else None,
        pruned=bool(widths) or bool(m.pruning), trained=m.trained,
        input=m.input.to_dict() if m.input is not None else None,
        output=m.output.to_dict() if m.output is not None else None,
        preprocessing=m.preprocessing.to_dict() if m.preprocessing is not None else None, class_names=m.class_names,
        files=files, source=m.source.to_dict(), validation=flatten(m.validation.to_dict() if m.validation else {}),
        measurements=flatten(m.measurements.to_dict()), settings=settings, created=m.created,
        versions=dict(m.versions), cpu=_isa(m.cpu), manifest_version=m.format_version,
    )


__all__ = ["ArtifactInfo", "FileCheck", "inspect_artifact", "flatten"]
