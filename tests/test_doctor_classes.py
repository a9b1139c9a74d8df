"""Per-class findings of a class-conditional generator, on synthetic features: a class made of
near-identical vectors collapses, a class whose samples the classifier takes for another is
not recognized, a healthy generator gives no finding, one that ignores its labels gives one
finding for all classes; the thresholds at their edges; the record round-trips."""

import json

import pytest
import torch

from ganforge.diagnostics import duplicates_rate, mean_pairwise_distance
from ganforge.doctor.classes import (CLASS_ACC_GAP, CLASS_ACC_LOW, CLASS_DUPLICATES_HIGH,
                                     CLASS_SPREAD_LOW, NEAR_COPY_FRACTION, ClassStats,
                                     class_findings, collapsed_classes, measure_classes,
                                     unrecognized_classes)
from ganforge.doctor.detectors import Context
from ganforge.doctor.findings import Finding
from ganforge.errors import UserError
from ganforge.sampling import balanced_labels

K, D, PER_CLASS = 4, 16, 200
NAMES = ["T-shirt", "Trouser", "Pullover", "Dress"]


def real_set(seed, per_class=PER_CLASS):
    """Class c: N(mu_c, I) in 16-D, the means 8 apart; labels take turns."""
    g = torch.Generator().manual_seed(seed)
    means = 8 * torch.eye(K, D)
    y = balanced_labels(K * per_class, K)
    return means[y] + torch.randn(K * per_class, D, generator=g), y


def logits_for(y, seed, taken=None):
    """Logits whose argmax is the label (class `src` taken for `dst` where taken=(src, dst))."""
    g = torch.Generator().manual_seed(seed)
    target = y.clone()
    if taken is not None:
        src, dst = taken
        target[y == src] = dst
    return 5 * torch.eye(K)[target] + 0.5 * torch.randn(len(y), K, generator=g)


def test_healthy_generator_gives_no_finding():
    fake, yf = real_set(0)
    real, yr = real_set(1)
    stats = measure_classes(fake, yf, real, yr, logits_for(yf, 2), step=3000, names=NAMES)
    assert stats.accuracy == [1.0] * K
    ratios = [a / b for a, b in zip(stats.fake_spread, stats.real_spread)]
    assert all(0.9 < r < 1.1 for r in ratios) and stats.duplicates == [0.0] * K
    assert class_findings(stats) == []


def test_a_class_of_near_identical_vectors_collapses():
    fake, yf = real_set(0)
    g = torch.Generator().manual_seed(3)
    one = fake[yf == 2][0]
    fake[yf == 2] = one + 1e-3 * torch.randn(PER_CLASS, D, generator=g)
    real, yr = real_set(1)
    stats = measure_classes(fake, yf, real, yr, logits_for(yf, 2), step=3000, names=NAMES)
    assert collapsed_classes(stats) == [2]
    assert stats.duplicates[2] == 1.0 and stats.fake_spread[2] < 0.01 * stats.real_spread[2]
    [f] = class_findings(stats, Context(lr_G=2e-4))
    assert f.kind == "class_collapse" and f.severity == "warning"
    assert f.title == "Class collapse: the generator makes near-copies within one class"
    assert (f.first_step, f.last_step) == (3000, 3000)
    assert f.seen.startswith("class 2 (Pullover): its samples are 0.00x as spread out as the "
                             "real ones") and f.seen.endswith("100% have a near-copy in the class")
    assert f.numbers["duplicates/2"] == 1.0 and f.numbers["spread_ratio/2"] < 0.01
    settings = [r.setting for r in f.remedies]
    assert settings[0] == "model.d_minibatch_stddev=true" and "lr_G=1e-4" in settings
    assert "try:" in f.render()


def test_a_class_reduced_to_a_few_outputs_keeps_its_spread_but_is_all_near_copies():
    fake, yf = real_set(0)
    real, yr = real_set(1)
    g = torch.Generator().manual_seed(5)
    few = fake[yf == 1][:5]                        # five real-looking outputs, far apart
    pick = torch.arange(PER_CLASS) % 5
    fake[yf == 1] = few[pick] + 1e-3 * torch.randn(PER_CLASS, D, generator=g)
    stats = measure_classes(fake, yf, real, yr)
    assert stats.fake_spread[1] > 0.5 * stats.real_spread[1]   # the spread alone misses it
    assert stats.duplicates[1] == 1.0 and collapsed_classes(stats) == [1]


def test_a_class_taken_for_another_is_not_recognized():
    fake, yf = real_set(0)
    real, yr = real_set(1)
    stats = measure_classes(fake, yf, real, yr, logits_for(yf, 2, taken=(3, 0)), step=500,
                            names=NAMES)
    assert stats.accuracy == [1.0, 1.0, 1.0, 0.0] and stats.confusion[3][0] == 1.0
    assert unrecognized_classes(stats) == [3]
    [f] = class_findings(stats)
    assert f.kind == "class_unrecognized"
    assert f.seen == ("class 3 (Dress): only 0% of the samples generated for it are "
                      "classified as it (the other classes: 100% on average); 100% are "
                      "classified as class 0 (T-shirt)")
    assert f.numbers == {"accuracy/3": 0.0, "accuracy/mean": 0.75}
    assert f.remedies[0].setting == "steps=1000"


