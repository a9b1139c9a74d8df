"""Several processes training one model: the process group, and the few collectives ganforge
needs, on PyTorch's own engine (torch.distributed: NCCL on GPUs, gloo on CPUs), launched by
``torchrun``. No launcher, rendezvous or communication layer of ganforge's own.

The semantics (docs/distributed.md): ``batch_size`` is the global batch; every process
follows the same seeded global batch order and the same latent and objective streams and
keeps its own rows of each global batch, so the union over processes is the one-process
batch. After each backward, each network's gradients are averaged over the processes with one
flattened all-reduce (what NVlabs' stylegan3 training loop does), before the finite check,
clipping and the optimizer step: every process takes the same step and the weights stay
bitwise equal (:func:`check_in_step` verifies it at every checkpoint). Why not
DistributedDataParallel: ganforge flips ``requires_grad`` between phases, takes gradients of
gradients (WGAN-GP, R1) and backpropagates with ``inputs=``; DDP gave silently wrong gradients
with ``static_graph=True`` and a penalty, and with parameters frozen when the wrapper was built
(measured: docs/distributed.md). The explicit all-reduce does not care how a gradient was
made.

:class:`World` describes this process's place; ``World()`` is the single-process world, in
which every collective below is a no-op, so the training code has one path.
"""

from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass

from ._lazy import torch
from .errors import UserError


@dataclass(frozen=True)
class World:
    """This process's rank among ``size`` processes (``local_rank`` on its machine)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def env_world() -> World | None:
    """The world torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK), or
    None when this process was not started by a distributed launcher."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        return None
    return World(int(os.environ.get("RANK", 0)), int(os.environ["WORLD_SIZE"]),
                 int(os.environ.get("LOCAL_RANK", 0)))


def current_world() -> World:
    """The initialized process group's world (``World()`` without one): what a Trainer built
    inside ``torch.distributed.init_process_group`` trains with."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return World()
    return World(dist.get_rank(), dist.get_world_size(),
                 int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def init_process_group(device: str = "auto", timeout_s: float = 600.0) -> tuple[World, str]:
    """Join the process group torchrun set up (NCCL when this process gets a GPU, gloo
    otherwise) and pick the device: ``cuda:LOCAL_RANK`` or the CPU. Returns the world and the
    device to train on. ``timeout_s``: how long a collective waits for a rank that hangs
    before it fails (a rank that dies is noticed at once)."""
    world = env_world()
    if world is None:
        return World(), device
    dist = torch.distributed
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if torch.cuda.device_count() <= world.local_rank:
            raise UserError(f"LOCAL_RANK={world.local_rank} but this machine shows "
                            f"{torch.cuda.device_count()} CUDA GPU(s): start at most that many "
                            "processes per machine (torchrun --nproc_per_node)")
        device = f"cuda:{world.local_rank}"
        torch.cuda.set_device(world.local_rank)
    elif device == "auto":
        device = "cpu"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo",
                                timeout=datetime.timedelta(seconds=timeout_s))
    return world, device


def shutdown(together: bool = True) -> None:
    """Leave the process group (NCCL warns at exit, and can abort, without this). With
    ``together`` the processes first wait for each other, so none tears its connections down
    while another still writes a checkpoint (gloo aborted a process that way); without it
    (this process is stopping on an error the others may not share) it leaves at once."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        if together:
            dist.barrier()
        dist.destroy_process_group()


# --- the collectives training needs ----------------------------------------------------------
def broadcast_state(module, world: World) -> None:
    """Make every rank's parameters and buffers rank 0's (at start: the networks were built
    with the same seed, this makes it certain)."""
    if not world.distributed:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            torch.distributed.broadcast(tensor.data, src=0)


def average_gradients(params: list, world: World, flags: "torch.Tensor | None" = None
                      ) -> "torch.Tensor | None":
    """Replace each ``.grad`` by its mean over the ranks: one all-reduce of all of them,
    flattened. ``flags`` (a small float tensor) rides along and comes back summed over the
    ranks: how the ranks agree on a non-finite loss without a collective of its own."""
    if not world.distributed:
        return flags
    grads = [p.grad for p in params]
    parts = [g.reshape(-1) for g in grads] + ([flags.reshape(-1)] if flags is not None else [])
    flat = torch.cat(parts) if parts else torch.zeros(0)
    torch.distributed.all_reduce(flat)
    n_grads = flat.numel() - (flags.numel() if flags is not None else 0)
    flat_grads = flat[:n_grads] / world.size
    offset = 0
    for g in grads:
        g.copy_(flat_grads[offset:offset + g.numel()].view_as(g))
        offset += g.numel()
    return flat[n_grads:] if flags is not None else None


def sum_over_ranks(values: list[float], world: World) -> list[float]:
    """Sums over the ranks of a few numbers (the balancer's signals), on every rank."""
    if not world.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return t.tolist()


def gather_to_main(obj, world: World) -> list | None:
    """Every rank's ``obj`` (any picklable value), as a list on rank 0, None elsewhere."""
    if not world.distributed:
        return [obj]
    out = [None] * world.size if world.is_main else None
    torch.distributed.gather_object(obj, out, dst=0)
    return out


def all_gather(obj, world: World) -> list:
    """Every rank's ``obj``, as a list on every rank."""
    if not world.distributed:
        return [obj]
    out = [None] * world.size
    torch.distributed.all_gather_object(out, obj)
    return out


def barrier(world: World) -> None:
    if world.distributed:
        torch.distributed.barrier()


class Quiet(UserError):
    """A UserError another process already reported (rank 0 prints it; the others exit with
    the same status, silently)."""


def on_main(world: World, fn):
    """Run ``fn()`` on rank 0 only (what touches the file system: a run directory's checks,
    config.yaml) and give every process its result, or its UserError: raised on rank 0,
    raised quietly on the others, so no process waits for one that stopped."""
    if not world.distributed:
        return fn()
    box: list = [None]
    if world.is_main:
        try:
            box = [("ok", fn())]
        except UserError as err:
            box = [("error", str(err))]
    torch.distributed.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise (UserError if world.is_main else Quiet)(value)
    return value


def check_in_step(modules: dict, world: World) -> None:
    """Raise unless every rank holds bitwise the same parameters: the ranks take the same
    all-reduced steps, so a difference means a rank diverged (a bug, or a rank that resumed
    from another checkpoint). Buffers may differ (BatchNorm statistics of each rank's rows)."""
    if not world.distributed:
        return
    sums = {name: [float(p.detach().double().sum()) for p in m.parameters()]
            for name, m in modules.items()}
    gathered = all_gather(sums, world)
    for rank, theirs in enumerate(gathered):
        if theirs != gathered[0]:
            net = next(n for n in sums if theirs[n] != gathered[0][n])
            raise UserError(f"rank {rank}'s {net} differs from rank 0's: the processes are no "
                            "longer training the same model; stop the job and resume it from "
                            "the last checkpoint (every rank loads the same one)")


class CommTimer:
    """Milliseconds spent in gradient all-reduces since the last read (``time/comm_ms``)."""

    def __init__(self):
        self.ms = 0.0

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.ms += (time.perf_counter() - self.start) * 1000.0

    def take(self) -> float:
        ms, self.ms = self.ms, 0.0
        return ms
