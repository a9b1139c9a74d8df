"""Keras 3 models trained by ganforge (the optional extra: ``pip install ganforge[keras]``).

On Keras 3's torch backend a Keras model already computes with torch tensors, and its
variables hold ``torch.nn.Parameter`` objects. :func:`wrap` / :func:`to_torch` put a thin
``torch.nn.Module`` (:class:`KerasModule`) around such a model so that the Trainer, its
schedules, penalties, EMA, plan and doctor treat it like any torch network:

- ``parameters()`` are exactly the model's trainable variables (the very tensors Keras
  computes with); its non-trainable variables (BatchNormalization moving statistics, frozen
  layers, dropout seed states) are buffers, so they are checkpointed, copied by the EMA and
  restored by ``ganforge.sampling.untouched``, and no optimizer ever holds them;
- the module's ``train()``/``eval()`` mode is passed to Keras as ``training=``: a Keras model
  called directly runs BatchNormalization and Dropout in inference mode, which is not what a
  GAN wants while it trains;
- images cross the boundary once: ganforge's data is NCHW, Keras image layers default to
  NHWC, so a channels-last D gets its input permuted to NHWC and a channels-last G's output
  is permuted back to NCHW (read off the model's own layers' ``data_format``);
- ``copy.deepcopy`` (what the EMA does) copies the Keras model and wraps the copy.

Keras must run on the torch backend. Importing this module before ``keras`` selects it (it
sets ``KERAS_BACKEND=torch`` when the variable is unset); Keras imported with another backend
is a :class:`~ganforge.errors.UserError`. Keras itself is imported only when a function here
is called, so the rest of ganforge never imports it. See docs/coming-from-keras.md.
"""

from __future__ import annotations

import copy
import importlib
import os
import sys
from typing import Any

from ._lazy import nn, torch
from .errors import UserError

if "keras" not in sys.modules:   # import ganforge.keras first, keras second: torch backend
    os.environ.setdefault("KERAS_BACKEND", "torch")

FORMATS = ("channels_last", "channels_first")


# --- Keras itself --------------------------------------------------------------------------------
def require_keras():
    """The ``keras`` module, checked: Keras 3, running on the torch backend.

    Raises UserError when Keras is missing or is Keras 2, and when it was imported with another
    backend (that choice is made once, at ``import keras``, and cannot be changed afterwards).
    """
    try:
        keras = importlib.import_module("keras")
    except ImportError:
        raise UserError("ganforge.keras needs Keras 3, which is not installed: "
                        "pip install ganforge[keras]") from None
    version = getattr(keras, "__version__", "0")
    if int(version.split(".")[0]) < 3:
        raise UserError(f"ganforge.keras needs Keras 3, found Keras {version}: "
                        "pip install ganforge[keras]")
    backend = keras.backend.backend()
    if backend != "torch":
        raise UserError(f"Keras was imported with the {backend!r} backend, but ganforge trains "
                        "Keras models on the torch backend: set KERAS_BACKEND=torch before "
                        "importing keras (or import ganforge.keras first)")
    return keras


def _check_model(model: Any, keras, role: str) -> None:
    """A UserError unless ``model`` is a Keras model (a torch module is given its fix)."""
    if isinstance(model, KerasModule):
        raise UserError(f"{role} is already wrapped by ganforge.keras: pass it to the Trainer "
                        "as it is")
    if isinstance(model, keras.Model):
        return
    if isinstance(model, nn.Module):
        raise UserError(f"{role} is a torch module ({type(model).__name__}), not a Keras model: "
                        "pass it to ganforge.Trainer directly, without ganforge.keras")
    raise UserError(f"{role} must be a Keras model (keras.Sequential, a functional "
                    f"keras.Model or a keras.Model subclass), got {type(model).__name__}")


# --- image layout ----------------------------------------------------------------------------------
def image_format(model, explicit: str | None = None) -> str:
    """The image layout ``model`` computes in: ``explicit`` if given, else the ``data_format``
    of its layers that have one (convolutions, pooling, Flatten, ...), else Keras's default
    (``keras.config.image_data_format()``, normally channels_last)."""
    keras = require_keras()
    if explicit is not None:
        if explicit not in FORMATS:
            raise UserError(f"data_format must be one of {FORMATS}, got {explicit!r}")
        return explicit
    found = {layer.data_format for layer in model._flatten_layers(include_self=False)
             if getattr(layer, "data_format", None) in FORMATS}
    if len(found) > 1:
        raise UserError(f"{model.name} mixes channels_last and channels_first layers: pass "
                        "data_format='channels_last' or 'channels_first' for its input and "
                        "output images")
    return found.pop() if found else keras.config.image_data_format()


