"""Hand-made traces of logged stat rows for the doctor's tests.

``healthy`` imitates a DCGAN run that is going well (nonsaturating loss, rows every 50
steps): D accuracy wandering in 0.6-0.85, losses oscillating around their usual levels,
gradient norms of order 1, update ratios of order 1e-3, diversity near the real data's, FID
falling with noise. Each failure trace starts healthy and then shows one failure.
"""

import math
import random

EVERY = 50


def healthy_row(step: int, rng: random.Random) -> dict:
    phase = math.sin(step / 700.0)          # the slow tug of war between G and D
    acc_r = min(0.92, max(0.5, 0.72 + 0.08 * phase + rng.gauss(0, 0.04)))
    acc_f = min(0.92, max(0.5, 0.70 + 0.08 * phase + rng.gauss(0, 0.04)))
    return {
        "step": step, "images_seen": step * 64,
        "loss/D": 1.15 - 0.15 * phase + rng.gauss(0, 0.05),
        "loss/G": 1.4 + 0.4 * phase + rng.gauss(0, 0.15),
        "d_real": 0.8 + 0.3 * phase + rng.gauss(0, 0.1),
        "d_fake": -0.7 - 0.3 * phase + rng.gauss(0, 0.1),
        "diag/d_real_acc": acc_r, "diag/d_fake_acc": acc_f,
        "diag/r_t": 2 * acc_r - 1 + rng.gauss(0, 0.02),
        "diag/grad_norm_G": 2.0 + 0.5 * phase + abs(rng.gauss(0, 0.3)),
        "diag/grad_norm_D": 3.0 + abs(rng.gauss(0, 0.5)),
        "diag/update_ratio_G": 2e-3 * (1 + 0.2 * rng.random()),
        "diag/update_ratio_D": 3e-3 * (1 + 0.2 * rng.random()),
        "diag/nonfinite": 0.0,
        "diag/diversity": min(1.05, 0.85 + 0.1 * rng.random()),
        "diag/duplicates": 0.01 * rng.random(),
        "time/step_ms": 80 + rng.gauss(0, 3),
    }


def healthy(n: int = 200, seed: int = 0, start: int = EVERY) -> list[dict]:
    """``n`` rows of a good run; every 5th row also has metric/fid (falling) and
    metric/classes_covered (rising to all 10)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        step = start + i * EVERY
        row = healthy_row(step, rng)
        if i % 5 == 4:
            row["metric/fid"] = 30 + 170 * math.exp(-step / 3000) + rng.gauss(0, 0.5)
            row["metric/classes_covered"] = float(min(10, 6 + step // 250))
        rows.append(row)
    return rows


def d_overpowering(n_good: int = 30, n_bad: int = 20, grad_keys: bool = True,
                   seed: int = 1) -> list[dict]:
    """Healthy, then D right about 98-100% of both sides, loss/G climbing, G's grad fading."""
    rows = healthy(n_good, seed)
    rng = random.Random(seed)
    for i in range(n_bad):
        row = healthy_row((n_good + i + 1) * EVERY, rng)
        row.update({"diag/d_real_acc": min(1.0, 0.985 + rng.random() * 0.02),
                    "diag/d_fake_acc": min(1.0, 0.98 + rng.random() * 0.02),
                    "loss/D": 0.05 + 0.02 * rng.random(),
                    "loss/G": 2.0 + 0.25 * i + rng.gauss(0, 0.1),
                    "d_real": 4 + 0.2 * i, "d_fake": -4 - 0.2 * i,
                    "diag/grad_norm_G": 2.0 * math.exp(-i / 3) + 0.01})
        if not grad_keys:
            for k in ("diag/grad_norm_G", "diag/grad_norm_D", "diag/update_ratio_G",
                      "diag/update_ratio_D", "diag/r_t"):
                row.pop(k)
        rows.append(row)
    return rows


def d_collapse(n_good: int = 30, n_bad: int = 20, seed: int = 2) -> list[dict]:
    """Healthy, then D stuck at chance: accuracy ~0.5, loss/D = log 4 and flat."""
    rows = healthy(n_good, seed)
    rng = random.Random(seed)
    for i in range(n_bad):
        row = healthy_row((n_good + i + 1) * EVERY, rng)
        row.update({"diag/d_real_acc": 0.5 + rng.gauss(0, 0.03),
                    "diag/d_fake_acc": 0.48 + rng.gauss(0, 0.03),
                    "loss/D": 2 * math.log(2) + rng.gauss(0, 0.002),
                    "d_real": rng.gauss(0, 0.01), "d_fake": rng.gauss(0, 0.01),
                    "diag/grad_norm_D": 0.05 + abs(rng.gauss(0, 0.01))})   # a dead D
        rows.append(row)
    return rows


