"""Class-conditional generators: generate() with labels (and unchanged without), the label
helpers, conditional accuracy on a 3-class toy worked by hand, intra-FID against per-class
fid() computed separately (0 on identical sets, larger with permuted labels), the suite's
registry and compute() with labels and provenance, and per-class values in eval.json."""

import copy
import json
import re
from pathlib import Path

import pytest
import torch
from conftest import Head, Plain
from torch import nn

from ganforge.errors import UserError
from ganforge.metrics import fid
from ganforge.metrics.conditional import (by_class, conditional_accuracy, confusion, intra_fid,
                                          per_class_accuracy)
from ganforge.metrics.features import from_module
from ganforge.metrics.fid import gaussian_stats
from ganforge.metrics.names import CONDITIONAL_METRICS, METRICS, parse_metrics
from ganforge.metrics.provenance import MetricValue, Provenance
from ganforge.metrics.refstats import RefStats
from ganforge.metrics.suite import Context, compute, resolve_eval, resolve_metrics, sample_outputs
from ganforge.sampling import balanced_labels, check_labels, class_labels, generate

FEATURE, LOGIT = ["fid", "kid", "pr", "dc"], ["is", "classes"]


# --- generate() with labels ----------------------------------------------------------------------

class CondG(nn.Module):
    """G(z, y) = BatchNorm(Linear(z) + Embedding(y)): per-chunk statistics in train mode."""

    def __init__(self, num_classes=3, z_dim=4, dim=2):
        super().__init__()
        self.num_classes = num_classes
        self.fc, self.embed = nn.Linear(z_dim, dim), nn.Embedding(num_classes, dim)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, z, y):
        return self.bn(self.fc(z) + self.embed(y))


def test_generate_with_labels_calls_G_z_y_chunk_by_chunk_and_leaves_G_untouched():
    G = CondG()
    z, y = torch.randn(7, 4), torch.tensor([0, 2, 1, 1, 0, 2, 2])
    before = copy.deepcopy(G.state_dict())
    ref = copy.deepcopy(G)   # the same forward by hand, on a copy: train mode, chunks of 3
    with torch.no_grad():
        expected = torch.cat([ref(z[i:i + 3], y[i:i + 3]) for i in range(0, 6, 3)]
                             + [ref.eval()(z[6:], y[6:])])   # a batch of one: running stats
    got = generate(G, z, chunk=3, labels=y)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert G.training


def test_generate_without_labels_is_unchanged():
    G = nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2))
    z = torch.randn(10, 4)
    ref = copy.deepcopy(G)
    with torch.no_grad():
        expected = torch.cat([ref(z[:4]), ref(z[4:8]), ref(z[8:])])
    torch.testing.assert_close(generate(G, z, chunk=4), expected, rtol=0, atol=0)


@pytest.mark.parametrize("labels, message", [
    (torch.tensor([0, 1]), r"labels must be one class index per sample, shape \(3,\), got \(2,\)"),
    (torch.zeros(3, 1, dtype=torch.long), r"shape \(3,\), got \(3, 1\)"),
    (torch.tensor([0.0, 1.0, 2.0]), "labels must be integer class indices"),
    (torch.tensor([0, 3, 1]), r"labels must be class indices in 0..2, got values from 0 to 3"),
    (torch.tensor([0, -1, 1]), r"in 0..2, got values from -1 to 1"),
])
def test_generate_refuses_bad_labels(labels, message):
    with pytest.raises(UserError, match=message):
        generate(CondG(), torch.randn(3, 4), labels=labels)


def test_labels_for_an_unconditional_G_are_refused():
    G = nn.Linear(4, 2)
    G.num_classes = None
    with pytest.raises(UserError, match=r"this G is unconditional .* without labels"):
        generate(G, torch.randn(3, 4), labels=torch.tensor([0, 1, 2]))


def test_class_labels_group_by_class_and_balanced_labels_take_turns():
    assert torch.equal(class_labels(3, 2), torch.tensor([0, 0, 1, 1, 2, 2]))
    assert class_labels(3, 2).dtype == torch.int64 and class_labels(4, 0).shape == (0,)
    y = balanced_labels(13, 5)
    assert y.dtype == torch.int64 and torch.equal(y[:6], torch.tensor([0, 1, 2, 3, 4, 0]))
    assert torch.bincount(y).tolist() == [3, 3, 3, 2, 2]   # n // K each, the first n % K +1
    assert torch.bincount(balanced_labels(10000, 10)).tolist() == [1000] * 10
    with pytest.raises(UserError, match="num_classes >= 1"):
        balanced_labels(10, 0)


