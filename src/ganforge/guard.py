"""The non-finite guard: no NaN or inf loss or gradient ever reaches a checkpoint.

Checked at once (what ``Trainer.step`` does: the error comes before the optimizer step, at
the cost of one host sync per check) or deferred (what ``Trainer.fit`` does: no host sync
and no extra device work per step). Deferred, each checked value is only kept (a detached
0-dim tensor, no copy); at the next check (every ``sync_every`` steps, at the end of ``fit``
and before every checkpoint) they are stacked and tested in one operation and one transfer,
and the first non-finite one stops the run with the step it appeared at, the same message,
and the last checkpoint intact. A GPU then never waits for the host between log points.

The networks are then put back as they were at the previous passed check (:class:`Snapshot`:
one copy of G, D and G_ema per check, not per step), so after the error the trainer holds
finite weights from at most ``sync_every`` steps before the bad value, never the ones the bad
steps made.
"""

from __future__ import annotations

from ._lazy import torch
from .errors import NonFiniteLossError


class FiniteGuard:
    """The values checked since the last :meth:`raise_if_bad`, kept on the device."""

    def __init__(self):
        self.pending: list[tuple[int, str, "torch.Tensor"]] = []
        self.step = 0   # the step being run (1-based)

    def note(self, key: str, value: "torch.Tensor") -> None:
        """Keep ``value`` (a 0-dim tensor) to check under ``key``: no device work."""
        self.pending.append((self.step, key, value.detach()))

    def raise_if_bad(self, now: int | None = None) -> None:
        """One stack, one test, one host transfer: raise for the first non-finite value kept
        since the last call, if any (``now``: the step checked at)."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        values = torch.stack([v.reshape(()).to(pending[0][2].device, torch.float32)
                              for _, _, v in pending])
        bad = ~torch.isfinite(values)
        first = torch.where(bad.any(), bad.to(torch.int64).argmax(), -1)
        index, value = torch.stack([first.double(), values[first.clamp(min=0)].double()]
                                   ).tolist()
        if index >= 0:
            step, key, _ = pending[int(index)]
            kind = "gradient" if key.startswith("the gradient") else "loss"
            raise NonFiniteLossError(key, value, step, kind=kind, caught_at=now)


class Snapshot:
    """The parameters and buffers of ``modules``, copied at each passed check (``take``) and
    put back when a check fails (``restore``): on the device, one copy per check."""

    def __init__(self, modules):
        self.tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
        self.saved = [t.detach().clone() for t in self.tensors]

    def take(self) -> None:
        with torch.no_grad():
            for t, saved in zip(self.tensors, self.saved):
                saved.copy_(t)

    def restore(self) -> None:
        with torch.no_grad():
            for t, saved in zip(self.tensors, self.saved):
                t.copy_(saved)
