"""`import modal` resolves to squall inside `squall run` and in containers."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys


class _ModalAliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == "modal" or fullname.startswith("modal."):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("squall" + spec.name[len("modal"):])

    def exec_module(self, module):
        pass


def install_modal_alias() -> None:
    """Make `import modal` (and `modal.x`) give squall, unless a real modal is already imported."""
    if "modal" in sys.modules or any(isinstance(f, _ModalAliasFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _ModalAliasFinder())