def test_check_labels_accepts_lists_and_names_the_argument():
    assert torch.equal(check_labels([2, 0], 2), torch.tensor([2, 0]))
    with pytest.raises(UserError, match="real_labels must be integer"):
        check_labels(torch.ones(2), 2, name="real_labels")


# --- conditional accuracy ------------------------------------------------------------------------

# Three classes, two samples each; the argmax of each row, by hand: 0, 1 | 1, 1 | 0, 2.
TOY_LOGITS = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0],
                           [0.5, 4.0, 0.0], [-1.0, 0.0, -2.0],
                           [2.0, 1.0, 1.5], [0.0, 0.0, 9.0]])
TOY_LABELS = torch.tensor([0, 0, 1, 1, 2, 2])


def test_conditional_accuracy_by_hand():
    assert conditional_accuracy(TOY_LOGITS, TOY_LABELS) == 4 / 6
    assert per_class_accuracy(TOY_LOGITS, TOY_LABELS) == [0.5, 1.0, 0.5]
    # probabilities and numpy arrays: the same argmax
    assert conditional_accuracy(TOY_LOGITS.softmax(1).numpy(), TOY_LABELS.numpy()) == 4 / 6
    assert conditional_accuracy(TOY_LOGITS, torch.tensor([1, 1, 1, 1, 2, 2])) == 4 / 6
    assert conditional_accuracy(TOY_LOGITS, torch.tensor([0, 1, 1, 1, 0, 2])) == 1.0


def test_confusion_rows_are_the_prediction_shares_and_the_diagonal_the_accuracy():
    expected = torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]],
                            dtype=torch.float64)
    table = confusion(TOY_LOGITS, TOY_LABELS)
    torch.testing.assert_close(table, expected, rtol=0, atol=0)
    assert table.diagonal().tolist() == per_class_accuracy(TOY_LOGITS, TOY_LABELS)


def test_conditional_accuracy_errors():
    with pytest.raises(UserError, match="the classifier knows only 3 classes"):
        conditional_accuracy(TOY_LOGITS, torch.tensor([0, 0, 1, 1, 2, 3]))
    with pytest.raises(UserError, match=r"shape \(6,\), got \(5,\)"):
        conditional_accuracy(TOY_LOGITS, TOY_LABELS[:5])
    with pytest.raises(UserError, match="no generated sample has class 1"):
        per_class_accuracy(TOY_LOGITS, torch.tensor([0, 0, 2, 2, 2, 2]))
    with pytest.raises(UserError, match="a label is 2, but num_classes is 2"):
        per_class_accuracy(TOY_LOGITS, TOY_LABELS, num_classes=2)


# --- intra-FID -----------------------------------------------------------------------------------

def three_classes(seed, n_per_class=(60, 80, 70), d=4, spread=10.0):
    """Features of 3 classes centred on spread * e_c (N(mu_c, diag)), rows shuffled."""
    g = torch.Generator().manual_seed(seed)
    feats, labels = [], []
    for c, n in enumerate(n_per_class):
        mu = torch.zeros(d)
        mu[c] = spread
        feats.append(mu + torch.randn(n, d, generator=g) * (1 + 0.5 * c))
        labels.append(torch.full((n,), c))
    order = torch.randperm(sum(n_per_class), generator=g)
    return torch.cat(feats)[order], torch.cat(labels)[order]


def test_intra_fid_is_the_mean_of_the_per_class_fids_computed_separately():
    fake, yf = three_classes(0)
    real, yr = three_classes(1, (90, 50, 75))
    per_class = [fid(fake[yf == c], real[yr == c]) for c in range(3)]
    got = intra_fid(fake, yf, real, yr)
    assert set(got) == {"intra_fid", "per_class"}
    torch.testing.assert_close(torch.tensor(got["per_class"], dtype=torch.float64),
                               torch.tensor(per_class, dtype=torch.float64), rtol=1e-12, atol=0)
    assert got["intra_fid"] == pytest.approx(sum(per_class) / 3, rel=1e-12)


