"""Differentiable augmentation of D's inputs (DiffAugment, Zhao et al. 2020).

D sees augmented real AND augmented fake images, through the same function, so it cannot
tell them apart by the augmentation, and G's gradient flows back through the augmentation
(every op is differentiable in the image). The three DiffAugment transforms, in this order:

- ``color``: brightness x + b, b ~ U[-0.5, 0.5); saturation (x - mean_c) * s + mean_c,
  s ~ U[0, 2) (mean over channels; a no-op for 1 channel); contrast (x - mean) * c + mean,
  c ~ U[0.5, 1.5) (mean over C, H, W). Each of the three is applied on its own.
- ``translation``: an integer shift of up to ``translation_ratio`` (1/8) of the side in each
  direction, uniform in [-s, s], zero fill: out[i, j] = x[i - tx, j - ty].
- ``cutout``: a square of ``cutout_ratio`` (1/2) of the side set to 0, its centre uniform as in
  the reference code (the part inside the image is cut).

Each transform is applied to each sample independently with probability ``p`` (the original
DiffAugment is p = 1; ADA-style controllers set ``augment.p`` at run time). All randomness
comes from the ``torch.Generator`` passed in, and the same numbers are drawn whatever ``p``
is (p only thresholds the coin flips), so the stream, and a resumed run, do not depend on
p's history. Samples a transform skips are passed through bitwise unchanged (p = 0 is the
identity). Images only: (N, C, H, W). 2-D points and flat vectors are refused with a
UserError: none of these transforms means anything for them (use instance noise instead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import F, torch
from . import streams
from .errors import UserError, nearest

if TYPE_CHECKING:
    from torch import Tensor
POLICIES = ("color", "translation", "cutout")


def parse_policy(text: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ("color", "translation"); "" -> () (augmentation off)."""
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise UserError(f"unknown augmentation {unknown[0]!r}{nearest(unknown[0], POLICIES)}; "
                        f"choose from {', '.join(POLICIES)} (comma-separated)")
    return names


def _check_image(x: Tensor) -> None:
    if x.dim() != 4:
        raise UserError(
            f"augmentation works on images (N, C, H, W); got a batch of shape {tuple(x.shape)}. "
            "Turn augment off for point or vector data (instance noise works on any shape)"
        )


