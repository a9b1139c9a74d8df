"""The metric suite: which metrics "auto" and explicit lists resolve to, the feature network
chosen for them, and compute() on identity features with values checked by hand, its
provenance taken from the Context, and the real statistics read at most once."""

import math
import re
from pathlib import Path

import pytest
import torch
from conftest import Head, Plain
from torch import nn

from ganforge.errors import UserError
from ganforge.metrics.features import FeatureNet, from_module, load_feature_net
from ganforge.metrics.fid import gaussian_stats
from ganforge.metrics.kid import kid
from ganforge.metrics.prdc import density_coverage, precision_recall
from ganforge.metrics.provenance import Provenance
from ganforge.metrics.refstats import RefStats
from ganforge.metrics.suite import (MODES_SAMPLES, Context, choose_feature_net, compute,
                                    resolve_eval, resolve_metrics)

FEATURE = ["fid", "kid", "pr", "dc"]
ALL_AUTO = FEATURE + ["is", "classes"]




def head_net():
    return from_module(Head(), "head")


class Calls:
    """real_stats as compute() wants it, counting its calls."""

    def __init__(self, features):
        self.features, self.calls = features, 0

    def __call__(self):
        self.calls += 1
        mu, sigma = gaussian_stats(self.features)
        return RefStats(self.features, mu, sigma, Path("unused.pt"), False)


def never():
    raise AssertionError("real_stats must not be called here")


def integer_points(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-8, 9, (n, d), generator=g).float()   # exact in float32


CTX = Context("toy", "test", "G_ema", 3, 1200)


# --- resolve_metrics / resolve_eval -------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["ring8", "grid25"])
def test_auto_on_the_mixtures_is_modes(dataset):
    assert resolve_metrics("auto", dataset, "points", None) == ["modes"]
    assert resolve_metrics(" auto ", dataset, "points", head_net()) == ["modes"]


@pytest.mark.parametrize("dataset, kind, net, expected", [
    ("fashion-mnist", "image", "head", ALL_AUTO),
    ("fashion-mnist", "image", "plain", FEATURE),     # no classifier head: no is/classes
    ("fashion-mnist", "image", None, FEATURE),
    ("cifar-folder", "image", "head", FEATURE),       # is/classes: Fashion-MNIST only
    ("data.npz", "vector", None, FEATURE),
])
def test_auto_on_other_data(dataset, kind, net, expected):
    net = {"head": head_net(), "plain": from_module(Plain()), None: None}[net]
    assert resolve_metrics("auto", dataset, kind, net) == expected


def test_explicit_lists_are_checked_stripped_and_deduplicated():
    assert resolve_metrics(" kid, fid ,kid,", "fashion-mnist", "image", None) == ["kid", "fid"]
    assert resolve_metrics("fid,modes", "ring8", "points", None) == ["fid", "modes"]
    assert resolve_metrics("is", "cifar-folder", "image", None) == ["is"]   # as asked


@pytest.mark.parametrize("spec, dataset, message", [
    ("fdi", "fashion-mnist", "unknown metric 'fdi' (did you mean 'fid'?)"),
    ("fid,coverage", "fashion-mnist", "unknown metric 'coverage'"),
    ("", "fashion-mnist", "the metric list is empty"),
    (" , ", "ring8", "the metric list is empty"),
    ("modes", "fashion-mnist", "the modes metric is for the 2-D mixtures"),
])
def test_bad_metric_lists(spec, dataset, message):
    with pytest.raises(UserError, match=re.escape(message)):
        resolve_metrics(spec, dataset, "image", None)


def test_resolve_eval_modes_only_needs_no_feature_network(tmp_path):
    missing = tmp_path / "no-such-net.pt"   # would be an error if it were loaded
    assert resolve_eval("auto", "ring8", "points", (2,), missing) == (["modes"], None)
    assert resolve_eval("modes", "grid25", "points", (2,), missing) == (["modes"], None)