def test_intra_fid_of_identical_per_class_sets_is_zero():
    real, yr = three_classes(2)
    order = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(3))
    got = intra_fid(real[order], yr[order], real, yr)    # the same sets, in another order
    assert got["intra_fid"] == pytest.approx(0.0, abs=1e-9)
    assert got["per_class"] == pytest.approx([0.0] * 3, abs=1e-9)


def test_permuted_labels_give_a_larger_intra_fid():
    fake, yf = three_classes(4)
    real, yr = three_classes(5)
    right = intra_fid(fake, yf, real, yr)["intra_fid"]
    wrong = intra_fid(fake, (yf + 1) % 3, real, yr)["intra_fid"]   # class c labelled c + 1
    # Population values: 0 for the right labels; with class c compared to real class c + 1,
    # ||mu_c - mu_c+1||^2 = 10^2 + 10^2 = 200 plus the covariance terms
    # d (s_c - s_c+1)^2 = 4 x (0.25, 0.25, 1) for the stds s = 1, 1.5, 2: mean 202.
    assert 0 < right < 2.0
    assert wrong == pytest.approx(202, rel=0.1)


def test_intra_fid_needs_two_samples_of_every_class_on_each_side():
    fake, yf = three_classes(6)
    real, yr = three_classes(7)
    keep = torch.ones_like(yr, dtype=torch.bool)
    keep[(yr == 1).nonzero()[1:].flatten()] = False        # one real sample of class 1 left
    with pytest.raises(UserError, match=re.escape(
            "intra_fid needs at least 2 samples of every class on both sides, but class 1 "
            "has 80 generated and 1 real")):
        intra_fid(fake, yf, real[keep], yr[keep])
    with pytest.raises(UserError, match="class 3 has 0 generated and 0 real"):
        intra_fid(fake, yf, real, yr, num_classes=4)
    with pytest.raises(UserError, match="compute both with the same feature network"):
        intra_fid(fake, yf, real[:, :3], yr)
    with pytest.raises(UserError, match=r"fake_labels must be one class index per sample"):
        intra_fid(fake, yf[:-1], real, yr)


def test_by_class_keeps_the_order_within_a_class():
    x = torch.arange(12.0).reshape(6, 2)
    parts = by_class(x, torch.tensor([1, 0, 1, 2, 0, 1]), 3, "x")
    assert [p[:, 0].tolist() for p in parts] == [[2.0, 8.0], [0.0, 4.0, 10.0], [6.0]]


# --- the registry and the suite ------------------------------------------------------------------



def calls(features):
    box = {"calls": 0}

    def real_stats():
        box["calls"] += 1
        mu, sigma = gaussian_stats(features)
        return RefStats(features, mu, sigma, Path("unused.pt"), False)
    return real_stats, box


CTX = Context("fashion-mnist", "train", "G_ema", 3, 1200)


def test_the_conditional_metrics_are_registered():
    assert CONDITIONAL_METRICS == ("conditional_accuracy", "intra_fid")
    assert set(CONDITIONAL_METRICS) <= set(METRICS)
    assert parse_metrics("conditional_accuracy,intra_fid", None) == list(CONDITIONAL_METRICS)


@pytest.mark.parametrize("dataset, net, expected", [
    ("fashion-mnist", "head", FEATURE + LOGIT + ["conditional_accuracy", "intra_fid"]),
    ("fashion-mnist", "plain", FEATURE + ["intra_fid"]),      # no classifier head
    ("folder", "head", FEATURE + ["intra_fid"]),              # not the classifier's classes
    ("ring8", "head", ["modes"]),
])
def test_auto_for_a_conditional_generator(dataset, net, expected):
    net = from_module(Head() if net == "head" else Plain())
    assert resolve_metrics("auto", dataset, "image", net, conditional=True) == expected
    assert "intra_fid" not in resolve_metrics("auto", dataset, "image", net)


def test_resolve_eval_conditional_on_fashion_mnist_uses_the_default_classifier():
    names, net = resolve_eval("auto", "fashion-mnist", "image", (1, 28, 28), conditional=True)
    assert names[-2:] == ["conditional_accuracy", "intra_fid"]
    assert net.name == "ganforge-fmnist-classifier"