def to_keras_layout(x: torch.Tensor) -> torch.Tensor:
    """NCHW -> NHWC (a view; Keras's torch convolutions permute back without a copy)."""
    return x.permute(0, 2, 3, 1)


def to_torch_layout(x: torch.Tensor) -> torch.Tensor:
    """NHWC -> NCHW (a view)."""
    return x.permute(0, 3, 1, 2)


# --- the module ---------------------------------------------------------------------------------
class KerasModule(nn.Module):
    """A built Keras model as a torch module (see the module docstring).

    ``keras_model``: the wrapped model; it stays usable by Keras and shares its variables with
    this module (training here changes it, ``keras_model.save`` saves the trained weights).
    ``channels_last``: whether 4-D inputs and outputs are permuted at the boundary.
    ``z_dim``: the input size when the model is built on a flat ``keras.Input`` (for G, the
    latent size the Trainer reads), else None.

    The trainable/non-trainable split is read once, here: changing ``layer.trainable`` on the
    Keras model afterwards does not change which tensors the optimizers hold (wrap again).
    """

    def __init__(self, model, *, data_format: str | None = None):
        super().__init__()
        keras = require_keras()
        _check_model(model, keras, "the model")
        if not model.built:
            raise UserError(f"the Keras model {model.name!r} is not built yet: call it once on "
                            "a batch, or use ganforge.keras.to_torch(model, input_shape=...)")
        # Not a submodule: Keras registers every variable of it as a torch parameter,
        # trainable or not; this module registers the trainable ones only.
        self.__dict__["keras_model"] = model
        self.channels_last = image_format(model, data_format) == "channels_last"
        self.__dict__["_variables"] = _register_variables(self, model)
        shape = _input_shape(model)
        self.z_dim = shape[0] if shape is not None and len(shape) == 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The Keras model on ``x``, in training mode exactly when this module is in train()
        mode; 4-D images in and out are NCHW."""
        if self.channels_last and x.dim() == 4:
            x = to_keras_layout(x)
        out = self.keras_model(x, training=self.training)
        if self.channels_last and out.dim() == 4:
            out = to_torch_layout(out)
        return out

    def __deepcopy__(self, memo: dict) -> "KerasModule":
        """A copy with its own Keras model and its own tensors: what ``ganforge.ema.EMA``
        makes of G. Keras copies a model by saving and reloading it, which does not keep
        every state (dropout seed states restart), so this module's whole state is then
        loaded into the copy: it equals the original bit for bit. Mode and requires_grad flags
        are copied too."""
        clone = KerasModule(_copy_keras_model(self.keras_model),
                            data_format=FORMATS[0] if self.channels_last else FORMATS[1])
        try:
            clone.load_state_dict(self.state_dict())
        except RuntimeError as err:
            raise UserError(f"Keras's copy of {self.keras_model.name!r} does not have the "
                            f"variables of the model itself ({err}); make its get_config() "
                            "describe the whole model") from None
        clone.train(self.training)
        for mine, theirs in zip(self.parameters(), clone.parameters()):
            theirs.requires_grad_(mine.requires_grad)
        memo[id(self)] = clone
        return clone

    def _apply(self, fn, recurse=True):
        """``.to()``, ``.float()``, ...: then hand any tensor torch replaced back to its Keras
        variable, so Keras and this module keep computing with the same tensors."""
        super()._apply(fn, recurse)
        for store in (self._parameters, self._buffers):
            for name, new in store.items():
                value = self._variables[name].value
                if new is not value:   # Keras keeps its tensor object, with the new data
                    value.data = new.data
                    store[name] = value
        return self

    def extra_repr(self) -> str:
        layout = "NCHW <-> NHWC at the boundary" if self.channels_last else "NCHW as is"
        return (f"keras_model={type(self.keras_model).__name__}({self.keras_model.name!r}), "
                f"{layout}")


def _copy_keras_model(model):
    """``copy.deepcopy`` of a Keras model, which Keras implements as a save and a load: a
    subclassed model must be serializable for that (the same as for ``export_generator``)."""
    try:
        return copy.deepcopy(model)
    except Exception as err:   # Keras raises TypeError, ValueError, ... from deserialization
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"cannot copy the Keras model {model.name!r} (an EMA of G needs a copy): Keras "
            f"copies a model by saving and reloading it, and that failed ({first}). For a "
            "subclassed model: decorate its class with "
            "@keras.saving.register_keras_serializable(), let __init__ take **kwargs for "
            "super().__init__, and return its own arguments from get_config()") from None


def _register_variables(module: nn.Module, model) -> dict:
    """Register the model's trainable variables as parameters and the others as buffers, under
    names from their order in ``model.variables`` (``v3_moving_mean``): stable across processes,
    unlike Keras's layer names, which count up per process. Returns name -> variable."""
    trainable = {id(v) for v in model.trainable_variables}
    names = {}
    for i, var in enumerate(model.variables):
        value = var.value
        if not isinstance(value, torch.nn.Parameter):
            raise UserError(f"the Keras variable {var.path} is not a torch tensor: run Keras on "
                            "the torch backend (set KERAS_BACKEND=torch before importing keras)")
        name = f"v{i}_{var.name}".replace(".", "_")
        if id(var) in trainable:
            module.register_parameter(name, value)
        else:
            module.register_buffer(name, value)
        names[name] = var
    return names


