"""torch, imported on first use.

``import torch`` takes about 3 s (3.4 s on an AVX2-only AMD EPYC). The command line reads its
arguments and checks the whole config before it needs torch, so ``ganforge --help``, a typo in
a key or a value out of range answer in a fraction of a second. For that, the modules the
config consults (the registries: losses, schedules, optimizers, ...) and the modules they
import refer to torch through the proxies below instead of importing it at module level.

A proxy imports its module the first time an attribute is read and then caches the attribute,
so ``torch.zeros`` costs one dictionary lookup after the first call. Rules for a module that
uses them (``tests/test_imports.py`` checks that the config path imports no torch):

- no torch attribute at module level: annotations are strings (``from __future__ import
  annotations``), type aliases go under ``TYPE_CHECKING``, decorators use :func:`no_grad`;
- modules that subclass ``nn.Module`` (``nets/``, ``metrics/``) import torch normally and are
  imported only where a network is built.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any


class LazyModule:
    """Stands for the module ``name``; imports it when an attribute is first read."""

    def __init__(self, name: str):
        self.__dict__["_name"] = name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(importlib.import_module(self._name), attr)
        self.__dict__[attr] = value   # later reads are plain attribute lookups
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


torch: Any = LazyModule("torch")
nn: Any = LazyModule("torch.nn")
F: Any = LazyModule("torch.nn.functional")


def no_grad(fn):
    """``@torch.no_grad()`` without importing torch when the decorated function is defined."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.no_grad():
            return fn(*args, **kwargs)
    return wrapper


def lazy_exports(package: str, exports: dict[str, str]):
    """A package's module ``__getattr__`` (PEP 562): ``exports`` maps each public name to the
    submodule that defines it (or, for a submodule itself, its own path), imported when the name is first read. Lets ``import
    ganforge.config`` run without importing every submodule of ``ganforge``."""
    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name], package)
        return getattr(module, name, module)   # a submodule exported as itself has no such name
    return __getattr__
