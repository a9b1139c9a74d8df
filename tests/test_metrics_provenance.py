"""MetricValue and Provenance: the to_dict/from_dict round trip through eval.json, and the rule
that refuses to compare values computed with another feature network, other sample counts or
other reference data, while accepting values that differ only in generator, seed or step."""

import dataclasses
import json
import re

import pytest

from ganforge.errors import UserError
from ganforge.metrics.provenance import (MUST_MATCH, MetricValue, Provenance,
                                         check_all_comparable, check_comparable, differences)

SHA = "ab" * 32


def prov(**changes):
    base = Provenance("ganforge-fmnist-classifier", SHA, 2000, 10000, "fashion-mnist/train",
                      "G_ema", 7, 4000)
    return dataclasses.replace(base, **changes)


def value(metric="fid", v=12.5, **changes):
    return MetricValue(metric, v, prov(**changes))


def test_to_dict_is_flat():
    assert value().to_dict() == {
        "metric": "fid", "value": 12.5, "feature_net": "ganforge-fmnist-classifier",
        "feature_net_sha256": SHA, "n_fake": 2000, "n_real": 10000,
        "reference": "fashion-mnist/train", "generator": "G_ema", "seed": 7, "step": 4000}


@pytest.mark.parametrize("v", [value(), value("kid", 0.0031, step=None, n_real=0),
                               value("modes", 23.0, feature_net="none", feature_net_sha256="")])
def test_round_trip_through_json(v):
    assert MetricValue.from_dict(json.loads(json.dumps(v.to_dict()))) == v


def test_from_dict_without_a_step_reads_step_none():
    d = value().to_dict()
    del d["step"]
    assert MetricValue.from_dict(d) == value(step=None)


@pytest.mark.parametrize("drop, named", [
    (("n_real",), "n_real"), (("metric", "value"), "metric, value"),
    (("feature_net_sha256", "seed"), "feature_net_sha256, seed")])
def test_from_dict_names_every_missing_field(drop, named):
    d = value().to_dict()
    for k in drop:
        del d[k]
    with pytest.raises(UserError, match=f"a stored metric value lacks {named}: .*--replace"):
        MetricValue.from_dict(d)


def test_values_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        value().value = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        prov().n_fake = 1


def test_equal_provenance_is_comparable():
    check_comparable(value(v=12.5), value(v=30.0))
    assert differences(prov(), prov()) == []


@pytest.mark.parametrize("changes", [
    {"generator": "G"}, {"seed": 8}, {"step": 9000}, {"step": None},
    {"feature_net": "renamed.pt"}])     # the same weights under another file name
def test_generator_seed_step_and_net_name_may_differ(changes):
    check_comparable(value(), value(**changes))
    check_comparable(value(**changes), value())


@pytest.mark.parametrize("field, other, shown", [
    ("feature_net_sha256", "cd" * 32, f"feature_net_sha256: {SHA!r} vs {'cd' * 32!r}"),
    ("n_fake", 10000, "n_fake: 2000 vs 10000"),
    ("n_real", 5000, "n_real: 10000 vs 5000"),
    ("reference", "fashion-mnist/test", "reference: 'fashion-mnist/train' vs "
                                        "'fashion-mnist/test'")])
def test_each_kind_of_difference_is_refused_and_named(field, other, shown):
    with pytest.raises(UserError) as info:
        check_comparable(value(), value(**{field: other}))
    assert str(info.value) == (f"refusing to compare fid values computed differently ({shown}): "
                               "recompute both with the same --feature-net, --n and reference "
                               "data")


def test_must_match_fields():
    assert MUST_MATCH == ("feature_net_sha256", "n_fake", "n_real", "reference")


def test_all_differences_are_listed_in_field_order():
    other = prov(reference="x/test", n_fake=1, generator="G")
    assert differences(prov(), other) == ["n_fake: 2000 vs 1",
                                          "reference: 'fashion-mnist/train' vs 'x/test'"]
    with pytest.raises(UserError, match=re.escape("(n_fake: 2000 vs 1; reference: ")):
        check_comparable(value(), MetricValue("fid", 1.0, other))


def test_different_metrics_are_refused():
    with pytest.raises(UserError, match=re.escape("cannot compare 'fid' with 'kid'")):
        check_comparable(value("fid"), value("kid"))


def test_check_all_comparable_groups_by_metric():
    check_all_comparable([])
    check_all_comparable([value("fid", step=1000), value("kid", n_fake=50),
                          value("fid", step=2000), value("kid", n_fake=50, step=3)])
    with pytest.raises(UserError, match=re.escape("refusing to compare kid values")):
        check_all_comparable([value("kid", n_fake=50), value("fid"), value("kid")])
    # not only the first pair: any later value of the metric is checked
    with pytest.raises(UserError, match=re.escape("n_real: 10000 vs 1")):
        check_all_comparable([value(), value(v=1.0), value(n_real=1)])