def _input_shape(model) -> tuple[int, ...] | None:
    """One sample's input shape of a model built on a keras.Input, else None."""
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        return None
    shape = tuple(inputs[0].shape[1:])
    return shape if all(isinstance(d, int) for d in shape) else None


# --- the public entries ---------------------------------------------------------------------------
def to_torch(model, *, input_shape: tuple[int, ...] | int | None = None,
             data_format: str | None = None) -> KerasModule:
    """A Keras model as a torch module for ganforge.

    ``input_shape``: the shape of one sample as ganforge passes it (NCHW for images; an int
    for a latent size), needed only when the model is not built yet (a subclassed model never
    called): it is then built by calling it once on zeros in inference mode.
    ``data_format``: override the image layout read off the model's layers.
    """
    keras = require_keras()
    _check_model(model, keras, "the model")
    if not model.built:
        if input_shape is None:
            raise UserError(f"the Keras model {model.name!r} is not built yet: pass "
                            "input_shape=... (one sample's shape; NCHW for images), or call "
                            "the model once on a batch")
        _build(model, input_shape, data_format)
    return KerasModule(model, data_format=data_format)


def _build(model, input_shape, explicit: str | None) -> None:
    """Call ``model`` once on zeros of ``input_shape`` (NCHW as ganforge passes it), in
    inference mode and without gradients: creates its variables, changes no state."""
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    x = torch.zeros((2, *shape))
    if len(shape) == 3 and image_format(model, explicit) == "channels_last":
        x = to_keras_layout(x)
    with torch.no_grad():
        model(x, training=False)


def wrap(G, D, *, z_dim: int | tuple[int, ...] | None = None,
         data_format: str | None = None) -> tuple[KerasModule, KerasModule]:
    """(G, D) Keras models -> (G, D) torch modules for ``ganforge.Trainer``.

    G maps z (N, z_dim) to samples, D maps samples to one logit per sample (no sigmoid:
    ganforge's losses take raw logits). ``z_dim`` is needed only when G is not built on a
    ``keras.Input``; an unbuilt D is built on G's output. The trainer's start-up checks
    (``fit``) then check the shapes against the data.
    """
    keras = require_keras()
    _check_model(G, keras, "G")
    _check_model(D, keras, "D")
    if not G.built and z_dim is None:
        raise UserError("G is not built on a keras.Input, so its latent size is unknown: pass "
                        "z_dim=... to ganforge.keras.wrap")
    G_t = to_torch(G, input_shape=z_dim, data_format=data_format)
    if G_t.z_dim is None and z_dim is not None:
        G_t.z_dim = z_dim
    if not D.built:
        _build_on_fake(D, G_t, data_format)
    _check_trainable(G, "G")
    _check_trainable(D, "D")
    _check_discriminator(D, keras)
    return G_t, KerasModule(D, data_format=data_format)


