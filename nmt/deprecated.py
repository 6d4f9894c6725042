"""Old import paths, kept for one release after the package was grouped into layers (0.2).

`import nmt.translator` still works and gives the module now at `nmt.decoding.translator` (the
very same module object), with a `DeprecationWarning` naming the new path. The table is the
whole mechanism: a finder consulted only for these names, so nothing else about importing
changes, and `grep` finds every alias. Remove the finder and this file in 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "nmt.alignment": "nmt.decoding.alignment",
    "nmt.allocator": "nmt.training.allocator",
    "nmt.cli": "nmt.commands.main",  # console scripts of an install made before 0.2
    "nmt.download": "nmt.data.download",
    "nmt.evaluate": "nmt.metrics",  # score, paired_bootstrap; the command is nmt.commands.evaluate
    "nmt.machine": "nmt.training.machine",
    "nmt.module": "nmt.training.module",
    "nmt.optim": "nmt.training.optim",
    "nmt.precision": "nmt.training.precision",
    "nmt.quantization": "nmt.decoding.quantization",
    "nmt.recipe_results": "nmt.recipe.results",
    "nmt.search": "nmt.decoding.search",
    "nmt.shortlist": "nmt.decoding.shortlist",
    "nmt.throughput": "nmt.training.throughput",
    "nmt.train": "nmt.training.run",  # train(), RunPaths; the command is nmt.commands.train
    "nmt.translator": "nmt.decoding.translator",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old names in `MOVED` and loads them as the module at the new path."""

    def find_spec(self, name, path=None, target=None):
        if name not in MOVED:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} is deprecated and will be removed in nmt 0.3; import {new} instead",
                      DeprecationWarning, stacklevel=_importer_level())
        return importlib.import_module(new)

    def exec_module(self, module) -> None:
        """The module at the new path is already executed; the old name only points at it."""


def _importer_level() -> int:
    """The `stacklevel` of the frame that wrote the import, past importlib's own frames, so the
    warning names the user's file (and Python shows it by default when that is `__main__`)."""
    frame, level = sys._getframe(2), 3
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen importlib")
                                 or frame.f_code.co_filename == __file__):
        frame, level = frame.f_back, level + 1
    return level


def install() -> None:
    """Put the finder last on `sys.meta_path` (once): it only answers names no other finder has."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())