def test_a_generator_that_ignores_its_labels_gets_one_finding():
    fake, yf = real_set(0)
    real, yr = real_set(1)
    g = torch.Generator().manual_seed(4)
    stats = measure_classes(fake, yf, real, yr, torch.randn(len(yf), K, generator=g))
    assert max(stats.accuracy) < CLASS_ACC_LOW
    [f] = class_findings(stats)
    assert f.kind == "labels_ignored" and "(chance: 25%" in f.seen
    assert f.numbers["accuracy/mean"] == pytest.approx(sum(stats.accuracy) / K)
    assert not any(r.setting.startswith("steps=") for r in f.remedies)   # step 0: unknown


def test_collapse_and_unrecognized_are_reported_together_collapse_first():
    stats = ClassStats(7, accuracy=[0.9, 0.9, 0.1], fake_spread=[1.0, 0.1, 1.0],
                       real_spread=[1.0, 1.0, 1.0])
    assert [f.kind for f in class_findings(stats)] == ["class_collapse", "class_unrecognized"]


# --- thresholds at their edges (values exact in binary) ------------------------------------------

def test_spread_threshold_is_strict():
    assert CLASS_SPREAD_LOW == 0.25
    at = ClassStats(fake_spread=[0.25, 1.0], real_spread=[1.0, 1.0])
    below = ClassStats(fake_spread=[0.25 - 2 ** -20, 1.0], real_spread=[1.0, 1.0])
    assert collapsed_classes(at) == [] and collapsed_classes(below) == [0]


def test_duplicates_threshold_is_strict():
    assert (NEAR_COPY_FRACTION, CLASS_DUPLICATES_HIGH) == (0.25, 0.5)
    assert collapsed_classes(ClassStats(duplicates=[0.5, 0.0])) == []
    assert collapsed_classes(ClassStats(duplicates=[0.5 + 2 ** -20, 0.0])) == [0]


@pytest.mark.parametrize("accuracy, flagged", [
    ([0.375] + [0.625] * 4, [0]),           # below one half, exactly 0.25 under the others
    ([0.4375] + [0.625] * 4, []),           # below one half, but only 0.1875 under the others
    ([0.5] + [1.0] * 4, []),                # not below one half
    ([0.0, 0.0] + [1.0] * 3, [0, 1]),       # two classes, each against the other four
])
def test_accuracy_thresholds(accuracy, flagged):
    assert (CLASS_ACC_LOW, CLASS_ACC_GAP) == (0.5, 0.25)
    assert unrecognized_classes(ClassStats(accuracy=accuracy)) == flagged


def test_too_few_samples_per_class_are_not_judged():
    stats = ClassStats(accuracy=[1.0, 1.0, 0.0], duplicates=[1.0, 0.0, 0.0],
                       samples_per_class=[19, 20, 19])
    assert class_findings(stats) == []
    stats.samples_per_class = [20, 20, 20]
    assert [f.kind for f in class_findings(stats)] == ["class_collapse", "class_unrecognized"]


# --- measure_classes -----------------------------------------------------------------------------

def test_measure_classes_uses_equally_many_samples_per_side():
    fake, yf = real_set(0, per_class=30)
    real, yr = real_set(1, per_class=50)
    stats = measure_classes(fake, yf, real, yr, max_per_class=25)
    a, b = fake[yf == 1][:25], real[yr == 1][:25]
    assert stats.fake_spread[1] == float(mean_pairwise_distance(a))
    assert stats.real_spread[1] == float(mean_pairwise_distance(b))
    assert stats.duplicates[1] == float(duplicates_rate(a, b, NEAR_COPY_FRACTION))
    assert stats.samples_per_class == [30] * K and stats.accuracy is None


def test_measure_classes_needs_two_samples_of_each_class():
    fake, yf = real_set(0, per_class=5)
    real, yr = real_set(1, per_class=5)
    with pytest.raises(UserError, match="class 4 has 0 generated and 0 real samples"):
        measure_classes(fake, yf, real, yr, num_classes=5)


def test_the_record_and_its_findings_round_trip_through_json():
    stats = ClassStats(12, accuracy=[0.9, 0.1], confusion=[[0.9, 0.1], [0.8, 0.2]],
                       fake_spread=[1.0, 0.1], real_spread=[1.0, 1.0], duplicates=[0.0, 0.5],
                       samples_per_class=[100, 100], names=["a", "b"])
    back = ClassStats.from_dict(json.loads(json.dumps({**stats.to_dict(), "new_key": 1})))
    assert back == stats
    for f in class_findings(stats):
        assert Finding.from_dict(json.loads(json.dumps(f.to_dict()))) == f
