"""Check that the real data lives in the range the generator can output.

If real images are in [0, 1] and G ends in tanh ([-1, 1]), D can tell real from fake by value
range alone, and training looks like it runs while G chases an impossible target. So before
training we read G's final activation from the autograd graph of one forward pass, compare
its range with the data's actual min/max, and either stop with the fix ("check"), rescale the
data ("auto"), or do nothing ("off").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ganforge._lazy import torch

from ganforge.errors import UserError
from ganforge.sampling import untouched

from .samples import Samples, as_samples

SCALES = ("off", "check", "auto")
CHECK_SAMPLES = 10_000  # min/max over this many samples is enough and costs nothing
# Ops that move or copy values without changing them: look through them to the activation.
PASSTHROUGH_OPS = {
    "View", "UnsafeView", "ReshapeAlias", "Unsqueeze", "Squeeze", "Permute", "Transpose", "T",
    "Expand", "Clone", "Select", "Slice", "AsStrided", "ToCopy", "Unfold", "Flip", "Roll",
}
# Ranges data is commonly saved in; used to name the data's range and to rescale it.
KNOWN_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))


class DataRangeError(UserError):
    """The data's value range does not match the generator's output range."""


@dataclass
class OutputRange:
    """What G can output: the final activation, its bounds (None = unbounded on that side),
    and the min/max actually observed on the probe batch."""

    activation: str
    low: float | None
    high: float | None
    observed_min: float
    observed_max: float


def _scalar(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return float(value) if value.numel() == 1 else None
    return float(value)


def _bounds_from_graph(grad_fn) -> tuple[str, float | None, float | None] | None:
    """(activation, low, high) of the op that produced the output, or None if unknown."""
    while grad_fn is not None:
        op = grad_fn.name().rstrip("0123456789").removesuffix("Backward")
        if op not in PASSTHROUGH_OPS:
            break
        grad_fn = grad_fn.next_functions[0][0] if grad_fn.next_functions else None
    if grad_fn is None:
        return None
    if op == "Tanh":
        return "tanh", -1.0, 1.0
    if op == "Sigmoid":
        return "sigmoid", 0.0, 1.0
    if op == "Hardtanh":  # also relu6; bounds are saved on the node
        low = _scalar(getattr(grad_fn, "_saved_min_val", -1.0))
        high = _scalar(getattr(grad_fn, "_saved_max_val", 1.0))
        return "hardtanh", low, high
    if op in ("Clamp", "ClampMin", "ClampMax"):
        low, high = _scalar(getattr(grad_fn, "_saved_min", None)), None
        if op != "ClampMin":
            high = _scalar(getattr(grad_fn, "_saved_max", None))
        return "clamp", low, high
    if op == "Relu":
        return "relu", 0.0, None
    return None


def generator_output_range(G: torch.nn.Module, z: torch.Tensor,
                           labels: torch.Tensor | None = None) -> OutputRange:
    """Run G once on ``z`` and read the range of its final activation from the graph.

    G is left exactly as it was (modes, buffers, global RNG), so training afterwards is bitwise
    the same as without the check. Shape-only ops after the activation (view, reshape,
    permute, ...) are looked through; anything else (e.g. ``0.5 * tanh(h) + 0.5``) counts as
    unbounded, which never raises a mismatch. ``labels``: a conditional G's y.
    """
    with untouched(G), torch.enable_grad():
        # A z that needs grad gives the output a grad_fn even when all of G is frozen.
        z = z.detach().clone().requires_grad_(True)
        out = G(z) if labels is None else G(z, labels)
    if not isinstance(out, torch.Tensor):
        raise UserError(f"the generator returned {type(out).__name__}; G(z) must return a tensor")
    found = _bounds_from_graph(out.grad_fn)
    activation, low, high = found if found is not None else ("unbounded", None, None)
    out = out.detach()
    return OutputRange(activation, low, high, float(out.min()), float(out.max()))


def _fmt(v: float | None) -> str:
    return "inf" if v is None else f"{v:.4g}"


def _describe(g: OutputRange) -> str:
    low = "-inf" if g.low is None else _fmt(g.low)
    return f"the generator's {g.activation} output is in [{low}, {_fmt(g.high)}]"


def _problem(lo: float, hi: float, g: OutputRange) -> tuple[str, tuple[float, float]] | None:
    """(message, source range to map from in "auto") when data [lo, hi] does not fit G."""
    width = (g.high - g.low) if g.low is not None and g.high is not None else 1.0
    tol = 1e-3 * width
    found = f"data is in [{_fmt(lo)}, {_fmt(hi)}] but {_describe(g)}"
    below = g.low is not None and lo < g.low - tol
    above = g.high is not None and hi > g.high + tol
    if below or above:
        if lo >= 0 and 1.5 < hi <= 255:
            return (
                f"data is in [0, 255] (8-bit pixel values; found min {_fmt(lo)}, max "
                f"{_fmt(hi)}) but {_describe(g)}: {_fix((0.0, 255.0), g)}",
                (0.0, 255.0),
            )
        fits = [(a, b) for a, b in KNOWN_RANGES if lo >= a - tol and hi <= b + tol]
        source = fits[0] if fits else (lo, hi)
        return f"{found}: {_fix(source, g)}", source
    if g.activation == "tanh" and lo >= -tol and 0.5 < hi <= 1 + tol:
        return (
            f"{found}: the data in [0, 1] uses only the top half of G's range, so the "
            "discriminator can tell real from fake by value range alone; rescale with "
            "x * 2 - 1, or set data.scale=auto",
            (0.0, 1.0),
        )
    return None


def _fix(source: tuple[float, float], g: OutputRange) -> str:
    """How to map ``source`` onto G's range, in words a user can type."""
    a, b = source
    if g.low is None or g.high is None:  # "auto" needs two bounds to map onto
        low = "-inf" if g.low is None else _fmt(g.low)
        return (
            f"rescale the data to lie in [{low}, {_fmt(g.high)}], or give G a bounded final "
            "activation such as tanh"
        )
    known = {
        ((0.0, 255.0), (-1.0, 1.0)): "divide by 127.5 and subtract 1",
        ((0.0, 255.0), (0.0, 1.0)): "divide by 255",
        ((0.0, 1.0), (-1.0, 1.0)): "rescale with x * 2 - 1",
        ((-1.0, 1.0), (0.0, 1.0)): "rescale with (x + 1) / 2",
    }
    text = known.get(((a, b), (g.low, g.high)))
    if text is None:
        text = f"map [{_fmt(a)}, {_fmt(b)}] linearly onto [{_fmt(g.low)}, {_fmt(g.high)}]"
    return f"{text}, or set data.scale=auto"


