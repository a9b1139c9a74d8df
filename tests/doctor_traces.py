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
        "logits/real": 0.8 + 0.3 * phase + rng.gauss(0, 0.1),
        "logits/fake": -0.7 - 0.3 * phase + rng.gauss(0, 0.1),
        "diag/d_real_acc": acc_r, "diag/d_fake_acc": acc_f,
        "diag/r_t": 2 * acc_r - 1 + rng.gauss(0, 0.02),
        "diag/grad_norm_G": 2.0 + 0.5 * phase + abs(rng.gauss(0, 0.3)),
        "diag/grad_norm_D": 3.0 + abs(rng.gauss(0, 0.5)),
        "diag/update_ratio_G": 2e-3 * (1 + 0.2 * rng.random()),
        "diag/update_ratio_D": 3e-3 * (1 + 0.2 * rng.random()),
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
                    "logits/real": 4 + 0.2 * i, "logits/fake": -4 - 0.2 * i,
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
                    "logits/real": rng.gauss(0, 0.01), "logits/fake": rng.gauss(0, 0.01),
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
             "loss/G": 0.6935 + rng.gauss(0, 1e-4), "logits/real": 0.001, "logits/fake": -0.001,
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
                 "loss/G": float("nan")})
    return rows


def divergence_explodes(n_good: int = 30, seed: int = 7, logits: bool = True) -> list[dict]:
    """Healthy, then D's gradient (and, with ``logits``, the logits) blow up for two rows."""
    rows = healthy(n_good, seed)
    rng = random.Random(seed)
    for i in range(2):
        row = healthy_row((n_good + 1 + i) * EVERY, rng)
        row.update({"loss/D": 1.1, "diag/grad_norm_D": 4e3 * (i + 1)})
        if logits:
            row.update({"logits/real": 850.0, "logits/fake": -900.0})
        rows.append(row)
    return rows


def grad_burst(n_good: int = 30, seed: int = 7) -> list[dict]:
    """One row in which D's gradient norm jumps 100x, then back: measured on the default DCGAN
    with lr_D = 10 x lr_G (seed 1, steps 400-450: 0.35, 28.7, 0.44), a run that trained on."""
    rows = healthy(n_good, seed)
    for row in rows:
        row["diag/grad_norm_D"] = 0.3
    rng = random.Random(seed)
    for i, norm in enumerate((28.7, 0.44, 0.13, 0.68)):
        row = healthy_row((n_good + 1 + i) * EVERY, rng)
        row["diag/grad_norm_D"] = norm
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
                     "loss/G": 2.6 + rng.gauss(0, 0.3), "logits/real": 2.0 + rng.gauss(0, 0.3),
                     "logits/fake": -2.0 + rng.gauss(0, 0.3),
                     "diag/d_real_acc": rng.uniform(0.92, 0.965),
                     "diag/d_fake_acc": rng.uniform(0.945, 0.985),
                     "diag/r_t": rng.uniform(0.84, 0.92),
                     "diag/grad_norm_G": 27 * math.exp(-step / 1500) + 2 + rng.random(),
                     "diag/grad_norm_D": 30 + 10 * rng.random()})
    return rows


