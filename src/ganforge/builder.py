"""Your own networks from the command line: ``model=path/to/nets.py:build`` or
``model=package.module:build``.

The builder is a function called with keywords and returning ``(G, D)``::

    def build(sample_shape, z_dim, n_classes=None, **options):   # options: your model.* keys
        return MyGenerator(z_dim, sample_shape), MyDiscriminator(sample_shape)

``sample_shape`` is one sample's shape, (C, H, W) or (D,), read from the data; ``z_dim`` is
``model.z_dim``; ``n_classes`` is the number of classes of a class-conditional run
(``data.conditional=true``: then G is called G(z, y) and D D(x, y), docs/conditional.md), else
None; every other ``model.*`` key you set (``model.depth=4``) is passed
as it is and stored in config.yaml like every other key, so ``--resume``, ``sample`` and
``eval`` rebuild the same networks. A file path is stored resolved (absolute), so a run
continues from any directory. A builder may return Keras 3 models (``ganforge.keras``).

A run directory is data: ``sample``, ``eval`` and ``--resume`` on a run whose config names a
builder import it only when the user says so (``--trust-model-code``, or the builder named
again with ``model=``); otherwise one clean error says what would be imported and how to allow
it. ``doctor`` never imports it. Every failure of the user's code is one message: a missing
file or function, an exception in the builder (its message and where in the user's file it
was raised), a result that is not two modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import traceback
from pathlib import Path

from .errors import UserError

# model.* keys that configure ganforge's own networks; with a builder they would do nothing
OWN_NET_KEYS = ("width", "g_batchnorm", "init", "d_batchnorm", "d_dropout",
                "d_minibatch_stddev", "d_minibatch_disc")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def is_builder(name: str) -> bool:
    """Whether ``model=name`` names a builder (``file.py:function`` or ``module:function``)."""
    return isinstance(name, str) and ":" in name


def split_spec(spec: str) -> tuple[str, str]:
    """``where:function`` -> (where, function), checked for shape only (no file access)."""
    where, _, function = spec.rpartition(":")
    if not where or not function.isidentifier():
        raise UserError(f"model={spec!r}: a builder is given as path/to/file.py:function or "
                        "package.module:function (the function returns (G, D))")
    if not where.endswith(".py") and not _MODULE.match(where):
        raise UserError(f"model={spec!r}: {where!r} is neither a .py file nor a module name "
                        "like package.module")
    return where, function


def normalize(spec: str) -> str:
    """A file path resolved (absolute), so the run can continue from any directory."""
    where, function = split_spec(spec)
    if where.endswith(".py"):
        return f"{Path(where).expanduser().resolve()}:{function}"
    return spec


def short_name(spec: str) -> str:
    """A name for run directories: ``nets-build`` for ``/x/nets.py:build``."""
    where, function = split_spec(spec)
    stem = Path(where).stem if where.endswith(".py") else where.rsplit(".", 1)[-1]
    return f"{stem}-{function}"


def untrusted_message(spec: str, command: str) -> str:
    return (f"this run's networks come from your code, {spec}; `ganforge {command}` imports it "
            "only when you say so, since a run directory may come from someone else: add "
            "--trust-model-code (or name the builder again with model=...)")


def _load_function(spec: str):
    where, function = split_spec(spec)
    if "keras" not in sys.modules:   # a builder that imports keras gets the torch backend
        os.environ.setdefault("KERAS_BACKEND", "torch")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise UserError(f"model={spec}: no file {path}; check the path")
        name = f"ganforge_user_model_{abs(hash(str(path)))}"
        try:
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module   # dataclasses and pickling look the module up
            module_spec.loader.exec_module(module)
        except Exception as err:   # the user's file failed while being imported
            sys.modules.pop(name, None)
            raise UserError(f"importing {path} failed: {_user_error(err, path)}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as err:
            if err.name and where.startswith(err.name):
                raise UserError(f"model={spec}: no module {where!r} (is it installed, or on "
                                "PYTHONPATH?)") from None
            raise UserError(f"importing {where} failed: {_user_error(err, None)}") from None
        except Exception as err:
            raise UserError(f"importing {where} failed: {_user_error(err, None)}") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        found = sorted(n for n, v in vars(module).items()
                       if callable(v) and not n.startswith("_") and
                       getattr(v, "__module__", None) == module.__name__)
        raise UserError(f"model={spec}: {where} has no function {function!r}"
                        + (f" (it defines: {', '.join(found)})" if found else ""))
    return fn


def _user_error(err: BaseException, path: Path | None) -> str:
    """``Type: message``, and the last line of the user's code in the traceback."""
    where = ""
    frames = traceback.extract_tb(err.__traceback__)
    ours = str(Path(__file__).resolve().parent)
    for frame in reversed(frames):
        if not frame.filename.startswith(ours) and "importlib" not in frame.filename:
            where = f" (at {frame.filename}:{frame.lineno}, in {frame.name})"
            break
    return f"{type(err).__name__}: {err}{where}"


def build(spec: str, sample_shape: tuple[int, ...], z_dim: int, options: dict,
          n_classes: int | None = None):
    """Call the builder and check what it returns: (G, D) as torch modules (Keras models are
    wrapped by ``ganforge.keras``). ``n_classes``: the classes of a conditional run."""
    fn = _load_function(spec)
    kwargs = {"sample_shape": tuple(sample_shape), "z_dim": z_dim, "n_classes": n_classes,
              **options}
    try:
        result = fn(**kwargs)
    except TypeError as err:
        if "argument" in str(err) and err.__traceback__.tb_next is None:
            raise UserError(f"model={spec}: calling it with {', '.join(kwargs)} failed "
                            f"({err}); a builder takes sample_shape, z_dim, n_classes and your "
                            "model.* keys (add **options to take the rest)") from None
        raise UserError(f"the model builder {spec} raised {_user_error(err, None)}") from None
    except Exception as err:
        raise UserError(f"the model builder {spec} raised {_user_error(err, None)}") from None
    return _check_pair(spec, result, z_dim)


def _check_pair(spec: str, result, z_dim: int):
    import torch

    if not isinstance(result, (tuple, list)) or len(result) != 2:
        what = (f"a {type(result).__name__} of {len(result)}"
                if isinstance(result, (tuple, list)) else type(result).__name__)
        raise UserError(f"the model builder {spec} must return (G, D), two networks; it "
                        f"returned {what}")
    from .players import is_keras

    if all(is_keras(net) for net in result):   # Keras 3 models: run in training mode, NCHW
        from .keras import wrap
        return wrap(result[0], result[1], z_dim=z_dim)
    for role, net in zip(("G", "D"), result):
        if is_keras(net):
            raise UserError(f"the model builder {spec} returned a Keras model as {role} and a "
                            "torch module as the other: return two Keras models or two torch "
                            "modules")
        if not isinstance(net, torch.nn.Module):
            raise UserError(f"the model builder {spec} returned a {type(net).__name__} as "
                            f"{role}; it must be a torch.nn.Module (or a Keras 3 model)")
    return result[0], result[1]