def check_data_range(x, g_range: OutputRange, scale: str = "check") -> tuple:
    """Compare the data range with G's output range; returns (x, note).

    ``x``: a tensor, or a dataset's :class:`~ganforge.data.samples.Samples`, whose values are
    read as G will be compared with them (8-bit pixels through their scale); the returned x
    is of the same kind. scale="off": (x, None), no check. "check": (x, None) if the ranges
    fit, else DataRangeError with the numbers and the fix. "auto": if they do not fit, x
    mapped linearly from the detected source range ([0, 1], [-1, 1], [0, 255], or the actual
    min/max) onto G's range (a rescaled copy of a tensor; for pixels, a rescaled table of
    their 256 values), and a note saying what was done; (x, None) if they fit. An unbounded
    G output never mismatches.
    """
    if scale not in SCALES:
        raise UserError(f"data.scale must be one of {', '.join(SCALES)}, got {scale!r}")
    samples = as_samples(x)
    empty = len(samples) == 0 or math.prod(samples.sample_shape) == 0
    if scale == "off" or empty or (g_range.low is None and g_range.high is None):
        return x, None
    lo, hi = samples.value_range(CHECK_SAMPLES)
    problem = _problem(lo, hi, g_range)
    if problem is None:
        return x, None
    message, (a, b) = problem
    if scale == "check":
        raise DataRangeError(message)
    if g_range.low is None or g_range.high is None:
        raise DataRangeError(f"{message} (data.scale=auto cannot map onto a half-open range)")
    if (a, b) not in KNOWN_RANGES:  # the actual range: take it over all samples, not the head
        a, b = samples.value_range()
    if b <= a:
        raise DataRangeError(f"{message} (every value is {a:.4g}, so there is nothing to rescale)")
    low, high = g_range.low, g_range.high
    # Division (not multiplication by a reciprocal) keeps the endpoints exact: 255/255 == 1.
    rescaled = samples.rescaled(
        lambda v: ((v - a) / (b - a) * (high - low) + low).clamp_(low, high))
    note = (
        f"data in [{_fmt(a)}, {_fmt(b)}] rescaled to [{_fmt(low)}, {_fmt(high)}] "
        f"({_formula(a, b, low, high)}) to match the generator's {g_range.activation} output"
    )
    return (rescaled if isinstance(x, Samples) else rescaled.floats()), note


def _formula(a: float, b: float, low: float, high: float) -> str:
    known = {
        (0.0, 1.0, -1.0, 1.0): "x * 2 - 1",
        (0.0, 255.0, -1.0, 1.0): "x / 127.5 - 1",
        (0.0, 255.0, 0.0, 1.0): "x / 255",
        (-1.0, 1.0, 0.0, 1.0): "(x + 1) / 2",
    }
    if (a, b, low, high) in known:
        return known[(a, b, low, high)]
    shift = f"x - {a:.4g}" if a >= 0 else f"x + {-a:.4g}"
    offset = f"+ {low:.4g}" if low >= 0 else f"- {-low:.4g}"
    return f"({shift}) / {b - a:.4g} * {high - low:.4g} {offset}"
