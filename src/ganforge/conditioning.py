"""Class-conditional training: the labels, how the networks take them, the class loss.

The protocol (docs/conditional.md). A conditional generator is called ``G(z, y)`` and a
conditional discriminator ``D(x, y)``, y the int64 class indices (N,). D returns logits (N,),
or for an auxiliary-classifier D (AC-GAN) the pair ``(logits (N,), class_logits (N, K))``.
Any module that follows this works, ganforge's nets (``nets/``) and your own alike; the
Trainer calls the networks this way when it is given ``num_classes``.

:class:`Conditioning` is the run's label record, held by ``Players``:

- the fake labels: drawn from the run's own seeded stream (``labels`` in ``streams.py``),
  with the data's class frequencies or uniformly, per sample of the global batch (so several
  processes draw the same labels as one); its state is part of the checkpoint;
- the AC-GAN class loss (Odena et al. 2017): with ``acgan_weight`` w, D adds
  w (CE(c(x), y) + CE(c(G(z, y')), y')) and G adds w CE(c(G(z, y')), y'), c D's class head;
  with ``acgan_d_fake=False`` D's class head learns from the real images only (w CE(c(x), y),
  as StudioGAN's AC-GAN does): a classifier of real images, which off-class samples of G
  cannot pass by D having learned to label them.

:func:`discriminate` and :func:`run_generator` are the only places that call a network with
or without labels; :class:`Bound` is D with its label argument fixed, which is what a
gradient penalty differentiates (R1 and the GP hold the real labels, R2 the fake ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._lazy import torch
from .errors import UserError
from .losses import at_least_fp32
from .sampling import check_labels
from .streams import Sharded, side_seed

if TYPE_CHECKING:
    from torch import Tensor, nn

FAKE_LABELS = ("data", "uniform")   # how the fake labels are drawn
METHODS = ("concat", "acgan", "projection", "custom")   # how the networks use y


def discriminate(D, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """(logits, class_logits or None): ``D(x)`` without labels, ``D(x, y)`` with them."""
    out = D(x) if y is None else D(x, y)
    if isinstance(out, (tuple, list)):
        if len(out) != 2:
            raise UserError(f"D returned {len(out)} outputs; a discriminator returns logits "
                            "(N,), or (logits, class_logits) for an auxiliary classifier")
        return out[0], out[1]
    return out, None


def run_generator(G, z: Tensor, y: Tensor | None) -> Tensor:
    """``G(z)`` without labels, ``G(z, y)`` with them."""
    return G(z) if y is None else G(z, y)


class Bound:
    """D with its label argument fixed: ``Bound(D, y)(x)`` is D(x, y)'s logits (the class
    head of an AC-GAN D left out). Everything else (parameters, submodules, ``features``)
    is D's, so a penalty or feature matching treats it as D."""

    def __init__(self, D, y: Tensor):
        self.net, self.y = D, y

    def __call__(self, x: Tensor) -> Tensor:
        return discriminate(self.net, x, self.y)[0]

    def features(self, x: Tensor) -> Tensor:
        return self.net.features(x, self.y)

    def __getattr__(self, name: str):
        return getattr(self.net, name)


def bind(D, y: Tensor | None):
    """D itself without labels (the unconditional path is untouched), else :class:`Bound`."""
    return D if y is None else Bound(D, y)


def check_class_head(cond, class_logits: Tensor | None, n: int) -> None:
    """D's output agrees with the conditioning: class logits (N, K) exactly when AC-GAN."""
    if cond.method == "acgan" and class_logits is None:
        raise UserError("conditioning is acgan but D returns only logits: an AC-GAN D returns "
                        "(logits (N,), class_logits (N, K))")
    if cond.method != "acgan" and class_logits is not None:
        raise UserError(f"D returns (logits, class_logits), an auxiliary classifier, but the "
                        f"conditioning is {cond.method}: set conditioning='acgan'")
    if class_logits is not None and tuple(class_logits.shape) != (n, cond.num_classes):
        raise UserError(f"D's class logits must be (N, {cond.num_classes}) for "
                        f"{cond.num_classes} classes; got {tuple(class_logits.shape)} for "
                        f"{n} samples")


