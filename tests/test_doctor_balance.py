"""The rebalancing controllers move the right way, stay in bounds, and round-trip state."""

import pytest

from ganforge.doctor.balance import AdaController, RatioController, SmoothingController


def test_ada_moves_p_by_images_over_adjust_images_toward_the_target():
    ada = AdaController(target=0.6, adjust_images=500_000)
    d = ada.update(r_t=0.9, images=64 * 4)             # D overfits: more augmentation
    assert d.value == pytest.approx(256 / 500_000) and ada.p == d.value
    assert d.stats == {"balance/augment_p": d.value, "balance/r_t": 0.9}
    assert "raised" in d.reason
    ada.update(r_t=0.2, images=128)                    # D unsure: less
    assert ada.p == pytest.approx(128 / 500_000)
    ada.update(r_t=0.6, images=10_000)                 # on target: unchanged
    assert ada.p == pytest.approx(128 / 500_000)


def test_ada_goes_from_0_to_its_bound_in_adjust_images_and_never_below_0():
    ada = AdaController(adjust_images=1000, p_max=0.99)
    for _ in range(20):
        ada.update(1.0, 100)                           # 2000 images: would reach 2.0
    assert ada.p == 0.99
    for _ in range(30):
        ada.update(0.0, 100)
    assert ada.p == 0.0
    half = AdaController(adjust_images=1000)
    for _ in range(5):
        half.update(1.0, 100)
    assert half.p == pytest.approx(0.5)


def test_smoothing_rises_when_d_is_too_sure_and_stays_bounded():
    s = SmoothingController(target_acc=0.8, max_smoothing=0.3, adjust_images=1000)
    assert s.update(0.7, 500).value == 0.0             # healthy D: no smoothing
    d = s.update(0.95, 500)
    assert d.value == pytest.approx(0.15) and d.stats["balance/label_smoothing"] == d.value
    for _ in range(10):
        s.update(0.99, 500)
    assert s.smoothing == 0.3
    s.update(0.6, 500)
    assert s.smoothing == pytest.approx(0.15)
    with pytest.raises(ValueError):
        SmoothingController(max_smoothing=0.7)


def test_ratio_adds_g_steps_after_patience_and_is_bounded():
    r = RatioController(high=0.85, low=0.6, max_g_steps=3, patience=2)
    assert r.update(0.95).value == (1, 1)              # one high reading is not enough
    d = r.update(0.95)
    assert d.value == (1, 2) and d.stats["balance/g_steps"] == 2 and "changed" in d.reason
    r.update(0.7)                                      # in the band: streak resets
    assert r.update(0.95).value == (1, 2)
    for _ in range(10):
        r.update(0.99)
    assert r.steps == (1, 3)                           # max_g_steps
    for _ in range(20):
        r.update(0.4)
    assert r.steps == (1, 1)                           # max_d_steps=1: never more D steps


def test_ratio_can_add_d_steps_when_allowed():
    r = RatioController(max_d_steps=2, patience=1)
    r.update(0.3)
    r.update(0.3)
    assert r.steps == (2, 1)


def test_an_alternating_signal_does_not_make_the_ratio_flip():
    r = RatioController(patience=3)
    for acc in [0.95, 0.4] * 10:
        r.update(acc)
    assert r.steps == (1, 1)


@pytest.mark.parametrize("make,feed", [
    (lambda: AdaController(adjust_images=1000), lambda c: c.update(0.9, 37)),
    (lambda: SmoothingController(adjust_images=1000), lambda c: c.update(0.95, 37)),
    (lambda: RatioController(patience=2), lambda c: c.update(0.95)),
])
def test_state_dict_round_trip_continues_identically(make, feed):
    a = make()
    for _ in range(3):
        feed(a)
    b = make()
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    assert feed(a).value == feed(b).value
    assert all(isinstance(v, (int, float)) for v in a.state_dict().values())  # checkpointable