def translate(x: Tensor, tx: Tensor, ty: Tensor,
              max_shift: tuple[int, int] | None = None) -> Tensor:
    """Shift each image by whole pixels, zero fill: out[n, :, i, j] = x[n, :, i - tx_n, j - ty_n].

    ``tx``/``ty``: integer tensors (N,) on x's device (rows down / columns right if positive).
    A gather, so values are copied exactly and the gradient reaches every input pixel that
    stays in the image. ``max_shift`` bounds |tx|, |ty| (padding); by default it is read off
    the shifts (a device sync on GPU).
    """
    n, c, h, w = x.shape
    if max_shift is None:
        max_shift = (int(tx.abs().max()) if n else 0, int(ty.abs().max()) if n else 0)
    px, py = max_shift
    padded = F.pad(x, [py, py, px, px])   # (left, right) on W, (top, bottom) on H
    rows = torch.arange(h, device=x.device).view(1, h) - tx.view(n, 1) + px   # (N, H)
    cols = torch.arange(w, device=x.device).view(1, w) - ty.view(n, 1) + py   # (N, W)
    out = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * py))
    return out.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def cutout_mask(shape: tuple[int, ...], cx: Tensor, cy: Tensor, size: tuple[int, int],
                on: Tensor) -> Tensor:
    """(N, 1, H, W) mask: 0 inside the box [c - size//2, c - size//2 + size) of samples with
    ``on``, 1 elsewhere."""
    n, _, h, w = shape
    rows = torch.arange(h, device=cx.device).view(1, h) - (cx.view(n, 1) - size[0] // 2)
    cols = torch.arange(w, device=cy.device).view(1, w) - (cy.view(n, 1) - size[1] // 2)
    in_rows = (rows >= 0) & (rows < size[0])
    in_cols = (cols >= 0) & (cols < size[1])
    box = in_rows.view(n, h, 1) & in_cols.view(n, 1, w) & on.view(n, 1, 1)
    return (~box).unsqueeze(1)


class DiffAugment:
    """The augmentation, with ``p`` settable at run time; state: ``p`` (the generator's state
    is checkpointed by whoever owns the generator)."""

    def __init__(self, p: float = 1.0, policy: tuple[str, ...] = POLICIES,
                 translation_ratio: float = 0.125, cutout_ratio: float = 0.5):
        parse_policy(",".join(policy))   # unknown names are an error
        self.policy = tuple(name for name in POLICIES if name in policy)   # fixed order
        self.translation_ratio, self.cutout_ratio = translation_ratio, cutout_ratio
        self.p = p

    @property
    def p(self) -> float:
        return self._p

    @p.setter
    def p(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise UserError(f"augmentation probability p must be in [0, 1], got {value!r}")
        self._p = float(value)

    def sizes(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(max shift, cutout size) per axis, rounded as in the reference code."""
        shift = (int(h * self.translation_ratio + 0.5), int(w * self.translation_ratio + 0.5))
        cut = (int(h * self.cutout_ratio + 0.5), int(w * self.cutout_ratio + 0.5))
        return shift, cut

    def sample(self, shape: tuple[int, ...], generator: torch.Generator) -> dict[str, Tensor]:
        """Draw every transform's coin and parameters for a batch of ``shape``, in a fixed
        order, on the generator's device. ``<op>_on`` says which samples get ``<op>``.
        Depends only on the shape and the generator state, not on the images."""
        n, _, h, w = shape
        dev = generator.device
        (sx, sy), (ch, cw) = self.sizes(h, w)

        def coin():
            return streams.rand((n,), generator, dev) < self.p

        def uniform(lo, hi):
            return lo + (hi - lo) * streams.rand((n,), generator, dev)

        def integers(lo, hi):   # [lo, hi)
            return streams.randint(lo, hi, (n,), generator, dev)

        out: dict[str, Tensor] = {}
        if "color" in self.policy:
            out["brightness_on"], out["brightness"] = coin(), uniform(-0.5, 0.5)
            out["saturation_on"], out["saturation"] = coin(), uniform(0.0, 2.0)
            out["contrast_on"], out["contrast"] = coin(), uniform(0.5, 1.5)
        if "translation" in self.policy:
            out["translation_on"] = coin()
            out["translate_x"], out["translate_y"] = integers(-sx, sx + 1), integers(-sy, sy + 1)
        if "cutout" in self.policy:
            out["cutout_on"] = coin()
            out["cutout_x"] = integers(0, h + 1 - ch % 2)
            out["cutout_y"] = integers(0, w + 1 - cw % 2)
        return out

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        """Apply drawn parameters to images x (N, C, H, W); differentiable in x."""
        _check_image(x)
        prm = {k: v.to(x.device) for k, v in params.items()}

        def per_sample(v):
            return v.to(x.dtype).view(-1, 1, 1, 1)

        def chosen(key, augmented, current):
            return torch.where(prm[key].view(-1, 1, 1, 1), augmented, current)

        if "color" in self.policy:
            x = chosen("brightness_on", x + per_sample(prm["brightness"]), x)
            mean_c = x.mean(dim=1, keepdim=True)
            x = chosen("saturation_on", (x - mean_c) * per_sample(prm["saturation"]) + mean_c, x)
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = chosen("contrast_on", (x - mean) * per_sample(prm["contrast"]) + mean, x)
        if "translation" in self.policy:
            on = prm["translation_on"]
            zero = torch.zeros_like(prm["translate_x"])
            shift, _ = self.sizes(x.shape[2], x.shape[3])
            x = translate(x, torch.where(on, prm["translate_x"], zero),
                          torch.where(on, prm["translate_y"], zero), shift)
        if "cutout" in self.policy:
            _, size = self.sizes(x.shape[2], x.shape[3])
            mask = cutout_mask(tuple(x.shape), prm["cutout_x"], prm["cutout_y"], size,
                               prm["cutout_on"])
            x = torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))
        return x

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Augment a batch of images; call it on real and on fake batches alike."""
        _check_image(x)
        return self.apply(x, self.sample(tuple(x.shape), generator))

    def state_dict(self) -> dict:
        return {"p": self.p}

    def load_state_dict(self, state: dict) -> None:
        self.p = state["p"]