def test_resolve_eval_identity_for_points_and_vectors():
    names, net = resolve_eval("modes,fid", "ring8", "points", (2,))
    assert names == ["modes", "fid"] and net.name == "identity"
    names, net = resolve_eval("auto", "data.npz", "vector", (5,))
    assert names == FEATURE and net.name == "identity" and not net.has_logits


def test_resolve_eval_default_classifier_on_fashion_mnist():
    names, net = resolve_eval("auto", "fashion-mnist", "image", (1, 28, 28))
    assert names == ALL_AUTO
    assert net.name == "ganforge-fmnist-classifier" and net.input_shape == (1, 28, 28)


def test_resolve_eval_default_on_other_images_names_the_shape_and_the_fix():
    with pytest.raises(UserError, match=r"these samples are \(3, 32, 32\): pass --feature-net"):
        resolve_eval("auto", "cifar-folder", "image", (3, 32, 32))


def test_resolve_eval_with_a_given_network():
    names, net = resolve_eval("auto", "fashion-mnist", "image", (3,), Head())
    assert names == ALL_AUTO and net.name == "Head"
    names, net = resolve_eval("auto", "cifar-folder", "image", (3, 4, 4), "identity")
    assert names == FEATURE and net.name == "identity"


def test_choose_feature_net_checks_the_sample_shape():
    net = FeatureNet(Plain(), "for-28", "0" * 64, (1, 28, 28))
    assert choose_feature_net(net, (1, 28, 28), "image") is net
    with pytest.raises(UserError, match=r"takes samples of shape \(1, 28, 28\), but these are "
                                        r"\(1, 32, 32\)"):
        choose_feature_net(net, (1, 32, 32), "image")


# --- compute ------------------------------------------------------------------------------------

def test_fid_of_a_set_against_itself_is_zero_and_against_a_shift_the_squared_shift():
    real = integer_points(60, 3, 0)
    net = load_feature_net("identity")
    shift = torch.tensor([3.0, -4.0, 12.0])
    (same,) = compute(["fid"], real.clone(), net, Calls(real), CTX)
    (moved,) = compute(["fid"], real + shift, net, Calls(real), CTX)
    assert same.metric == moved.metric == "fid"
    torch.testing.assert_close(same.value, 0.0, rtol=0, atol=1e-9)
    torch.testing.assert_close(moved.value, 169.0, rtol=1e-12, atol=1e-9)   # 9 + 16 + 144


def test_feature_metrics_equal_the_metric_functions_with_k_subsets_and_seed():
    real, fake = integer_points(60, 3, 0), integer_points(40, 3, 1)
    out = compute(["dc", "pr", "kid"], fake, load_feature_net("identity"), Calls(real), CTX,
                  kid_subsets=7)
    # order: kid, pr, dc whatever the order asked; kid_subset_size is not a value
    assert [v.metric for v in out] == ["kid", "kid_std", "precision", "recall", "density",
                                       "coverage"]
    got = {v.metric: v.value for v in out}
    k = kid(real, fake, subsets=7, seed=3)
    assert (got["kid"], got["kid_std"]) == (k["kid"], k["kid_std"])
    assert kid(real, fake, subsets=7, seed=4)["kid"] != k["kid"]     # the seed matters
    pr, dc = precision_recall(real, fake, k=3), density_coverage(real, fake, k=5)
    assert (got["precision"], got["recall"]) == (pr["precision"], pr["recall"])
    assert (got["density"], got["coverage"]) == (dc["density"], dc["coverage"])


def test_a_set_against_itself_has_full_precision_recall_and_coverage():
    real = torch.randn(50, 2, generator=torch.Generator().manual_seed(2))
    out = {v.metric: v.value
           for v in compute(["pr", "dc"], real.clone(), load_feature_net("identity"),
                            Calls(real), CTX)}
    assert (out["precision"], out["recall"], out["coverage"]) == (1.0, 1.0, 1.0)


