"""Finding and Remedy: plain-text and Markdown rendering, the step range, severities, and the
to_dict/from_dict round trip through findings.jsonl."""

import json

import pytest

from ganforge.doctor.findings import SEVERITIES, Finding, Remedy


def full():
    return Finding(
        "d_overpowering", "The discriminator overpowers the generator", 1550, 2500,
        "D right about 99% of real and 98% of fake samples",
        causes=["D learns faster than G", "the data's value range differs from G's"],
        remedies=[Remedy("lr_D=1e-4", "half of D's learning rate"), Remedy("preset=r1")],
        severity="error", numbers={"d_real_acc": 0.99, "d_fake_acc": 0.98})


def bare(first=700, last=700):
    return Finding("stagnation", "Stagnation: metric/fid has stopped improving", first, last,
                   "metric/fid stayed near 41")


def test_severities_and_the_default():
    assert SEVERITIES == ("info", "warning", "error")
    assert bare().severity == "warning"
    assert bare().causes == [] and bare().remedies == [] and bare().numbers == {}


def test_default_lists_are_not_shared_between_findings():
    a, b = bare(), bare()
    a.causes.append("x")
    a.remedies.append(Remedy("y"))
    a.numbers["z"] = 1.0
    assert b.causes == [] and b.remedies == [] and b.numbers == {}


@pytest.mark.parametrize("first, last, text", [
    (700, 700, "step 700"), (650, 700, "steps 650-700"), (0, 0, "step 0")])
def test_steps(first, last, text):
    assert bare(first, last).steps() == text


def test_remedy_render():
    assert Remedy("lr_D=1e-4", "half of D's learning rate").render() == \
        "lr_D=1e-4  (half of D's learning rate)"
    assert Remedy("preset=r1").render() == "preset=r1"


def test_render_full():
    assert full().render() == (
        "[error] The discriminator overpowers the generator (steps 1550-2500)\n"
        "  seen: D right about 99% of real and 98% of fake samples\n"
        "  likely causes, most likely first:\n"
        "    1. D learns faster than G\n"
        "    2. the data's value range differs from G's\n"
        "  try:\n"
        "    - lr_D=1e-4  (half of D's learning rate)\n"
        "    - preset=r1")


def test_render_without_causes_or_remedies_is_two_lines():
    assert bare().render() == ("[warning] Stagnation: metric/fid has stopped improving "
                               "(step 700)\n  seen: metric/fid stayed near 41")


def test_render_markdown_full():
    assert full().render_markdown() == (
        "**The discriminator overpowers the generator** (steps 1550-2500, error)\n"
        "\n"
        "Seen: D right about 99% of real and 98% of fake samples\n"
        "\n"
        "Likely causes, most likely first:\n"
        "\n"
        "1. D learns faster than G\n"
        "2. the data's value range differs from G's\n"
        "\n"
        "Try:\n"
        "\n"
        "- `lr_D=1e-4`: half of D's learning rate\n"
        "- `preset=r1`")


def test_render_markdown_bare():
    f = bare()
    f.severity = "info"
    assert f.render_markdown() == ("**Stagnation: metric/fid has stopped improving** "
                                   "(step 700, info)\n\nSeen: metric/fid stayed near 41")


def test_to_dict_is_plain_json_data():
    assert full().to_dict() == {
        "kind": "d_overpowering", "title": "The discriminator overpowers the generator",
        "first_step": 1550, "last_step": 2500,
        "seen": "D right about 99% of real and 98% of fake samples",
        "causes": ["D learns faster than G", "the data's value range differs from G's"],
        "remedies": [{"setting": "lr_D=1e-4", "why": "half of D's learning rate"},
                     {"setting": "preset=r1", "why": ""}],
        "severity": "error", "numbers": {"d_real_acc": 0.99, "d_fake_acc": 0.98}}


@pytest.mark.parametrize("make", [full, bare])
def test_round_trip_through_a_jsonl_line(make):
    f = make()
    back = Finding.from_dict(json.loads(json.dumps(f.to_dict())))
    assert back == f
    assert all(isinstance(r, Remedy) for r in back.remedies)
    assert back.render() == f.render() and back.render_markdown() == f.render_markdown()


def test_from_dict_ignores_unknown_keys_and_fills_defaults():
    row = {"kind": "divergence", "title": "Training diverged", "first_step": 9,
           "last_step": 9, "seen": "loss/G became nan", "added_in": "ganforge 9", "score": 3}
    assert Finding.from_dict(row) == Finding("divergence", "Training diverged", 9, 9,
                                             "loss/G became nan")


def test_from_dict_accepts_remedy_objects():
    d = full().to_dict()
    d["remedies"] = [Remedy("lr_D=1e-4", "half of D's learning rate"), d["remedies"][1]]
    assert Finding.from_dict(d) == full()


def test_from_dict_does_not_change_its_input():
    d = full().to_dict()
    before = json.dumps(d)
    Finding.from_dict(d)
    assert json.dumps(d) == before