@dataclass
class Conditioning:
    """The labels of a conditional run (see the module docstring).

    Args:
        num_classes: K >= 2, read from the data.
        method: how the networks use y, for the plan: "concat", "acgan", "projection", or
            "custom" (your own networks; an AC-GAN head is recognized by D's pair output).
        class_counts: (K,) counts of the real labels; with ``fake_labels="data"`` the fake
            labels follow these frequencies.
        fake_labels: "data" (the data's class frequencies) or "uniform".
        acgan_weight: w of the class cross-entropy when D has a class head.
        acgan_d_fake: D's class loss includes G's samples (the paper's L_C); False: real
            images only.
        seed: the run's seed; the label stream is seeded from it (``streams.py``).
    """

    num_classes: int
    method: str = "custom"
    class_counts: Tensor | None = None
    fake_labels: str = "data"
    acgan_weight: float = 1.0
    acgan_d_fake: bool = True
    seed: int = 0
    generator: torch.Generator = field(init=False, repr=False)
    draws: Sharded = field(init=False, repr=False)
    cdf: Tensor | None = field(init=False, repr=False)

    def __post_init__(self):
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) \
                or self.num_classes < 2:
            raise UserError(f"a conditional run needs 2 or more classes, got "
                            f"num_classes={self.num_classes!r}")
        if self.fake_labels not in FAKE_LABELS:
            raise UserError(f"fake labels must be one of {', '.join(FAKE_LABELS)}, got "
                            f"{self.fake_labels!r}")
        if not self.acgan_weight >= 0:
            raise UserError(f"acgan_weight must be >= 0, got {self.acgan_weight!r}")
        self.cdf = None
        if self.class_counts is not None:
            self.set_class_counts(self.class_counts)
        self.generator = torch.Generator().manual_seed(side_seed(self.seed, "labels"))
        self.draws = Sharded(self.generator)

    def set_class_counts(self, counts) -> None:
        """The real labels' class counts (K,): with ``fake_labels="data"`` the fake labels
        follow their frequencies from now on (equal counts: uniform)."""
        counts = torch.as_tensor(counts, dtype=torch.float64)
        if counts.shape != (self.num_classes,) or bool((counts < 0).any()) \
                or float(counts.sum()) <= 0:
            raise UserError(f"class counts must be {self.num_classes} numbers >= 0 with a "
                            f"positive sum, got {tuple(counts.shape)} values")
        self.class_counts = counts
        self.cdf = None
        if self.fake_labels == "data" and not bool((counts == counts[0]).all()):
            self.cdf = (counts.cumsum(0) / counts.sum()).float()

    def set_world(self, rank: int, size: int) -> None:
        """Several processes: labels are drawn for the global batch, each keeps its rows."""
        self.draws = Sharded(self.generator, rank, size)

    @property
    def distribution(self) -> str:
        return "uniform" if self.cdf is None else "the data's class frequencies"

    def sample(self, n: int, device) -> Tensor:
        """n fake labels (int64) on ``device``, from this run's label stream."""
        if self.cdf is None:
            y = self.draws.randint(0, self.num_classes, (n,))
        else:   # inverse CDF of one uniform per sample
            u = self.draws.rand((n,))
            y = torch.searchsorted(self.cdf, u, right=True).clamp_(max=self.num_classes - 1)
        return y.to(device, non_blocking=True)

    def check_labels(self, y, n: int) -> Tensor:
        """Real labels as given: (n,) integer class indices in [0, K), as int64."""
        return check_labels(y, n, self.num_classes)

    # --- the AC-GAN class loss (Odena et al. 2017, eqs. 2-3) --------------------------------
    def d_class_loss(self, real_cls: Tensor | None, real_y: Tensor, fake_cls: Tensor | None,
                     fake_y: Tensor) -> tuple[Tensor | None, dict]:
        """w (CE on real + CE on fake): D learns to classify both (L_C of the paper); with
        ``acgan_d_fake`` off, w CE on real only (the fake CE is still logged)."""
        if real_cls is None or fake_cls is None or self.acgan_weight == 0:
            return None, {}
        ce_real = _cross_entropy(real_cls, real_y, self.num_classes)
        ce_fake = _cross_entropy(fake_cls, fake_y, self.num_classes)
        stats = {"cls/D_real": ce_real.detach(), "cls/D_fake": ce_fake.detach()}
        if not self.acgan_d_fake:
            return self.acgan_weight * ce_real, stats
        return self.acgan_weight * (ce_real + ce_fake), stats

    def g_class_loss(self, fake_cls: Tensor | None, fake_y: Tensor) -> tuple[Tensor | None,
                                                                            dict]:
        """w CE on G's samples: G makes samples D classifies as the class asked for."""
        if fake_cls is None or self.acgan_weight == 0:
            return None, {}
        ce = _cross_entropy(fake_cls, fake_y, self.num_classes)
        return self.acgan_weight * ce, {"cls/G": ce.detach()}

    def describe(self, G=None, D=None) -> list[str]:
        """The plan's lines: the classes, the method, the label stream, and the parameters
        the conditioning adds to each network (those named for labels/classes)."""
        lines = [f"class-conditional: {self.num_classes} classes, conditioning {self.method}; "
                 f"G(z, y) and D(x, y); fake labels drawn from {self.distribution} (own "
                 "seeded stream)"]
        for name, net in (("G", G), ("D", D)):
            if net is not None:
                added = label_parameters(net)
                if added:
                    where = ", ".join(m for m, _ in added[:4]) + (
                        f" and {len(added) - 4} more" if len(added) > 4 else "")
                    lines.append(f"{name}'s label parameters ({self.method}): "
                                 f"{sum(n for _, n in added):,} in {where}")
        if self.method == "acgan":
            d_term = "CE(real) + CE(fake)" if self.acgan_d_fake else "CE(real), real only"
            lines.append(f"AC-GAN class loss, weight {self.acgan_weight:g}: D + w ({d_term}), "
                         "G + w CE(fake) (Odena et al. 2017)")
        return lines

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def _cross_entropy(logits: Tensor, y: Tensor, num_classes: int) -> Tensor:
    if logits.dim() != 2 or logits.shape[1] != num_classes:
        raise UserError(f"D's class logits must be (N, {num_classes}); got "
                        f"{tuple(logits.shape)}")
    return torch.nn.functional.cross_entropy(at_least_fp32(logits), y)


