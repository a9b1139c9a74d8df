"""Diagnostics: cheap pure functions over what a training step already computed, and over
samples. The update steps call the first group every step; the doctor's diversity probe calls
the second; the detectors read the stats they produce (``diag/...``, ``logits/...``).

Logits are D's raw outputs, shape (N,) or (N, 1); a logit > 0 means "real" for every loss (the
sigmoid's 0.5 for the probabilistic losses, the sign of the score for hinge and Wasserstein).
The step's functions return 0-dim float tensors, not Python floats, so a step does not wait for
the device; the Trainer brings a step's stats to the host once.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from ._lazy import torch

# A generated sample whose nearest other generated sample is closer than this fraction of the
# real data's median nearest-neighbour distance counts as a duplicate.
DUPLICATE_FRACTION = 0.1


# --- what a step reports ------------------------------------------------------------------------
def _flat(logits: torch.Tensor) -> torch.Tensor:
    return logits.detach().float().reshape(-1)


def sign_statistic(real_logits: torch.Tensor) -> torch.Tensor:
    """r_t = E[sign(D(real))], the overfitting signal of ADA (Karras et al. 2020).

    1 when D calls every real sample real with confidence (it has memorized them), 0 when it
    is undecided; ADA raises the augmentation probability while r_t is above 0.6."""
    return torch.sign(_flat(real_logits)).mean()


def accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(fraction of real samples D calls real, fraction of fake samples D calls fake); a logit
    of exactly 0 is undecided and counts as wrong."""
    return (_flat(real_logits) > 0).float().mean(), (_flat(fake_logits) < 0).float().mean()


def logit_stats(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict:
    """D's view of one batch: mean logits, accuracies and r_t (stat keys ``logits/real``,
    ``logits/fake``, ``diag/d_real_acc``, ``diag/d_fake_acc``, ``diag/r_t``)."""
    real_acc, fake_acc = accuracy(real_logits, fake_logits)
    return {"logits/real": _flat(real_logits).mean(), "logits/fake": _flat(fake_logits).mean(),
            "diag/d_real_acc": real_acc, "diag/d_fake_acc": fake_acc,
            "diag/r_t": sign_statistic(real_logits)}


def grad_norm(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """Global L2 norm of the ``.grad`` of ``params`` (0 if none has a grad). Read it after
    backward; frozen parameters have no grad and do not count."""
    grads = [param.grad.detach().float() for param in params if param.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def update_ratio(before: Sequence[torch.Tensor], after: Sequence[torch.Tensor]) -> torch.Tensor:
    """||w_after - w_before|| / ||w_before|| over all the tensors (same order).

    About 1e-3 per step is the usual healthy order of magnitude; 1e-1 means each step
    rewrites a tenth of the weights (a learning rate far too high)."""
    if len(before) != len(after):
        raise ValueError(f"update_ratio: {len(before)} saved tensors, {len(after)} now")
    if not after:
        return torch.zeros(())
    delta = torch.stack([torch.linalg.vector_norm((a.detach() - b).float())
                         for a, b in zip(after, before)])
    weight = torch.stack([torch.linalg.vector_norm(b.float()) for b in before])
    return torch.linalg.vector_norm(delta) / torch.linalg.vector_norm(weight).clamp_min(1e-12)


# --- what the diversity probe reports -----------------------------------------------------------
def flat_features(x: torch.Tensor) -> torch.Tensor:
    """The default feature space of the diversity probe: the samples themselves, flattened.

    For points this is exactly right; for images it is pixel distance, which is crude but
    needs no pretrained network and only ever compares G's samples to real samples in the
    same space. Pass a better extractor to the probe when one exists."""
    return x.detach().float().reshape(x.shape[0], -1)


def _distances(features: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances, float64 for stable small differences; (N, N)."""
    f = features.double()
    return torch.cdist(f, f)


def mean_pairwise_distance(features: torch.Tensor) -> torch.Tensor:
    """Mean distance over all distinct pairs of rows of ``features`` (N, F), N >= 2."""
    n = features.shape[0]
    if n < 2:
        raise ValueError("mean_pairwise_distance needs at least 2 samples")
    d = _distances(features)
    return (d.sum() / (n * (n - 1))).float()  # the diagonal is 0


def nearest_neighbour_distances(features: torch.Tensor) -> torch.Tensor:
    """For each row, the distance to its nearest other row; (N,)."""
    d = _distances(features)
    d.fill_diagonal_(float("inf"))
    return d.min(dim=1).values.float()


def diversity(fake_features: torch.Tensor, real_features: torch.Tensor) -> torch.Tensor:
    """Mean pairwise distance of G's samples over that of the same number of real samples.

    1.0: as spread out as the real data; a collapsed G (every z gives nearly the same
    sample) goes towards 0. Compare equal-sized batches: the estimate does not depend on N,
    but its noise does."""
    return mean_pairwise_distance(fake_features) / mean_pairwise_distance(
        real_features).clamp_min(1e-12)


def duplicates_rate(fake_features: torch.Tensor, real_features: torch.Tensor,
                    fraction: float = DUPLICATE_FRACTION) -> torch.Tensor:
    """Fraction of G's samples that have a near-copy among the other samples of the batch.

    Near means closer than ``fraction`` times the real data's median nearest-neighbour
    distance, so the threshold scales with the data (real data itself scores about 0)."""
    scale = nearest_neighbour_distances(real_features).median()
    return (nearest_neighbour_distances(fake_features) < fraction * scale).float().mean()
