"""The two players and what an update needs to know about them.

:class:`Players` bundles G, D, their optimizers, the loss (with its extra terms, an
:class:`~ganforge.objective.Objective`), the latent sampler and the precision
context. It holds no training logic: the update steps (``steps/``) read it and step it.
There is exactly one optimizer per network and no combined optimizer; :func:`check_optimizer`
proves at construction that ``opt_G`` holds exactly G's trainable parameters and ``opt_D``
exactly D's (a third, "combined" optimizer is how Keras users lose track of which learning
rate updates which network: docs/problems.md, problem 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._lazy import nn, torch

from .conditioning import Conditioning
from .distributed import CommTimer, World
from .errors import UserError
from .losses import Loss
from .objective import Objective
from .guard import FiniteGuard
from .precision import autocast
from .streams import Sharded



@dataclass(frozen=True)
class Player:
    """One network and the one optimizer that updates it. ``name`` ("G" or "D") keys its
    stats (``diag/grad_norm_D``) and its settings in the objective (clipping, update counts)."""

    name: str
    net: nn.Module
    opt: torch.optim.Optimizer

    def trainable(self) -> list[torch.Tensor]:
        return [t for t in self.net.parameters() if t.requires_grad]


@dataclass
class Players:
    """G, D, one optimizer each, the loss, and how to draw z and run forward passes."""

    G: nn.Module
    D: nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    loss: Loss
    z_shape: tuple[int, ...]
    device: torch.device
    precision: str = "fp32"   # "fp32", "bf16" or "fp16", as resolved (precision.py)
    z_generator: torch.Generator = field(default_factory=lambda: torch.Generator())
    z_dtype: torch.dtype | None = None   # None: float32
    objective: Objective = field(default_factory=Objective)
    diag_every: int = 10   # update-to-weight ratios every N updates of each network (0: never)
    world: World = field(default_factory=World)   # this process among several (distributed.py)
    # Several processes: the finiteness of each checked loss, settled by the next update's
    # all-reduce so that every process stops at the same step (steps/update.py).
    pending_checks: dict = field(default_factory=dict)
    comm: CommTimer = field(default_factory=CommTimer)
    # The non-finite checks: at once (defer=False), or kept on the device until the trainer
    # asks (Trainer.fit: no host sync per step; steps/guard.py).
    defer_checks: bool = False
    guard: FiniteGuard = field(default_factory=lambda: FiniteGuard())
    scaler: object = None   # fp16: a torch.amp.GradScaler (precision.py)
    cond: Conditioning | None = None   # class-conditional: G(z, y), D(x, y) (conditioning.py)

    @property
    def generator(self) -> Player:
        return Player("G", self.G, self.opt_G)

    @property
    def discriminator(self) -> Player:
        return Player("D", self.D, self.opt_D)

    def sample_z(self, n: int) -> torch.Tensor:
        """(n, *z_shape) standard normal latents from this run's own generator (not the global
        RNG, so sampling z is reproducible and checkpointed independently of dropout etc.).
        With several processes, this rank's rows of the global batch's latents."""
        z = Sharded(self.z_generator, self.world.rank, self.world.size).randn((n, *self.z_shape))
        return z.to(self.device, self.z_dtype or torch.float32, non_blocking=True)

    def sample_y(self, n: int) -> torch.Tensor | None:
        """n fake labels from the run's label stream; None for an unconditional run."""
        return None if self.cond is None else self.cond.sample(n, self.device)

    def autocast(self):
        """Forward-pass context: bf16/fp16 autocast with float32 master weights, or nothing."""
        return autocast(self.precision, self.device)


def is_keras(obj) -> bool:
    """A Keras model or layer, known by its classes' module (keras is never imported here)."""
    return any(c.__module__.split(".")[0] == "keras" for c in type(obj).__mro__)


def check_network(net, role: str) -> None:
    """A torch module, and not a raw Keras model: on Keras's torch backend one is a torch
    module too, but called as one it runs BatchNorm and Dropout in inference mode and takes
    channels-last images."""
    if is_keras(net):
        raise UserError(f"{role} is a Keras model: wrap both first with G, D = "
                        "ganforge.keras.wrap(G, D), which runs them in training mode and "
                        "converts the image layout (docs/coming-from-keras.md)")
    if not isinstance(net, nn.Module):
        raise UserError(f"{role} must be a torch.nn.Module, got {type(net).__name__}")


def check_optimizer(opt: torch.optim.Optimizer, own: nn.Module, own_name: str,
                    other: nn.Module, other_name: str) -> None:
    """Raise UserError unless ``opt`` holds exactly ``own``'s trainable parameters."""
    in_opt = {id(param) for group in opt.param_groups for param in group["params"]}
    other_ids = {id(param) for param in other.parameters()}
    own_trainable = {id(param): n for n, param in own.named_parameters() if param.requires_grad}
    opt_name = f"opt_{own_name}"
    stolen = in_opt & other_ids
    if stolen:
        raise UserError(
            f"{opt_name} holds {len(stolen)} parameter tensor(s) of {other_name}: each network "
            f"needs its own optimizer; build {opt_name} from {own_name}.parameters() only"
        )
    missing = [n for i, n in own_trainable.items() if i not in in_opt]
    if missing:
        raise UserError(
            f"{opt_name} does not update {len(missing)} trainable tensor(s) of {own_name} "
            f"(first: {missing[0]}); build {opt_name} from {own_name}.parameters(), or set "
            "requires_grad=False on parameters you mean to keep fixed"
        )
    foreign = in_opt - set(own_trainable) - {id(param) for param in own.parameters()}
    if foreign:
        raise UserError(
            f"{opt_name} holds {len(foreign)} tensor(s) that are not parameters of {own_name}; "
            f"build {opt_name} from {own_name}.parameters() only"
        )


def infer_z_shape(G: nn.Module, z_dim: int | tuple[int, ...] | None) -> tuple[int, ...]:
    """The latent shape: ``z_dim`` if given, else ``G.z_dim`` (the reference nets have it)."""
    if z_dim is None:
        z_dim = getattr(G, "z_dim", None)
    if z_dim is None:
        raise UserError(
            "cannot tell the latent size of G: pass z_dim=... to the Trainer, or give your "
            "generator an attribute `z_dim`"
        )
    return (int(z_dim),) if isinstance(z_dim, int) else tuple(int(d) for d in z_dim)


def param_dtype(module: nn.Module) -> torch.dtype:
    """The floating dtype of a module's parameters (z is drawn in it), float32 by default."""
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return torch.float32


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto``/None -> CUDA when present, else CPU; a device this machine does not have is a
    UserError (not an error from deep inside the first ``.to()``)."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise UserError(f"device={device!r} is not a device: use auto, cpu or cuda ({err})")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"device={device} but this PyTorch sees no CUDA GPU (a CPU-only "
                            "build, or no GPU visible): use device=cpu or device=auto")
        if dev.index is not None and dev.index >= count:
            raise UserError(f"device={device} but there {'is' if count == 1 else 'are'} only "
                            f"{count} CUDA device{'s' if count > 1 else ''} (cuda:0..{count - 1})")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device={device} but MPS is not available here: use device=cpu or auto")
    return dev