def test_conditional_metrics_are_refused_for_an_unconditional_generator():
    with pytest.raises(UserError, match="intra_fid measure a class-conditional generator"):
        resolve_metrics("fid,intra_fid", "fashion-mnist", "image", None)
    with pytest.raises(UserError, match="conditional_accuracy needs a classifier"):
        resolve_metrics("conditional_accuracy", "fashion-mnist", "image",
                        from_module(Plain()), conditional=True)


def labelled_points(seed, n, noise=0.3):
    """3-D samples near e_y with labels y = i mod 3: Head's argmax is mostly y."""
    y = balanced_labels(n, 3)
    g = torch.Generator().manual_seed(seed)
    return torch.eye(3)[y] + noise * torch.randn(n, 3, generator=g), y


def test_compute_the_conditional_metrics_with_their_provenance():
    fake, y = labelled_points(0, 60)
    real, yr = labelled_points(1, 90)
    extra_labels = torch.cat([yr, torch.tensor([2, 2])])      # longer: the first 90 are used
    real_stats, box = calls(real)
    names = ["fid", "conditional_accuracy", "intra_fid"]
    values = compute(names, fake, from_module(Head(), "head"), real_stats, CTX, labels=y,
                     real_labels=extra_labels)
    by_name = {v.metric: v for v in values}
    assert list(by_name) == names and box["calls"] == 1       # the reference is read once
    acc = by_name["conditional_accuracy"]
    assert acc.value == conditional_accuracy(50 * fake, y)
    assert acc.per_class == tuple(per_class_accuracy(50 * fake, y))
    assert acc.provenance == Provenance("head", from_module(Head()).sha256, 60, 0,
                                        "fashion-mnist/train", "G_ema", 3, 1200)
    ifid = by_name["intra_fid"]
    expected = intra_fid(fake, y, real, yr)
    assert ifid.value == pytest.approx(expected["intra_fid"], rel=1e-12)
    assert ifid.per_class == pytest.approx(tuple(expected["per_class"]), rel=1e-12)
    assert (ifid.provenance.n_fake, ifid.provenance.n_real) == (60, 90)
    assert by_name["fid"].per_class is None


def test_compute_from_gathered_outputs_gives_the_same_values():
    fake, y = labelled_points(2, 30)
    real, yr = labelled_points(3, 30)
    net, names = from_module(Head(), "head"), ["conditional_accuracy", "intra_fid"]
    halves = [sample_outputs(names, fake[i:i + 15], net, y[i:i + 15]) for i in (0, 15)]
    outputs = {k: torch.cat([h[k] for h in halves]) for k in halves[0]}
    assert outputs["labels"].dtype == torch.int64 and torch.equal(outputs["labels"], y)
    one = compute(names, fake, net, calls(real)[0], CTX, labels=y, real_labels=yr)
    two = compute(names, None, net, calls(real)[0], CTX, outputs=outputs, real_labels=yr)
    assert one == two


def test_compute_says_which_labels_are_missing():
    fake, y = labelled_points(4, 30)
    real, yr = labelled_points(5, 30)
    net = from_module(Head(), "head")
    with pytest.raises(UserError, match=r"conditional_accuracy need the class each generated "
                                        r"sample was made for: pass labels="):
        compute(["conditional_accuracy"], fake, net, None, CTX)
    with pytest.raises(UserError, match=r"intra_fid needs the labels of the 30 real samples it "
                                        r"compares with \(none given\)"):
        compute(["intra_fid"], fake, net, calls(real)[0], CTX, labels=y)
    with pytest.raises(UserError, match=r"\(29 given\)"):
        compute(["intra_fid"], fake, net, calls(real)[0], CTX, labels=y, real_labels=yr[:29])


def test_per_class_values_round_trip_through_eval_json():
    prov = Provenance("head", "ab" * 32, 60, 90, "fashion-mnist/train", "G", 0, 100)
    v = MetricValue("intra_fid", 2.5, prov, (1.0, 2.5, 4.0))
    d = v.to_dict()
    assert d["per_class"] == [1.0, 2.5, 4.0]
    assert MetricValue.from_dict(json.loads(json.dumps(d))) == v
    assert "per_class" not in MetricValue("fid", 1.0, prov).to_dict()
