"""Everything that shapes the two players' objectives beyond the base loss, in one record.

The update steps (``steps/``) ask an :class:`Objective` these things and nothing else:

- ``d_input(x)``: every batch D sees, real or fake, in either phase, passes through instance
  noise and differentiable augmentation (the same function for real and fake, so D cannot
  tell them apart by the transform; gradients flow through it to G);
- ``d_terms(D, real, fake)``: the penalties added to D's loss before its backward (GP, R1,
  R2, DRAGAN, L2 on D's weights, historical averaging), at the same parameters as the loss;
- ``g_terms(G, D, real, fake)``: the terms added to G's loss (feature matching, L2 on G's
  weights, historical averaging);
- ``real_label``: D's target for real samples (one-sided label smoothing);
- around a network's optimizer step (``steps/update.py``, in this order): ``clip_gradients``
  before it, ``constrain`` (WGAN weight clipping) and ``record_update`` (historical average,
  update count) after it.

What changes while training is one explicit record, :class:`ObjectiveState` (the generator
all randomness here comes from: alpha of GP and DRAGAN, augmentation, noise; the update
counts the lazy intervals read; the historical averages; the real label), checkpointed with
``state_dict``, so a resumed run continues bit for bit. A rebalancing controller changes the
objective through two named setters only: :meth:`Objective.set_real_label` and
:meth:`Objective.set_augment_p`. The lazy regularization scaling lives in
:class:`ganforge.regularizers.Penalty`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from ._lazy import nn, torch
from .augment import DiffAugment
from .conditioning import bind
from .errors import UserError
from .improved import HistoricalAverage, discriminator_features, feature_matching_loss
from .noise import InstanceNoise
from .regularizers import Penalty, clip_weights_, penalty_terms, weight_penalty
from .streams import Sharded

if TYPE_CHECKING:
    from torch import Tensor


def add_term(total: Tensor | None, term: Tensor | None) -> Tensor | None:
    """total + term, where either may be None (nothing yet / nothing to add)."""
    if term is None:
        return total
    return term if total is None else total + term


@dataclass
class ObjectiveState:
    """Everything about the objective that changes while training (checkpointed)."""

    generator: torch.Generator            # alpha of GP/DRAGAN, augmentation, instance noise
    real_label: float                     # D's real target; a controller may lower it
    updates: dict[str, int] = field(default_factory=lambda: {"D": 0, "G": 0})  # per network
    history: dict[str, HistoricalAverage] = field(default_factory=dict)


@dataclass
class Objective:
    """The extra terms and transforms; the default is the plain loss (every method a no-op).

    Args:
        penalties: D penalties (``regularizers.build_penalties``) and G penalties
            (``Penalty(target="G")``), each with its weight and lazy interval.
        real_label: D's initial target for real samples (< 1: one-sided label smoothing; the
            fake side is never smoothed).
        feature_matching: weight of ||E f(real) - E f(fake)||^2 added to G's loss, f = D's
            features (``D.features`` or the submodule ``feature_layer``).
        historical_averaging: weight of ||theta - mean of past theta||^2 in each player's loss.
        l2_G: weight of the L2 penalty on G's weights (D's is a penalty in ``penalties``).
        clip_D: WGAN weight clipping of D to [-c, c] after each D step (0: off).
        grad_clip_G, grad_clip_D: max gradient norm per network before its step (0: off).
        augment, noise: D-input transforms (``DiffAugment``, ``InstanceNoise``).
        seed: seeds the objective's generator.
    """

    penalties: list[Penalty] = field(default_factory=list)
    real_label: float = 1.0
    feature_matching: float = 0.0
    feature_layer: str | None = None
    historical_averaging: float = 0.0
    l2_G: float = 0.0
    clip_D: float = 0.0
    grad_clip_G: float = 0.0
    grad_clip_D: float = 0.0
    augment: DiffAugment | None = None
    noise: InstanceNoise | None = None
    seed: int = 0
    state: ObjectiveState = field(init=False, repr=False)
    draws: Sharded = field(init=False, repr=False)   # the generator, per sample (streams.py)

    def __post_init__(self):
        if not 0.0 < self.real_label <= 1.0:
            raise UserError(f"label_smoothing must be in [0, 1): the real label 1 - s is "
                            f"{self.real_label!r}")
        for key in ("feature_matching", "historical_averaging", "l2_G", "clip_D",
                    "grad_clip_G", "grad_clip_D"):
            if not getattr(self, key) >= 0:
                raise UserError(f"{key} must be >= 0 (0 turns it off), got {getattr(self, key)!r}")
        self.state = ObjectiveState(torch.Generator().manual_seed(self.seed), self.real_label)
        self.draws = Sharded(self.state.generator)

    def set_world(self, rank: int, size: int) -> None:
        """Several processes: every per-sample draw is made for the global batch and this
        rank keeps its rows (the same draws as the one-process run)."""
        self.draws = Sharded(self.state.generator, rank, size)

    # --- what the steps read ---------------------------------------------------------------
    @property
    def plain_g(self) -> bool:
        """True when G's loss is the base loss alone (one-step's zero-sum shortcut applies)."""
        return (self.feature_matching == 0 and self.historical_averaging == 0
                and self.l2_G == 0 and not any(pen.target == "G" for pen in self.penalties))

    def d_input(self, x: Tensor) -> Tensor:
        """Instance noise, then augmentation: every batch D sees goes through here."""
        if self.noise is not None:
            x = self.noise(x, self.state.updates["D"], self.draws)
        if self.augment is not None:
            x = self.augment(x, self.draws)
        return x

    def d_terms(self, D: nn.Module, real: Tensor, fake: Tensor, real_y: Tensor | None = None,
                fake_y: Tensor | None = None) -> tuple[Tensor | None, dict]:
        """Penalties added to D's loss (computed on the un-augmented, detached batches). In a
        conditional run each penalty holds a label fixed: R2 the fake labels, the others
        (R1, GP, DRAGAN) the real ones (``Penalty.labels``)."""
        nets = {"real": bind(D, real_y), "fake": bind(D, fake_y)}
        total, stats = penalty_terms([pen for pen in self.penalties if pen.target == "D"],
                                     self.state.updates["D"], nets, real, fake.detach(),
                                     self.draws)
        if self.historical_averaging > 0:
            term = self._history("D", D).penalty(D)
            stats["reg/hist_D"] = term.detach()
            total = add_term(total, self.historical_averaging * term)
        return total, stats

    def g_terms(self, G: nn.Module, D: nn.Module, real: Tensor | None, fake: Tensor,
                real_y: Tensor | None = None, fake_y: Tensor | None = None
                ) -> tuple[Tensor | None, dict]:
        """Terms added to G's loss. ``fake`` carries G's graph; D must be kept out of these
        terms' weight gradients by the caller (frozen, or gradients requested for G only).
        Feature matching compares D's features of real samples (with their labels) and of
        G's (with theirs)."""
        total, stats = penalty_terms([pen for pen in self.penalties if pen.target == "G"],
                                     self.state.updates["G"], {"real": G, "fake": G}, real,
                                     fake, self.draws)
        if self.feature_matching > 0:
            if real is None:
                raise UserError("feature matching needs a real batch in G's step")
            term = feature_matching_loss(
                discriminator_features(bind(D, real_y), self.d_input(real), self.feature_layer),
                discriminator_features(bind(D, fake_y), self.d_input(fake), self.feature_layer))
            stats["reg/feature_matching"] = term.detach()
            total = add_term(total, self.feature_matching * term)
        if self.l2_G > 0:
            term = weight_penalty(G, 2)
            stats["reg/l2_G"] = term.detach()
            total = add_term(total, self.l2_G * term)
        if self.historical_averaging > 0:
            term = self._history("G", G).penalty(G)
            stats["reg/hist_G"] = term.detach()
            total = add_term(total, self.historical_averaging * term)
        return total, stats

    # --- around an optimizer step (steps/update.py calls these, in this order) -------------
    def clip_gradients(self, name: str, params: list[Tensor]) -> None:
        """Gradient-norm clipping of network ``name`` ("G" or "D") before its step."""
        max_norm = {"G": self.grad_clip_G, "D": self.grad_clip_D}[name]
        if max_norm > 0:
            nn.utils.clip_grad_norm_(params, max_norm)

    def constrain(self, name: str, module: nn.Module) -> None:
        """WGAN weight clipping of D after its step (Arjovsky et al. 2017)."""
        if name == "D" and self.clip_D > 0:
            clip_weights_(module, self.clip_D)

    def record_update(self, name: str, module: nn.Module) -> None:
        """After ``name``'s step: its historical average, then its update count."""
        if self.historical_averaging > 0:
            self._history(name, module).update(module)
        self.state.updates[name] += 1

    # --- what a rebalancing controller may change ------------------------------------------
    def set_real_label(self, value: float) -> None:
        """One-sided label smoothing from now on: D's real target ``value`` in (0, 1]."""
        if not 0.0 < value <= 1.0:
            raise UserError(f"the real label must be in (0, 1], got {value!r}")
        self.state.real_label = float(value)

    def set_augment_p(self, p: float, policy: tuple[str, ...] = ("translation", "cutout")
                      ) -> None:
        """The augmentation probability from now on; augmentation with ``policy`` is switched
        on at ``p`` if the run had none."""
        if self.augment is None:
            self.augment = DiffAugment(p=p, policy=policy)
        else:
            self.augment.p = p

    def describe(self) -> list[str]:
        """One line per active term, for the training plan."""
        lines = []
        for pen in self.penalties:
            every = (f"every {pen.interval} {pen.target} steps with weight x{pen.interval} "
                     "(lazy)" if pen.interval > 1 else "every step")
            lines.append(f"{pen.target} loss + {pen.weight:g} * {pen.name}, {every}")
        if self.state.real_label != 1.0:
            lines.append(f"one-sided label smoothing: D's real target "
                         f"{self.state.real_label:g}, fake target unchanged")
        for key, text in (("feature_matching", "G loss + {:g} * feature matching "
                                               "||E f(real) - E f(fake)||^2"),
                          ("historical_averaging", "each loss + {:g} * ||theta - mean of "
                                                   "past theta||^2"),
                          ("l2_G", "G loss + {:g} * ||theta_G||^2"),
                          ("clip_D", "D's weights clipped to [-{0:g}, {0:g}] after each step"),
                          ("grad_clip_G", "G's gradient norm clipped to {:g}"),
                          ("grad_clip_D", "D's gradient norm clipped to {:g}")):
            if getattr(self, key):
                lines.append(text.format(getattr(self, key)))
        if self.noise is not None:
            lines.append(f"instance noise on every D input: sigma {self.noise.sigma:g}"
                         + (f", to 0 over {self.noise.anneal_steps} D steps"
                            if self.noise.anneal_steps else ""))
        if self.augment is not None:
            lines.append(f"DiffAugment on every D input (real and fake): "
                         f"{', '.join(self.augment.policy)}, p={self.augment.p:g}")
        return lines

    # --- state -----------------------------------------------------------------------------
    def _history(self, name: str, module: nn.Module) -> HistoricalAverage:
        if name not in self.state.history:
            self.state.history[name] = HistoricalAverage(module)
        return self.state.history[name]

    def state_dict(self) -> dict:
        st = self.state
        return {"generator": st.generator.get_state(), "updates": dict(st.updates),
                "real_label": st.real_label,
                "augment": self.augment.state_dict() if self.augment is not None else None,
                "history": {k: h.state_dict() for k, h in st.history.items()}}

    def load_state_dict(self, state: dict, modules: dict[str, nn.Module]) -> None:
        self.state.generator.set_state(state["generator"])
        self.state.updates = dict(state["updates"])
        self.state.real_label = float(state["real_label"])
        if self.augment is not None and state.get("augment") is not None:
            self.augment.load_state_dict(state["augment"])
        for name, saved in state.get("history", {}).items():
            self._history(name, modules[name]).load_state_dict(saved)
