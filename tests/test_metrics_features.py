"""Feature networks (modules, TorchScript files, the default classifier), provenance refusal,
the reference-statistics cache, the Inception-Score-style score and class statistics."""

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.metrics import (MetricValue, Provenance, check_all_comparable, check_comparable,
                              class_stats, inception_score, load_feature_net, reference_stats,
                              weights_sha256)
from ganforge.metrics.classifier import WEIGHTS, FMNISTClassifier, load_classifier


class Head(nn.Module):
    """features: (N, 4) -> (N, 3); forward: logits (N, 2)."""

    def __init__(self):
        super().__init__()
        self.body, self.out = nn.Linear(4, 3), nn.Linear(3, 2)

    @torch.jit.export
    def features(self, x):
        return torch.relu(self.body(x))

    def forward(self, x):
        return self.out(self.features(x))


def test_torchscript_file_with_a_features_method(tmp_path):
    net = Head()
    path = tmp_path / "head.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    fn = load_feature_net(path)
    x = torch.randn(7, 4)
    assert fn.name == "head.pt" and fn.sha256 == weights_sha256(net) and fn.has_logits
    torch.testing.assert_close(fn.features(x, chunk=3), net.features(x))
    torch.testing.assert_close(fn.logits(x), net(x))


def test_torchscript_forward_only_gives_features_but_no_logits(tmp_path):
    path = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(nn.Sequential(nn.Flatten(), nn.Linear(6, 5))), str(path))
    fn = load_feature_net(str(path))
    assert fn.features(torch.randn(4, 2, 3)).shape == (4, 5) and not fn.has_logits
    with pytest.raises(UserError, match="no classifier head"):
        fn.logits(torch.randn(4, 2, 3))


def test_bad_feature_net_paths(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_feature_net(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(UserError, match="not a TorchScript"):
        load_feature_net(junk)


def test_weight_hash_changes_with_the_weights():
    a = Head()
    h = weights_sha256(a)
    assert weights_sha256(a) == h
    with torch.no_grad():
        a.out.bias[0] += 1e-6
    assert weights_sha256(a) != h


def test_a_module_keeps_its_train_mode_and_buffers():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).train()
    before = net[1].running_mean.clone()
    load_feature_net(net).features(torch.randn(10, 3) + 5)
    assert net.training and torch.equal(net[1].running_mean, before)


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="classifier weights not trained yet")
def test_default_classifier_is_small_and_checks_its_input():
    assert WEIGHTS.stat().st_size < 1_500_000
    fn = load_feature_net("default")
    assert fn.input_shape == (1, 28, 28) and fn.has_logits
    assert fn.features(torch.zeros(3, 1, 28, 28)).shape == (3, FMNISTClassifier.feature_dim)
    assert fn.logits(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(UserError, match="--feature-net"):
        fn.features(torch.zeros(2, 3, 32, 32))


@pytest.mark.skipif(not WEIGHTS.is_file() or
                    not Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").exists(),
                    reason="needs the committed weights and the Fashion-MNIST test split")
def test_default_classifier_accuracy_on_test_images():
    from ganforge.data.fashion_mnist import load_fashion_mnist

    data = load_fashion_mnist(split="test", limit=1000)
    net = load_classifier()
    with torch.no_grad():
        acc = float((net(data.x).argmax(1) == data.labels).double().mean())
    assert acc > 0.88
    meta = torch.load(WEIGHTS, weights_only=True)["meta"]
    assert meta["test_accuracy"] >= 0.91


def test_load_classifier_refuses_other_weights(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"state_dict": Head().state_dict()}, path)
    with pytest.raises(UserError, match="FMNISTClassifier"):
        load_classifier(path)
    with pytest.raises(UserError, match="train-classifier"):
        load_classifier(tmp_path / "none.pt")


def _value(metric="fid", sha="aa", n_fake=100, n_real=100, reference="fashion-mnist/train"):
    prov = Provenance("net", sha, n_fake, n_real, reference, "G", 0, 10)
    return MetricValue(metric, 1.0, prov)


def test_provenance_refuses_different_feature_nets_counts_or_reference():
    check_comparable(_value(), _value())
    check_all_comparable([_value(), _value(), _value("kid", sha="bb")])  # other metric: fine
    for bad, word in ((_value(sha="bb"), "feature_net_sha256"), (_value(n_fake=50), "n_fake"),
                      (_value(n_real=50), "n_real"), (_value(reference="x/test"), "reference")):
        with pytest.raises(UserError, match=word):
            check_comparable(_value(), bad)
        with pytest.raises(UserError, match="refusing"):
            check_all_comparable([_value(), _value("kid"), bad])
    v = _value()
    assert MetricValue.from_dict(v.to_dict()) == v


def test_reference_stats_are_cached_by_key(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    fn = load_feature_net(Head())
    x = torch.randn(40, 4)
    first = reference_stats(x, fn, "toy", "train", 30)
    again = reference_stats(x, fn, "toy", "train", 30)
    assert not first.cached and again.cached
    assert first.path.parent == tmp_path / "cache" / "refstats"
    torch.testing.assert_close(first.features, again.features)
    assert first.features.shape == (30, 3) and first.sigma.shape == (3, 3)
    other = [reference_stats(x, fn, "toy", "train", 20), reference_stats(x, fn, "toy", "test", 30),
             reference_stats(x + 1, fn, "toy", "train", 30),
             reference_stats(x, load_feature_net(Head()), "toy", "train", 30)]
    assert all(not s.cached for s in other) and len({s.path for s in other}) == 4
    first.path.write_bytes(b"truncated")  # a broken entry is recomputed, not trusted
    assert not reference_stats(x, fn, "toy", "train", 30).cached


def test_inception_score_bounds():
    eye = torch.eye(5).repeat(4, 1)  # confident and evenly spread: IS = number of classes
    assert inception_score(eye, splits=2) == {"is": pytest.approx(5.0), "is_std": 0.0}
    same = torch.full((20, 5), 0.2)  # every sample alike: IS = 1
    assert inception_score(same, splits=4)["is"] == pytest.approx(1.0)
    p = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    kl = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert inception_score(p, splits=1)["is"] == pytest.approx(math.exp(kl))
    with pytest.raises(UserError, match="softmax"):
        inception_score(torch.randn(10, 3))


def test_class_stats_by_hand():
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)  # 4 classes, class 3 never generated
    out = class_stats(torch.nn.functional.one_hot(labels, 4).double())
    p = torch.tensor([0.6, 0.3, 0.1])
    assert out["class_histogram"] == pytest.approx([0.6, 0.3, 0.1, 0.0])
    assert out["class_kl"] == pytest.approx(float((p * (p * 4).log()).sum()))
    assert out["classes_covered"] == 3
    # 1 sample of 100 for a class is 4% of its uniform share (25): not covered at 10%.
    many = torch.nn.functional.one_hot(torch.tensor([0] * 99 + [1]), 4).double()
    assert class_stats(many)["classes_covered"] == 1
    assert class_stats(many, min_share=0.0)["classes_covered"] == 2