def test_real_stats_read_once_and_provenance_from_the_context():
    real, fake = integer_points(60, 3, 0), integer_points(40, 3, 1).abs()
    fake = fake / fake.sum(1, keepdim=True).clamp_min(1)
    net, stats = head_net(), Calls(real)
    out = compute(ALL_AUTO, fake, net, stats, CTX, kid_subsets=2)
    assert stats.calls == 1
    assert [v.metric for v in out] == ["fid", "kid", "kid_std", "precision", "recall",
                                       "density", "coverage", "is", "is_std", "class_kl",
                                       "classes_covered"]
    with_real = Provenance("head", net.sha256, 40, 60, "toy/test", "G_ema", 3, 1200)
    without = Provenance("head", net.sha256, 40, 0, "toy/test", "G_ema", 3, 1200)
    assert [v.provenance for v in out] == [with_real] * 7 + [without] * 4
    assert all(type(v.value) is float for v in out)


def test_modes_by_hand_without_real_data_or_network():
    modes = torch.tensor([[math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)]
                          for i in range(8)])
    fake = torch.stack([modes[0], modes[0], modes[2], modes[4], torch.zeros(2)])
    ctx = Context("ring8", "train", "G", 0)
    out = compute(["modes"], fake, None, never, ctx)
    got = {v.metric: v.value for v in out}
    assert [v.metric for v in out] == ["modes", "high_quality", "reverse_kl"]
    assert (got["modes"], got["high_quality"]) == (3.0, 0.8)      # (0, 0) is off every mode
    # histogram (1/2, 1/4, 1/4) over 8 modes: 1/2 log 4 + 2 * 1/4 log 2
    torch.testing.assert_close(got["reverse_kl"], 1.5 * math.log(2), rtol=1e-12, atol=0)
    assert {v.provenance for v in out} == {Provenance("none", "", 5, 0, "ring8/train", "G", 0)}


def test_modes_uses_the_first_modes_samples_only():
    ring = torch.tensor([[1.0, 0.0]]).repeat(MODES_SAMPLES, 1)
    fake = torch.cat([ring, torch.tensor([[-1.0, 0.0]])])      # one more, on another mode
    out = compute(["modes"], fake, None, never, Context("ring8", "train", "G", 0))
    got = {v.metric: v.value for v in out}
    assert MODES_SAMPLES == 2500
    assert (got["modes"], got["high_quality"]) == (1.0, 1.0)
    torch.testing.assert_close(got["reverse_kl"], math.log(8), rtol=1e-12, atol=0)
    assert {v.provenance.n_fake for v in out} == {MODES_SAMPLES}


def test_class_metrics_by_hand_without_real_data():
    eye = torch.eye(3)
    fake = eye.repeat(10, 1)                          # e0, e1, e2, e0, ...: 10 splits of 3
    out = {v.metric: v.value for v in compute(["is", "classes"], fake, head_net(), never, CTX)}
    assert set(out) == {"is", "is_std", "class_kl", "classes_covered"}
    torch.testing.assert_close(out["is"], 3.0, rtol=0, atol=1e-9)   # confident, even
    torch.testing.assert_close(out["is_std"], 0.0, rtol=0, atol=1e-9)
    assert (out["class_kl"], out["classes_covered"]) == (0.0, 3.0)

    lopsided = torch.cat([eye[0].repeat(20, 1), eye[1].repeat(10, 1)])
    out = {v.metric: v.value for v in compute(["classes"], lopsided, head_net(), never, CTX)}
    torch.testing.assert_close(out["class_kl"], 2 / 3 * math.log(2), rtol=1e-12, atol=0)
    assert out["classes_covered"] == 2.0


def test_inception_score_on_fewer_than_ten_samples_uses_one_split_each():
    fake = torch.eye(3).repeat(2, 1)[:5]              # 5 samples: 5 splits of one
    out = {v.metric: v.value for v in compute(["is"], fake, head_net(), never, CTX)}
    torch.testing.assert_close(out["is"], 1.0, rtol=0, atol=1e-9)


def test_class_metrics_need_a_network_with_a_classifier_head():
    with pytest.raises(UserError, match="has no classifier head"):
        compute(["is"], torch.zeros(4, 3), from_module(Plain()), never, CTX)
