"""Checks before the first step: do G, D and the data fit together?

A dry run of G and D on a probe batch finds a shape mismatch before training and names both
shapes; the range check (``data/range_check.py``) finds data scaled differently from G's
output (docs/problems.md, problem 5). The probe uses its own z stream (``streams.py``) and
runs the networks inside :func:`untouched`, so a run with the checks is bitwise the same as
one without.
"""

from __future__ import annotations

import math

from .._lazy import torch

from ..conditioning import check_class_head, discriminate, run_generator
from ..errors import UserError
from ..players import Players
from ..sampling import balanced_labels, untouched
from ..streams import side_generator
from .range_check import check_data_range, generator_output_range
from .samples import as_samples

PROBE = 4


def probe_z(players: Players) -> torch.Tensor:
    """The few latents the checks run G on (their own stream, the same for every run)."""
    gen = side_generator(0, "preflight")
    return torch.randn((PROBE, *players.z_shape), generator=gen).to(
        players.device, players.z_dtype or torch.float32)


def probe_labels(players: Players) -> "torch.Tensor | None":
    """The probe's labels in a conditional run (the classes in turn), else None."""
    if players.cond is None:
        return None
    return balanced_labels(PROBE, players.cond.num_classes, players.device)


def check_shapes(players: Players, real: torch.Tensor) -> None:
    """G's output must have the real samples' shape, and D must accept both."""
    z, y = probe_z(players), probe_labels(players)
    with untouched(players.G), untouched(players.D), torch.no_grad(), players.autocast():
        try:
            fake = run_generator(players.G, z, y)
        except Exception as err:
            call = "G(z)" if y is None else "G(z, y) with y int64 class indices (N,)"
            raise UserError(f"G fails on z of shape {tuple(z.shape)} ({call}): {err}. Check "
                            "z_dim (model.z_dim) against your generator's input") from None
        fake_shape, real_shape = tuple(fake.shape[1:]), tuple(real.shape[1:])
        if fake_shape != real_shape:
            raise UserError(
                f"G outputs samples of shape {fake_shape} but the real samples have shape "
                f"{real_shape}: make G produce {real_shape} (for images: channels, height, width)")
        probe = real[:PROBE].to(players.device)
        try:
            logits, class_logits = discriminate(
                players.D, probe, None if y is None else y[:probe.shape[0]])
        except UserError:
            raise
        except Exception as err:
            raise UserError(f"D fails on samples of shape {real_shape} (G's output and the "
                            f"data's): {err}") from None
        if players.cond is not None:
            check_class_head(players.cond, class_logits, probe.shape[0])
        elif class_logits is not None:
            raise UserError("D returns (logits, class_logits), an auxiliary classifier, but "
                            "the run is unconditional: give the Trainer num_classes and "
                            "conditioning='acgan', or return the logits alone")
        if logits.shape[0] != min(PROBE, real.shape[0]) or logits[0].numel() != 1:
            raise UserError(
                f"D must return one logit per sample, shape (N,) or (N, 1); it returned "
                f"{tuple(logits.shape)} for {min(PROBE, real.shape[0])} samples")


def check_data(players: Players, x, scale: str = "check",
               notes: list[str] | None = None) -> tuple:
    """Run both checks on the data ``x`` (a tensor: all of it, or a first batch; or a dataset's
    :class:`~ganforge.data.samples.Samples`); returns the possibly rescaled x, of the kind it
    was given, and the notes of what was done (appended to ``notes`` too, when given)."""
    stored = as_samples(x)
    if len(stored) == 0 or math.prod(stored.sample_shape) == 0:
        raise UserError("the data set is empty: point data= at a folder or file with samples")
    check_shapes(players, x[:PROBE])
    notes = notes if notes is not None else []
    if scale != "off":
        g_range = generator_output_range(players.G, probe_z(players), probe_labels(players))
        x, note = check_data_range(x, g_range, scale)
        if note:
            notes.append(note)
    return x, notes