# preset=ttur on grid25, seed 1, steps 25-1200 (measured, log_every 25): D drifts to chance and
# its gradient averages 9.9% of its peak over 8 rows, then both recover; the run covered all 25
# modes. Columns: loss/D, D's real and fake accuracy, grad norm D, loss/G, grad norm G.
TTUR_TRANSIENT = [
    (1.369, 0.9084, 0.7556, 0.09959, 0.6936, 0.03814),
    (1.229, 0.9603, 0.375, 0.4428, 0.6781, 0.4094),
    (1.071, 0.8888, 0.5248, 0.5215, 0.7111, 1.011),
    (1.033, 0.7438, 0.6837, 0.4947, 0.856, 1.364),
    (1.052, 0.7044, 0.7502, 0.4903, 1.04, 1.762),
    (1.101, 0.647, 0.7366, 0.6785, 1.103, 2.057),
    (1.14, 0.6445, 0.7259, 0.709, 1.077, 1.992),
    (1.15, 0.6434, 0.7425, 0.7525, 1.015, 1.988),
    (1.194, 0.6194, 0.7733, 0.8457, 0.9564, 1.977),
    (1.267, 0.5503, 0.77, 0.6938, 0.9074, 1.778),
    (1.312, 0.5189, 0.7328, 0.5523, 0.8402, 1.454),
    (1.345, 0.4984, 0.698, 0.4142, 0.7872, 1.254),
    (1.361, 0.4294, 0.7139, 0.3396, 0.7644, 0.9977),
    (1.373, 0.4456, 0.7164, 0.2494, 0.744, 0.7903),
    (1.384, 0.3922, 0.7275, 0.1561, 0.7344, 0.5356),
    (1.387, 0.3648, 0.7398, 0.1185, 0.7244, 0.4222),
    (1.386, 0.2808, 0.7686, 0.08795, 0.7228, 0.2488),
    (1.386, 0.1744, 0.8398, 0.07431, 0.7235, 0.1506),
    (1.385, 0.1481, 0.8788, 0.06634, 0.7173, 0.1543),
    (1.384, 0.1461, 0.8844, 0.07144, 0.7089, 0.1725),
    (1.384, 0.1689, 0.8661, 0.0772, 0.7052, 0.1776),
    (1.383, 0.1972, 0.8588, 0.08192, 0.7043, 0.1695),
    (1.383, 0.2356, 0.8445, 0.0914, 0.7051, 0.185),
    (1.382, 0.2592, 0.8323, 0.09642, 0.7054, 0.2501),
    (1.382, 0.2945, 0.8169, 0.1065, 0.7054, 0.2489),
    (1.381, 0.3175, 0.82, 0.115, 0.707, 0.2667),
    (1.38, 0.3559, 0.7986, 0.1457, 0.706, 0.2843),
    (1.379, 0.3714, 0.8205, 0.1617, 0.7073, 0.2979),
    (1.379, 0.4308, 0.7566, 0.1837, 0.7071, 0.3896),
    (1.377, 0.4106, 0.7858, 0.1901, 0.7084, 0.4159),
    (1.377, 0.4398, 0.7655, 0.2034, 0.7098, 0.4578),
    (1.376, 0.4427, 0.7548, 0.2259, 0.7109, 0.4567),
    (1.374, 0.4617, 0.7716, 0.2745, 0.7117, 0.5149),
    (1.372, 0.4898, 0.7512, 0.2636, 0.7125, 0.5902),
    (1.37, 0.4595, 0.7592, 0.3411, 0.7172, 0.6339),
    (1.369, 0.437, 0.7916, 0.3429, 0.7212, 0.7082),
    (1.368, 0.5112, 0.735, 0.434, 0.7205, 0.8257),
    (1.364, 0.4931, 0.7873, 0.4317, 0.7254, 0.8993),
    (1.364, 0.5431, 0.722, 0.5424, 0.725, 0.9496),
    (1.361, 0.4848, 0.7769, 0.5943, 0.7279, 1.056),
    (1.36, 0.5108, 0.7608, 0.7044, 0.7312, 1.145),
    (1.357, 0.5067, 0.7503, 0.7737, 0.7335, 1.269),
    (1.355, 0.5234, 0.7552, 0.8801, 0.738, 1.463),
    (1.352, 0.5614, 0.7391, 0.8546, 0.7357, 1.55),
    (1.352, 0.5162, 0.7352, 1.06, 0.7409, 1.76),
    (1.347, 0.5619, 0.7344, 1.098, 0.7492, 1.772),
    (1.348, 0.5566, 0.7155, 1.324, 0.7466, 1.876),
    (1.343, 0.5358, 0.737, 1.417, 0.7481, 2.284),
]


def ttur_transient() -> list[dict]:
    keys = ("loss/D", "diag/d_real_acc", "diag/d_fake_acc", "diag/grad_norm_D", "loss/G",
            "diag/grad_norm_G")
    return [{"step": 25 * (i + 1), **dict(zip(keys, values))}
            for i, values in enumerate(TTUR_TRANSIENT)]


def lr_imbalance_ring8() -> list[dict]:
    """Measured: ganforge train data=ring8 model=mlp lr_D=0.01 lr_G=0.0001 (seed 0, AMD EPYC),
    its first four rows (rounded to 4 digits): D's weights move 40-130x as far per step as G's."""
    keys = ("step", "loss/D", "loss/G", "logits/real", "logits/fake", "diag/d_real_acc",
            "diag/d_fake_acc", "diag/grad_norm_D", "diag/grad_norm_G", "diag/update_ratio_D",
            "diag/update_ratio_G")
    values = [(50, 0.3898, 4.079, 4.625, -3.705, 0.9609, 0.8928, 1.835, 12.56, 0.1264,
               0.0009688),
              (100, 0.5914, 4.576, 2.032, -4.113, 0.9753, 0.8206, 2.011, 27.9, 0.0398,
               0.0008033),
              (150, 0.9046, 2.838, 0.846, -2.368, 0.9181, 0.6581, 2.335, 29.71, 0.0349,
               0.0006672),
              (200, 0.9363, 2.671, 0.8977, -2.192, 0.8647, 0.6944, 3.891, 38.48, 0.03887,
               0.0007282)]
    return [dict(zip(keys, v)) for v in values]