def _check_trainable(model, role: str) -> None:
    """Refuse a network with nothing to train: ``D.trainable = False`` left over from the
    combined-model habit would otherwise give an optimizer with no parameters."""
    if not model.trainable_variables:
        raise UserError(f"{role} ({model.name!r}) has no trainable variables (trainable = False "
                        f"from a combined-model setup?): set {role}.trainable = True; ganforge "
                        "freezes each network itself while the other one trains")


def _build_on_fake(D, G_t: KerasModule, explicit: str | None) -> None:
    """Build D by calling it on G's output for a batch of zeros (inference mode)."""
    if G_t.z_dim is None:
        raise UserError("D is not built and G's latent size is unknown: pass z_dim=... to "
                        "ganforge.keras.wrap")
    shape = (G_t.z_dim,) if isinstance(G_t.z_dim, int) else tuple(G_t.z_dim)
    was_training = G_t.training
    with torch.no_grad():
        fake = G_t.eval()(torch.zeros((2, *shape)))
    G_t.train(was_training)
    _build(D, tuple(fake.shape[1:]), explicit)


def _check_discriminator(D, keras) -> None:
    """Refuse what the model's structure already shows is no ganforge D: more than one output
    value per sample, or a final sigmoid (the trainer's checks cover the rest at ``fit``)."""
    outputs = getattr(D, "outputs", None)
    if outputs and len(outputs) == 1:
        shape = tuple(outputs[0].shape[1:])
        if shape not in ((), (1,)):
            raise UserError(f"D must return one logit per sample, but {D.name!r} outputs shape "
                            f"{shape} per sample: end it with keras.layers.Dense(1)")
    layers = D._flatten_layers(include_self=False)
    last = layers[-1] if layers else None
    if last is not None and getattr(last, "activation", None) is keras.activations.sigmoid:
        raise UserError(f"D's last layer {last.name!r} applies a sigmoid, but ganforge's losses "
                        "take raw logits: remove activation='sigmoid' from it (in Keras terms, "
                        "the losses are from_logits=True)")


def export_generator(G, path: str | os.PathLike, *, verify: bool = True) -> str:
    """Save a wrapped Keras generator (``trainer.G``, or ``trainer.G_ema`` for the averaged
    weights) as a ``.keras`` file that ``keras.saving.load_model`` reads. The saved model is
    the Keras model itself: it takes z and returns images in its own layout (NHWC for a
    channels-last G), in inference mode unless called with ``training=True``.

    ``verify``: load the file back and compare its outputs with the wrapper's (eval mode) on a
    few latents; a model that saves but does not load (a subclassed model without
    ``get_config`` or ``@keras.saving.register_keras_serializable``) is a UserError.
    Returns the path written.
    """
    keras = require_keras()
    if not isinstance(G, KerasModule):
        raise UserError(f"export_generator takes a generator wrapped by ganforge.keras.wrap "
                        f"(trainer.G or trainer.G_ema), got {type(G).__name__}")
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise UserError(f"a Keras model file must end in .keras, got {path!r}")
    G.keras_model.save(path)
    if verify:
        _verify_export(G, path, keras)
    return path


def _verify_export(G: KerasModule, path: str, keras) -> None:
    """Load ``path`` and check it maps a few latents as G does in eval mode."""
    try:
        loaded = keras.saving.load_model(path)
    except Exception as err:   # Keras raises several types here, each a user's model issue
        raise UserError(f"{path} was written but Keras cannot load it ({err}); a subclassed "
                        "model needs get_config() and @keras.saving.register_keras_serializable"
                        "()") from None
    if G.z_dim is None:
        return
    shape = (G.z_dim,) if isinstance(G.z_dim, int) else tuple(G.z_dim)
    z = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0))
    from .sampling import generate
    ours = generate(G, z, mode="eval")
    theirs = loaded(z, training=False)
    if G.channels_last and theirs.dim() == 4:
        theirs = to_torch_layout(theirs)
    if not torch.allclose(ours, theirs.detach().float(), rtol=1e-5, atol=1e-6):
        raise UserError(f"{path} loads, but its outputs differ from the trained generator's: "
                        "a custom layer probably does not save all of its state")