def equilibrium(n_good: int = 30, n_bad: int = 20, seed: int = 2) -> list[dict]:
    """D at chance with live gradients: what a GAN at its equilibrium looks like (SN-GAN on
    grid25 covered 23 of 25 modes with D's hinge loss at 2, its chance value)."""
    rows = d_collapse(n_good, n_bad, seed)
    for row in rows[n_good:]:
        row["diag/grad_norm_D"] = 1.0 + 0.1 * math.sin(row["step"])
    return rows


def at_chance_from_the_start(n: int = 12, seed: int = 3) -> list[dict]:
    """The first steps of a ring8 MLP run: both networks at chance, D not yet moving."""
    rng = random.Random(seed)
    return [{"step": (i + 1) * 20, "loss/D": 1.3862 - 0.0003 * i / n + rng.gauss(0, 1e-4),
             "loss/G": 0.6935 + rng.gauss(0, 1e-4), "d_real": 0.001, "d_fake": -0.001,
             "diag/d_real_acc": rng.uniform(0.3, 0.9), "diag/d_fake_acc": rng.uniform(0.2, 0.6)}
            for i in range(n)]


def mode_collapse(n_good: int = 30, n_bad: int = 10, seed: int = 4) -> list[dict]:
    """Healthy, then diversity falls to ~0.15 of the real data's and duplicates abound."""
    rows = healthy(n_good, seed)
    rng = random.Random(seed)
    for i in range(n_bad):
        row = healthy_row((n_good + i + 1) * EVERY, rng)
        row.update({"diag/diversity": 0.15 + 0.05 * rng.random(),
                    "diag/duplicates": 0.6 + 0.1 * rng.random()})
        rows.append(row)
    return rows


def classes_disappear(seed: int = 5) -> list[dict]:
    """Only the class-coverage metric shows it: 10 classes, then 7."""
    rows = healthy(60, seed)
    for row in rows:
        for k in ("diag/diversity", "diag/duplicates"):
            row.pop(k)
        if "metric/classes_covered" in row and row["step"] > 2200:
            row["metric/classes_covered"] = 7.0
    return rows


def divergence_nan(n_good: int = 30, seed: int = 6) -> list[dict]:
    rows = healthy(n_good, seed)
    rows.append({**healthy_row((n_good + 1) * EVERY, random.Random(seed)),
                 "loss/G": float("nan"), "diag/nonfinite": 12.0})
    return rows


def divergence_explodes(n_good: int = 30, seed: int = 7) -> list[dict]:
    """Healthy, then the logits and D's gradient blow up within one interval."""
    rows = healthy(n_good, seed)
    rng = random.Random(seed)
    row = healthy_row((n_good + 1) * EVERY, rng)
    row.update({"d_real": 850.0, "d_fake": -900.0, "loss/D": 1.1, "diag/grad_norm_D": 4e3})
    rows.append(row)
    return rows


def fid_flat(seed: int = 8) -> list[dict]:
    """FID falls, then sits at ~41 for the last 8 evaluations."""
    rows = healthy(80, seed)
    rng = random.Random(seed)
    for row in rows:
        if "metric/fid" in row and row["step"] > 2000:
            row["metric/fid"] = 41 + rng.gauss(0, 0.3)
    return rows


def explode_step(rows: list[dict]) -> int:
    return rows[-1]["step"]


def healthy_strong_d(n: int = 100, seed: int = 13) -> list[dict]:
    """As measured on the default run (DCGAN, BatchNorm in D, Fashion-MNIST) in its first
    thousands of steps: D right about 92-98% of the time, loss/G 2-3 and noisy, G's gradient
    norm falling steadily from ~27, yet G learns well."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        step = (i + 1) * EVERY
        rows.append({"step": step, "loss/D": 0.42 + rng.gauss(0, 0.06),
                     "loss/G": 2.6 + rng.gauss(0, 0.3), "d_real": 2.0 + rng.gauss(0, 0.3),
                     "d_fake": -2.0 + rng.gauss(0, 0.3),
                     "diag/d_real_acc": rng.uniform(0.92, 0.965),
                     "diag/d_fake_acc": rng.uniform(0.945, 0.985),
                     "diag/r_t": rng.uniform(0.84, 0.92),
                     "diag/grad_norm_G": 27 * math.exp(-step / 1500) + 2 + rng.random(),
                     "diag/grad_norm_D": 30 + 10 * rng.random()})
    return rows
