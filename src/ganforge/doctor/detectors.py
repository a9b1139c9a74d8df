"""Detectors: each looks at the recent logged stat rows and returns a Finding or None.

A row is what ``metrics.jsonl`` holds: ``{"step": ..., "loss/D": ..., "diag/...": ...}``,
each value the mean over the ``log_every`` steps before ``step``. Windows count rows, so a
window of 6 rows at ``log_every=50`` spans 300 steps; means over rows already smooth out the
step-to-step noise of GAN stats. A detector whose stat keys are absent returns None quietly:
runs log different subsets (a user's own loop, an older run, no diversity probe).

Every threshold is a named constant below, with why it has its value; docs/doctor.md lists
them all.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

from .findings import Finding, Remedy

Row = dict  # {"step": int, key: float, ...}

# --- discriminator overpowering -------------------------------------------------------------
OVERPOWER_WINDOW = 6        # rows: one bad interval is noise, six in a row are not
# Mean D accuracy on real AND on fake over the window. A DCGAN with BatchNorm in D on
# Fashion-MNIST trains well at 0.92-0.98 in its first thousand steps (measured), so "D is
# strong" alone is no finding: it also takes one sign that G has stopped learning from D.
OVERPOWER_ACC = 0.98
SATURATED_ACC = 0.995       # so sure of both sides that G gets nothing useful out of D
G_GRAD_VANISH = 0.1         # G's grad norm below this fraction of its own peak so far
LOSS_G_CLIMB = 0.5          # loss/G rose by this much between the window's halves (nats for
                            # the probabilistic losses; row-to-row noise is about 0.3)

AUGMENT_POLICY = "color,translation,cutout"   # DiffAugment's full policy (Zhao et al. 2020)

# --- generator overpowering / discriminator collapse ----------------------------------------
COLLAPSE_WINDOW = 16        # rows: D at chance for a long stretch, not a passing tie
COLLAPSE_ACC = 0.55         # mean of D's real and fake accuracy: a coin flip is 0.5
D_GRAD_VANISH = 0.1         # D's grad norm below this fraction of its own peak: D is dead.
                            # (A D at chance with live gradients is the equilibrium a GAN
                            # aims for: SN-GAN on grid25 sits at hinge loss 2 with 23 of 25
                            # modes covered, so chance alone is not a finding.)
CHANCE_TOL = 0.05           # loss/D within 5% of the value of an undecided D (all logits 0)
FLAT_STD = 0.02             # loss/D's std over the window, relative: it is not moving
TINY_GAP = 0.05             # |logits/real - logits/fake| of an undecided D, loss unknown
# At the start both networks are at chance and D may need a while to get going (an MLP on
# ring8 at lr 2e-4 sits at chance for ~500 steps): that is not a collapse. So D must have
# left chance earlier in the run (loss/D this far from chance, relative), or have stayed at
# chance for this many rows from the start.
DEPARTED = 0.1
NEVER_LEARNED_ROWS = 40
# loss/D of a D that outputs 0 for everything, per loss (log 4 for the probabilistic ones).
# A Wasserstein critic has no chance level: its loss is minus its estimate of the distance,
# whose scale the clip or the penalty sets, and an estimate falling to ~0 is what training
# aims for. `preset=wgan` on grid25 went to a critic loss of 1e-5 with D's gradient at 4% of
# its peak while covering 18-21 of 25 modes (as many as `preset=dcgan`), so this detector
# does not judge the Wasserstein loss.
CHANCE_LOSS_D = {"saturating": 2 * math.log(2), "nonsaturating": 2 * math.log(2),
                 "hinge": 2.0, "least_squares": 0.5}
NO_CHANCE_LEVEL = ("wasserstein",)

# --- mode collapse --------------------------------------------------------------------------
COLLAPSE_PROBES = 3         # consecutive probe values that must all be bad
MODE_WARMUP_STEPS = 500     # a G at initialization maps every z to nearly the same sample
DIVERSITY_LOW = 0.5         # half as spread out as the real data
DUPLICATES_HIGH = 0.25      # a quarter of the samples have a near-copy in the batch
CLASS_DROP = 0.2            # classes covered fell 20% below the run's best (e.g. 10 -> 8)

# --- divergence -----------------------------------------------------------------------------
EXPLODE_KEYS = ("loss/D", "loss/G", "logits/real", "logits/fake", "diag/grad_norm_G", "diag/grad_norm_D")
EXPLODE_FACTOR = 50.0       # the latest |value| over the median |value| of the history
EXPLODE_FLOOR = 10.0        # ... and at least this large: 0.01 -> 0.5 is not an explosion
EXPLODE_HISTORY = 5         # rows of history needed before "exploding" can be judged
EXPLODE_ROWS = 2            # consecutive rows that must all be exploded: one row is a burst.
                            # (An overpowered D's grad norm went 0.35 -> 28.7 -> 0.44 in one
                            # row of a run that then trained on; with a finite loss, a run
                            # that diverges stays diverged.)
UPDATE_RATIO_HIGH = 0.1     # each step rewrites 10% of the weights (healthy: ~1e-3); a row
                            # is a mean over log_every steps, so one such row is enough
# A mean logit this large, for the losses whose targets are bounded (a sigmoid saturates at
# ~17; hinge and least squares aim at +-1): D's output scale has run away. Needs no history,
# so it catches a run that explodes in its first logged interval (Adam at lr 0.5 on ring8:
# mean fake logit 5,480 over steps 1-25, measured).
LOGIT_HUGE = 100.0
# One network learning 10x (or more) faster than the other, by learning rate or by update
# ratio, is named in the divergence finding (ring8 with lr_D = 100 x lr_G, measured: D's
# weights moved 130x as far per step as G's in the first 50 steps, then 40-50x).
IMBALANCE = 10.0
TTUR_RATIO = 4              # Heusel et al.'s D:G learning-rate ratio (4e-4 : 1e-4)
BOUNDED_TARGET_LOSSES = ("saturating", "nonsaturating", "hinge", "least_squares")

# --- stagnation -----------------------------------------------------------------------------
STAGNATION_EVALS = 6        # distinct evaluations of the metric in the window
STAGNATION_REL = 0.02       # mean of the later half within 2% of the earlier half's
# Coverage-like metrics sit flat at their best value in a good run: flat is not stuck there.
STAGNATION_IGNORE = ("covered", "modes", "coverage")


@dataclass
class Context:
    """What the detectors know of the run besides its stats (all optional)."""

    loss: str | None = None
    data_scale: str | None = None
    lr_G: float | None = None
    lr_D: float | None = None
    precision: str | None = None

    @classmethod
    def from_config(cls, cfg: dict) -> "Context":
        data = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
        return cls(cfg.get("loss"), data.get("scale"), _num(cfg.get("lr_G")),
                   _num(cfg.get("lr_D")), cfg.get("precision"))

    @classmethod
    def from_trainer(cls, trainer) -> "Context":
        players = trainer.players
        return cls(players.loss.name, trainer.feed.scale, players.opt_G.param_groups[0]["lr"],
                   players.opt_D.param_groups[0]["lr"], players.precision)


def _num(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def collapse_remedies(ctx) -> list[Remedy]:
    """What to try against near-copies, in the order to try it (mode collapse, and a
    conditional run's collapsed class: ``doctor/classes.py``)."""
    return [
        Remedy("model.d_minibatch_stddev=true", "D sees how varied a batch is and can "
               "punish a batch of near-copies (Karras et al. 2018)"),
        Remedy("d_steps=2", "D catches up with G's current favourites"),
        Remedy(f"lr_G={_lr(ctx.lr_G, 0.5)}", "halve G's learning rate"),
        Remedy("preset=r1", "an R1 gradient penalty stabilizes D's feedback"),
    ]


def _lr(value: float | None, factor: float) -> str:
    """A learning rate to suggest: ``factor`` times the current one (2e-4 if unknown), as a
    user would type it: 1e-4, 1.5e-4, 0.05, 10."""
    v = (value or 2e-4) * factor
    if 1e-2 <= v < 1e3:
        return f"{v:.3g}"
    mantissa, exponent = f"{v:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def series(rows: Sequence[Row], key: str, n: int | None = None) -> list[tuple[int, float]]:
    """(step, value) of the last ``n`` rows that have ``key`` (all of them if n is None)."""
    found = [(int(r.get("step", 0)), float(r[key])) for r in rows
             if isinstance(r.get(key), (int, float))]
    return found[-n:] if n else found


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


class DiscriminatorOverpowering:
    """D classifies (nearly) every real and fake sample right, and G stops learning from it:
    its gradient vanishes, its loss climbs, or D is so sure that nothing useful flows back."""

    kind = "d_overpowering"
    keys = ("diag/d_real_acc", "diag/d_fake_acc")

    def check(self, rows: Sequence[Row], ctx: Context) -> Finding | None:
        real = series(rows, "diag/d_real_acc", OVERPOWER_WINDOW)
        fake = series(rows, "diag/d_fake_acc", OVERPOWER_WINDOW)
        if len(real) < OVERPOWER_WINDOW or len(fake) < OVERPOWER_WINDOW:
            return None
        acc_r, acc_f = _mean(v for _, v in real), _mean(v for _, v in fake)
        if min(acc_r, acc_f) < OVERPOWER_ACC:
            return None
        first, last = real[0][0], real[-1][0]
        evidence, numbers = [], {"d_real_acc": acc_r, "d_fake_acc": acc_f}
        grad = series(rows, "diag/grad_norm_G")
        if len(grad) > OVERPOWER_WINDOW:
            peak = max(v for _, v in grad)
            now = _mean(v for _, v in grad[-OVERPOWER_WINDOW:])
            if peak > 0 and now < G_GRAD_VANISH * peak:
                evidence.append(f"G's gradient norm fell to {now:.3g} from a peak of {peak:.3g}")
                numbers.update(grad_norm_G=now, grad_norm_G_peak=peak)
        loss_g = [v for _, v in series(rows, "loss/G", OVERPOWER_WINDOW)]
        if len(loss_g) == OVERPOWER_WINDOW:
            half = OVERPOWER_WINDOW // 2
            early, late = _mean(loss_g[:half]), _mean(loss_g[half:])
            if late - early >= LOSS_G_CLIMB:
                evidence.append(f"loss/G climbed from {early:.3g} to {late:.3g}")
                numbers.update(loss_G_early=early, loss_G_late=late)
        if min(acc_r, acc_f) >= SATURATED_ACC:
            evidence.append("D is so sure of both sides that G learns almost nothing from it")
        if not evidence:
            return None
        r_t = series(rows, "diag/r_t", OVERPOWER_WINDOW)
        memorizing = bool(r_t) and _mean(v for _, v in r_t) > 0.6
        causes = [
            "D learns faster than G: its learning rate or capacity is too high for G",
            "D memorizes a small data set (r_t, the share of real samples it calls real with "
            "confidence, is high)" if memorizing else
            "D memorizes the real samples (a small data set, no augmentation)",
            "G is too weak for the data (too small or a poor architecture)",
        ]
        remedies = [
            Remedy(f"lr_D={_lr(ctx.lr_D, 0.5)}", "halve D's learning rate"),
            Remedy("preset=r1", "an R1 gradient penalty on real data keeps D smooth"),
            Remedy(f"augment.policy={AUGMENT_POLICY} balance=ada",
                   "augment what D sees (DiffAugment), as much as r_t asks for (ADA)"),
            Remedy("label_smoothing=0.1", "one-sided label smoothing: real targets 0.9"),
            Remedy("model.d_dropout=0.3", "dropout in D"),
            Remedy("noise.sigma=0.1", "instance noise on D's inputs blurs what it can use"),
            Remedy("balance=auto", "let ganforge add G steps per D step while D overpowers "
                   "(balance=ada adapts augmentation instead)"),
        ]
        if memorizing:
            causes.insert(0, causes.pop(1))
            remedies.insert(0, remedies.pop(2))
        if ctx.data_scale == "off":  # problem 5 (docs/problems.md): the range gives fake away
            causes.insert(0, "the data's value range differs from G's output range (the "
                             "start-up check was off: data.scale=off), so D tells real from "
                             "fake by value range alone")
            remedies.insert(0, Remedy("data.scale=check", "check that your data is in G's "
                                      "output range, [-1, 1] for a tanh G"))
        seen = (f"D classified {acc_r:.0%} of real and {acc_f:.0%} of fake samples correctly "
                f"on average over steps {first}-{last}; " + "; ".join(evidence))
        return Finding(self.kind, "The discriminator overpowers the generator", first, last,
                       seen, causes, remedies, "warning", numbers)


class DiscriminatorCollapse:
    """D is at chance and stays there: accuracy about 0.5 or below, loss/D at the value of a D
    that outputs 0 for everything, and flat. G "wins" because D stopped learning."""

    kind = "d_collapse"
    keys = ("diag/d_real_acc", "diag/d_fake_acc", "loss/D")

    def check(self, rows: Sequence[Row], ctx: Context) -> Finding | None:
        real = series(rows, "diag/d_real_acc", COLLAPSE_WINDOW)
        fake = series(rows, "diag/d_fake_acc", COLLAPSE_WINDOW)
        loss = [v for _, v in series(rows, "loss/D", COLLAPSE_WINDOW)]
        if min(len(real), len(fake), len(loss)) < COLLAPSE_WINDOW or ctx.loss in NO_CHANCE_LEVEL:
            return None
        acc = (_mean(v for _, v in real) + _mean(v for _, v in fake)) / 2
        if acc > COLLAPSE_ACC:
            return None
        mean_loss, std_loss = _mean(loss), statistics.pstdev(loss)
        chance = CHANCE_LOSS_D.get(ctx.loss or "")
        scale = max(1.0, abs(chance or 0.0))
        if std_loss > FLAT_STD * scale:
            return None
        if chance is not None:
            if abs(mean_loss - chance) > CHANCE_TOL * scale:
                return None
            at_chance = f"loss/D stayed at {mean_loss:.4g} (chance level {chance:.4g})"
        else:
            gap = [r - f for (_, r), (_, f) in zip(series(rows, "logits/real", COLLAPSE_WINDOW),
                                                   series(rows, "logits/fake", COLLAPSE_WINDOW))]
            if len(gap) < COLLAPSE_WINDOW or abs(_mean(gap)) > TINY_GAP:
                return None
            at_chance = f"loss/D stayed at {mean_loss:.4g}, mean logit gap {_mean(gap):.3g}"
        if not _departed(rows, chance, scale) and len(rows) < NEVER_LEARNED_ROWS:
            return None
        grads = series(rows, "diag/grad_norm_D")
        dead = ""
        if grads:   # when logged, D's own gradient must have died too
            recent = _mean(v for _, v in grads[-COLLAPSE_WINDOW:])
            peak = max(v for _, v in grads)
            if not recent < D_GRAD_VANISH * peak:
                return None
            dead = f"; D's gradient norm fell to {recent:.3g} from a peak of {peak:.3g}"
        first, last = real[0][0], real[-1][0]
        seen = (f"D's accuracy averaged {acc:.0%} (a coin flip is 50%) over steps "
                f"{first}-{last}; {at_chance}, varying by only {std_loss:.2g}{dead}")
        causes = [
            "D learns too slowly: its learning rate is too low for G's",
            "D is held back too hard (dropout, a strong penalty, heavy label smoothing)",
            "D's gradients vanish (saturated outputs or dead units), so its updates do nothing",
        ]
        remedies = [
            Remedy(f"lr_D={_lr(ctx.lr_D, 2)}", "double D's learning rate"),
            Remedy("d_steps=2", "two D updates per G update"),
            Remedy("model.d_dropout=0", "no dropout in D"),
            Remedy("label_smoothing=0", "no label smoothing"),
            Remedy("balance=auto", "let ganforge adapt the G:D update ratio"),
        ]
        return Finding(self.kind, "The discriminator has collapsed to chance (the generator "
                       "overpowers it)", first, last, seen, causes, remedies, "warning",
                       {"d_acc": acc, "loss_D": mean_loss, "loss_D_std": std_loss})


def _departed(rows: Sequence[Row], chance: float | None, scale: float) -> bool:
    """Whether D was away from chance at some earlier point of ``rows``."""
    if chance is not None:
        return any(abs(v - chance) >= DEPARTED * scale for _, v in series(rows, "loss/D"))
    return any(abs(r - f) >= 10 * TINY_GAP for (_, r), (_, f)
               in zip(series(rows, "logits/real"), series(rows, "logits/fake")))


class ModeCollapse:
    """G's samples are far less varied than the real data (diversity probe), many are
    near-copies of each other, or classes that G produced earlier have disappeared."""

    kind = "mode_collapse"
    keys = ("diag/diversity", "diag/duplicates", "metric/classes_covered", "metric/modes")

    def check(self, rows: Sequence[Row], ctx: Context) -> Finding | None:
        rows = [r for r in rows if int(r.get("step", 0)) >= MODE_WARMUP_STEPS]
        seen, numbers = [], {}
        div = series(rows, "diag/diversity", COLLAPSE_PROBES)
        if len(div) == COLLAPSE_PROBES and all(v < DIVERSITY_LOW for _, v in div):
            seen.append(f"G's samples were only {div[-1][1]:.2f}x as spread out as real data "
                        f"(1.0 = as varied; last {COLLAPSE_PROBES} probes "
                        + ", ".join(f"{v:.2f}" for _, v in div) + ")")
            numbers["diversity"] = div[-1][1]
        dup = series(rows, "diag/duplicates", COLLAPSE_PROBES)
        if len(dup) == COLLAPSE_PROBES and all(v > DUPLICATES_HIGH for _, v in dup):
            seen.append(f"{dup[-1][1]:.0%} of the probe's samples were near-copies of another")
            numbers["duplicates"] = dup[-1][1]
        # Classes of labelled data, or the modes of a 2-D mixture (evaluation during
        # training): mean pairwise distance barely moves when G drops 6 of 8 ring modes.
        classes = []
        for key, label in (("metric/classes_covered", "classes covered"),
                           ("metric/modes", "mixture modes covered")):
            values = series(rows, key)
            if len(values) < 2:
                continue
            peak, recent = max(v for _, v in values), values[-2:]
            if peak > 0 and all(v <= (1 - CLASS_DROP) * peak for _, v in recent):
                seen.append(f"{label} fell to {recent[-1][1]:.4g} from {peak:.4g}")
                numbers.update({f"{key[7:]}": recent[-1][1], f"{key[7:]}_peak": peak})
                classes = values
        if not seen:
            return None
        spans = [s for s in (div, dup, classes[-2:]) if s]
        first, last = min(s[0][0] for s in spans), max(s[-1][0] for s in spans)
        causes = [
            "G found a few outputs that fool D, and D does not punish the repetition fast "
            "enough",
            "G's learning rate is too high relative to D's",
            "the loss gives G no reason to spread out (saturating losses collapse most)",
        ]
        remedies = [*collapse_remedies(ctx),
                    Remedy("loss=hinge", "a loss that keeps pushing on every sample")]
        if ctx.loss == "saturating":
            causes.insert(0, causes.pop(2))
            remedies.insert(0, Remedy("loss=nonsaturating", "the saturating loss gives G "
                                      "vanishing gradients where it most needs them"))
        return Finding(self.kind, "Mode collapse: the generator's samples lack variety", first,
                       last, "; ".join(seen), causes, remedies, "warning", numbers)


class Divergence:
    """Non-finite stats, a stat that explodes against its own history, or updates so large
    that each step rewrites a tenth of the weights. Reports the step where it happened."""

    kind = "divergence"
    keys = ("loss/D", "loss/G", "logits/real", "logits/fake", "diag/grad_norm_G",
            "diag/grad_norm_D", "diag/update_ratio_G", "diag/update_ratio_D")

    def check(self, rows: Sequence[Row], ctx: Context) -> Finding | None:
        if not rows:
            return None
        row, step = rows[-1], int(rows[-1].get("step", 0))
        seen, numbers = [], {}
        bad = [k for k, v in row.items() if k in self.keys and isinstance(v, float)
               and not math.isfinite(v)]
        if bad:
            seen.append("non-finite values: " + ", ".join(f"{k}={row[k]}" for k in bad))
        for key in EXPLODE_KEYS:
            history = [abs(v) for _, v in series(rows[:-EXPLODE_ROWS], key) if math.isfinite(v)]
            recent = [r.get(key) for r in rows[-EXPLODE_ROWS:]]
            if len(history) < EXPLODE_HISTORY or len(recent) < EXPLODE_ROWS or not all(
                    isinstance(v, (int, float)) and math.isfinite(v) for v in recent):
                continue
            typical = statistics.median(history)
            if all(abs(v) >= EXPLODE_FLOOR and abs(v) >= EXPLODE_FACTOR * typical
                   for v in recent):
                seen.append(f"{key} jumped to {recent[0]:.4g}, then {recent[-1]:.4g} "
                            f"(typically {typical:.3g} before)")
                numbers[key] = recent[-1]
                step = int(rows[-EXPLODE_ROWS].get("step", step))   # where it began
        if ctx.loss in BOUNDED_TARGET_LOSSES:
            for key in ("logits/real", "logits/fake"):
                value = row.get(key)
                if isinstance(value, (int, float)) and math.isfinite(value) \
                        and abs(value) >= LOGIT_HUGE and key not in numbers:
                    seen.append(f"the mean {key.split('/')[1]} logit reached {value:.4g} (a "
                                f"{ctx.loss} D aims at logits of a few units)")
                    numbers[key] = value
        for key in ("diag/update_ratio_G", "diag/update_ratio_D"):
            ratio = row.get(key)
            if isinstance(ratio, (int, float)) and ratio >= UPDATE_RATIO_HIGH:
                seen.append(f"each step changed {key[-1]}'s weights by {ratio:.0%} on average "
                            "(healthy: about 0.1%)")
                numbers[key] = ratio
        if not seen:
            return None
        return divergence_finding(step, "; ".join(seen), ctx, numbers, row)


STOPPED_AT = "stopped_at"   # in the numbers of the finding for a run a non-finite loss stopped


def imbalance(ctx: Context, row: Row | None) -> tuple[str, list[str], Remedy] | None:
    """When one network learns an order of magnitude (:data:`IMBALANCE`) faster than the other,
    by its learning rate or by how far each step moves its weights (the logged update ratios):
    (the faster one, what shows it, the setting that closes the gap). None when balanced."""
    shown, factors = [], {}
    if ctx.lr_G and ctx.lr_D:
        factors["lr"] = ctx.lr_D / ctx.lr_G
    ratios = [(row or {}).get(f"diag/update_ratio_{n}") for n in ("G", "D")]
    if all(isinstance(r, (int, float)) and math.isfinite(r) and r > 0 for r in ratios):
        factors["update"] = ratios[1] / ratios[0]
    gaps = {k: f for k, f in factors.items() if max(f, 1 / f) >= IMBALANCE}
    if not gaps:
        return None
    fast, slow = ("D", "G") if next(iter(gaps.values())) > 1 else ("G", "D")
    if "lr" in gaps:
        f = max(gaps["lr"], 1 / gaps["lr"])
        lr_fast, lr_slow = (ctx.lr_D, ctx.lr_G) if fast == "D" else (ctx.lr_G, ctx.lr_D)
        shown.append(f"{fast}'s learning rate is {f:.0f}x {slow}'s ({lr_fast:g} vs {lr_slow:g})")
    if "update" in gaps:
        f = max(gaps["update"], 1 / gaps["update"])
        u_fast, u_slow = (ratios[1], ratios[0]) if fast == "D" else (ratios[0], ratios[1])
        shown.append(f"each step moves {fast}'s weights {f:.0f}x as far as {slow}'s "
                     f"({u_fast:.2%} vs {u_slow:.3%} of their size)")
    if "lr" in gaps:   # bring the faster one to TTUR's 4:1 for D, to equality for G
        target = (ctx.lr_G * TTUR_RATIO) if fast == "D" else ctx.lr_D
        setting = f"lr_{fast}={_lr(target, 1.0)}"
        why = (f"{fast} at {TTUR_RATIO}x G's learning rate (TTUR's ratio) instead of "
               f"{gaps['lr']:.0f}x: closes the gap" if fast == "D" else
               f"G at D's learning rate instead of {1 / gaps['lr']:.0f}x it: closes the gap")
    else:   # the learning rates look balanced, the steps are not: slow the fast one down
        lr_fast = ctx.lr_D if fast == "D" else ctx.lr_G
        f = max(gaps["update"], 1 / gaps["update"])
        setting = f"lr_{fast}={_lr(lr_fast, 1 / f)}"
        why = f"{fast}'s learning rate {f:.0f} times lower, so both move at one pace"
    return fast, shown, Remedy(setting, why)


def divergence_finding(step: int, seen: str, ctx: Context,
                       numbers: dict | None = None, row: Row | None = None) -> Finding:
    """The divergence finding, also for a run stopped by a non-finite loss (callback.py).
    When the networks learn at paces an order of magnitude apart (``imbalance``), it says
    so, and its first suggestion closes that gap."""
    causes = ["the learning rates are too high",
              "D's scores are unbounded (wasserstein without a penalty, or no normalization)",
              "extreme values in the data"]
    remedies = [Remedy(f"lr_G={_lr(ctx.lr_G, 0.1)} lr_D={_lr(ctx.lr_D, 0.1)}",
                       "learning rates ten times lower, in a new run"),
                Remedy("preset=r1", "a gradient penalty bounds D's slope"),
                Remedy("loss=hinge", "a bounded loss instead of raw scores")]
    gap = imbalance(ctx, row)
    if gap is not None:
        fast, shown, remedy = gap
        seen = f"{seen}; " + "; ".join(shown)
        slow = "G" if fast == "D" else "D"
        causes.insert(0, f"{fast} learns an order of magnitude faster than {slow}, so {slow} "
                         "cannot follow and the game runs away")
        remedies.insert(0, remedy)
    if ctx.loss == "wasserstein":
        causes.insert(0, causes.pop(1))
    if ctx.precision == "bf16":
        causes.insert(1, "bf16 precision loses the small differences the losses depend on")
        remedies.append(Remedy("precision=fp32", "full precision"))
    return Finding("divergence", "Training diverged", step, step, f"at step {step}: {seen}",
                   causes, remedies, "error", numbers or {})


class Stagnation:
    """An evaluation metric (``metric/...``, e.g. ``metric/fid``) has stopped moving."""

    kind = "stagnation"
    keys = ("metric/",)   # any key starting with this

    def check(self, rows: Sequence[Row], ctx: Context) -> Finding | None:
        names = sorted({k for r in rows for k in r if k.startswith("metric/")
                        and not any(word in k for word in STAGNATION_IGNORE)})
        for key in names:
            values = _distinct(series(rows, key))[-STAGNATION_EVALS:]
            if len(values) < STAGNATION_EVALS:
                continue
            half = STAGNATION_EVALS // 2
            early, late = _mean(v for _, v in values[:half]), _mean(v for _, v in values[half:])
            if abs(late - early) > STAGNATION_REL * max(abs(early), 1e-12):
                continue
            first, last = values[0][0], values[-1][0]
            seen = (f"{key} stayed near {late:.4g} over {STAGNATION_EVALS} evaluations from "
                    f"step {first} to {last} (mean of the first half {early:.4g}, of the "
                    f"second {late:.4g})")
            causes = ["the learning rates are too high for G to settle into a better state",
                      "the model has reached what its capacity allows",
                      "G and D are circling each other instead of converging"]
            remedies = [Remedy("lr_schedule_G.name=cosine lr_schedule_D.name=cosine",
                               "decay both learning rates"),
                        Remedy(f"lr_G={_lr(ctx.lr_G, 0.5)} lr_D={_lr(ctx.lr_D, 0.5)}",
                               "halve both learning rates"),
                        Remedy("ema.half_life_images=10000", "sample from an average of "
                               "G's recent weights, which smooths out the circling"),
                        Remedy("model.width=128", "a larger model"),
                        Remedy("steps=", "stop here: more steps of the same will not help")]
            return Finding(self.kind, f"Stagnation: {key} has stopped improving", first, last,
                           seen, causes, remedies, "info", {key: late})
        return None


def _distinct(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Drop repeats of the same value in consecutive rows (a metric logged once, carried)."""
    out: list[tuple[int, float]] = []
    for step, v in points:
        if not out or v != out[-1][1]:
            out.append((step, v))
    return out


def data_range_finding(message: str, step: int = 0) -> Finding:
    """The start-up range check (data/range_check.py) as a finding, for a run that trains
    with the check off (data.scale=off) or a data source the Trainer could not check."""
    return Finding(
        "data_range", "The data's value range does not match the generator's output", step,
        step, message,
        ["the data was saved or loaded without the scaling G expects (problem 5 of docs/problems.md: images saved "
         "as .npy lost their [-1, 1] scaling), so D can tell real from fake by range alone"],
        [Remedy("data.scale=auto", "rescale the data to G's range"),
         Remedy("data.scale=check", "stop at start-up on a mismatch"),
         Remedy("check that your data is in [-1, 1]", "for a tanh generator")],
        "error")


def default_detectors() -> list:
    """One of each, in the order their findings are listed."""
    return [Divergence(), DiscriminatorOverpowering(), DiscriminatorCollapse(), ModeCollapse(),
            Stagnation()]


def applicable(detector, rows: Sequence[Row]) -> bool:
    """Whether ``rows`` hold any of the keys ``detector`` reads (else it is skipped)."""
    return any(k.startswith(p) if p.endswith("/") else k == p
               for r in rows for k in r for p in detector.keys)
