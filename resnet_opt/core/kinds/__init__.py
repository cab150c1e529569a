"""The artifact kinds, one module each: a module here calls :func:`resnet_opt.core.registry.register_kind` once,
and this package imports every module in it, so a new kind is one new file here (plus its tests) and nothing else.

Importing :mod:`resnet_opt.core.manifest` imports this package: :data:`resnet_opt.core.registry.KINDS` is full
wherever manifests are used.
"""

from __future__ import annotations

import importlib
import pkgutil

from resnet_opt.core.registry import KINDS

__all__ = ["KINDS", "KIND_MODULES"]

# the modules that registered the kinds, in discovery (alphabetical) order
KIND_MODULES: tuple[str, ...] = tuple(
    f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
for _mod in KIND_MODULES:
    importlib.import_module(_mod)
