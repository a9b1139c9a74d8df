"""The non-finite guard: no NaN or inf loss or gradient ever reaches a checkpoint.

Checked at once (``immediate``, what ``Trainer.step`` does: the error comes before the
optimizer step, at the cost of one host sync per check) or kept on the device (what
``Trainer.fit`` does: no host sync per step; the first non-finite value's key, value and step
are recorded on the device, and the run stops at the next check, at most ``sync_every`` steps
later and always before a checkpoint is written, with the same message). A GPU then never
waits for the host between log points. From the first non-finite value on, the updates in
between leave the networks as they were (:class:`Hold` selects, on the device, between the
new and the saved weights and buffers), so the trainer stops holding the networks of the last
good step, as the immediate check leaves them.
"""

from __future__ import annotations

from ._lazy import torch
from .errors import NonFiniteLossError

KEYS = ("loss/D", "loss/G", "reg/D", "reg/G", "the gradient norm of D",
        "the gradient norm of G")


class FiniteGuard:
    """The first non-finite value checked since the last :meth:`raise_if_bad`, on the device."""

    def __init__(self):
        self.first: "torch.Tensor | None" = None   # (step, key index, value) of the first
        self.step = 0                                # the step being run (1-based)

    def note(self, key: str, value: "torch.Tensor") -> None:
        """Record ``value`` (a 0-dim tensor) under ``key``; no host sync."""
        value = value.detach().float().reshape(())
        bad = ~torch.isfinite(value)
        here = torch.stack([torch.full_like(value, self.step),
                            torch.full_like(value, KEYS.index(key)), value])
        if self.first is None:
            self.first = torch.where(bad, here, torch.full_like(here, -1.0))
        else:
            self.first = torch.where((self.first[0] < 0) & bad, here, self.first)

    def clean(self) -> "torch.Tensor | None":
        """0-dim bool on the device: no non-finite value noted since the last check (None:
        nothing noted yet)."""
        return None if self.first is None else self.first[0] < 0

    def raise_if_bad(self, now: int | None = None) -> None:
        """One host sync: raise the recorded error, if any (``now``: the step checked at)."""
        if self.first is None:
            return
        step, key, value = self.first.tolist()
        self.first = None
        if step >= 0:
            kind = "gradient" if KEYS[int(key)].startswith("the gradient") else "loss"
            raise NonFiniteLossError(KEYS[int(key)], value, int(step), kind=kind,
                                     caught_at=now)


class Hold:
    """The parameters and buffers of ``modules`` as they are now, to be put back, on the
    device, when ``guard`` has seen a non-finite value: one copy per iteration, no host sync.
    (The optimizers' moments are not kept: resume from a checkpoint, as the message says.)"""

    def __init__(self, guard: FiniteGuard, modules):
        self.guard = guard
        self.tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
        self.saved = [t.detach().clone() for t in self.tensors]

    def restore_if_bad(self) -> None:
        clean = self.guard.clean()
        if clean is None:
            return
        with torch.no_grad():
            for t, old in zip(self.tensors, self.saved):
                t.copy_(torch.where(clean, t, old))
