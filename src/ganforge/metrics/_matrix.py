"""Input checking shared by the metrics: feature sets are 2-D, finite, and share a width."""

from __future__ import annotations

from .._lazy import torch

from ..errors import UserError


def as_matrix(x, name: str, min_rows: int = 1) -> torch.Tensor:
    """A tensor or numpy array (N, D) -> float64 CPU tensor (N, D), checked.

    Rows are samples, columns features. A user passing images or a 1-D vector gets one message
    saying how to turn them into features.
    """
    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise UserError(f"{name} must be a 2-D tensor or numpy array (samples x features), "
                        f"got {type(x).__name__}") from None
    if t.ndim != 2:
        raise UserError(f"{name} must be 2-D (samples x features), got shape {tuple(t.shape)}; "
                        "pass features (e.g. ganforge.metrics.extract_features(net, x)), "
                        "not raw images")
    if t.shape[0] < min_rows:
        raise UserError(f"{name} has {t.shape[0]} samples; this metric needs at least "
                        f"{min_rows}")
    t = t.detach().to("cpu", torch.float64)
    if not torch.isfinite(t).all():
        raise UserError(f"{name} holds NaN or inf values: the samples or the feature network "
                        "produced non-finite features")
    return t


def same_width(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    if a.shape[1] != b.shape[1]:
        raise UserError(f"{names[0]} has {a.shape[1]} features per sample but {names[1]} has "
                        f"{b.shape[1]}: compute both with the same feature network")