def make_conditioning(G, D, num_classes: int | None, method: str | None, acgan_weight: float,
                      fake_labels: str, seed: int, acgan_d_fake: bool = True
                      ) -> Conditioning | None:
    """The Trainer's label record: None for an unconditional run (no ``num_classes`` given
    and G has none), else a :class:`Conditioning` with the method named, or D's
    ``conditioning`` attribute, or "custom"."""
    if num_classes is None:
        num_classes = getattr(G, "num_classes", None)
    if num_classes is None:
        if method not in (None, "none"):
            raise UserError(f"conditioning={method!r} needs num_classes (the number of classes)")
        return None
    method = method or getattr(D, "conditioning", None)
    if method in (None, "none"):
        method = "custom"
    if method not in METHODS:
        raise UserError(f"conditioning must be one of {', '.join(METHODS)}, got {method!r}")
    return Conditioning(num_classes, method, fake_labels=fake_labels,
                        acgan_weight=acgan_weight, acgan_d_fake=bool(acgan_d_fake), seed=seed)


LABEL_MODULES = ("Embedding", "ConditionalBatchNorm2d", "ClassProjection")   # by class name
LABEL_NAMES = ("embed", "label_embed", "classifier", "class_head", "projection")


def label_parameters(net) -> list[tuple[str, int]]:
    """(module name, parameter count) of what a conditioning adds to a network: its label
    embeddings, conditional BatchNorms, projection and class head (found by module class,
    or by the names ganforge's nets and the usual code give them)."""
    found, seen = [], set()
    for name, module in net.named_modules():
        last = name.rsplit(".", 1)[-1]
        if type(module).__name__ not in LABEL_MODULES and last not in LABEL_NAMES:
            continue
        if any(name.startswith(prefix + ".") for prefix in seen):
            continue   # inside a module already counted
        count = sum(p.numel() for p in module.parameters())
        if count:
            seen.add(name)
            found.append((name, count))
    return found
