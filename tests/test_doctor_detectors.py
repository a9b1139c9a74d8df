"""Each detector fires on a trace that shows its failure and stays quiet on healthy traces;
a finding is reported once, not at every row."""

import math

import pytest

import doctor_traces as traces
from ganforge.doctor.detectors import (CHANCE_LOSS_D, Context, DiscriminatorCollapse,
                                       DiscriminatorOverpowering,
                                       Divergence, ModeCollapse, Stagnation, default_detectors)
from ganforge.doctor.watch import REARM_CHECKS, Watch


def run(rows, context=None, detectors=None):
    """All findings a Watch reports over ``rows``, with the row index each appeared at."""
    watch = Watch(detectors, context or Context(loss="nonsaturating", lr_G=2e-4, lr_D=2e-4))
    out = []
    for i, row in enumerate(rows):
        out += [(i, f) for f in watch.update(row)]
    return out, watch


@pytest.mark.parametrize("seed", range(6))
def test_healthy_runs_raise_nothing(seed):
    found, watch = run(traces.healthy(200, seed))
    assert found == [], [f.render() for _, f in found]


def test_a_strong_but_healthy_discriminator_is_not_a_finding():
    assert run(traces.healthy_strong_d())[0] == []


def test_healthy_run_with_only_the_keys_logged_today_raises_nothing():
    basic = ("step", "images_seen", "loss/D", "loss/G", "logits/real", "logits/fake", "diag/d_real_acc",
             "diag/d_fake_acc", "time/step_ms")
    rows = [{k: v for k, v in r.items() if k in basic} for r in traces.healthy(200, 9)]
    assert run(rows)[0] == []


def test_absent_keys_skip_a_detector_quietly():
    rows = [{"step": 50 * i, "loss/D": 1.0} for i in range(1, 50)]
    assert run(rows)[0] == []
    for det in default_detectors():
        assert det.check([], Context()) is None


def test_d_overpowering_fires_once_with_numbers_causes_and_settings():
    rows = traces.d_overpowering()
    found, watch = run(rows)
    assert [f.kind for _, f in found] == ["d_overpowering"]
    i, f = found[0]
    assert i >= 30                          # not before the trace turns bad
    assert f.first_step > 30 * traces.EVERY
    assert f.numbers["d_real_acc"] >= 0.95 and f.numbers["d_fake_acc"] >= 0.95
    assert "loss/G climbed" in f.seen
    assert "%" in f.seen and f"{f.first_step}-" in f.seen
    settings = [r.setting for r in f.remedies]
    assert "lr_D=1e-4" in settings and "preset=r1" in settings
    assert "augment.policy=color,translation,cutout balance=ada" in settings
    assert "label_smoothing=0.1" in settings and "balance=auto" in settings
    # The episode runs on to the end of the trace without being reported again.
    assert watch.active["d_overpowering"].last_step == rows[-1]["step"]


def test_d_overpowering_with_the_basic_keys_and_the_range_check_off_blames_the_range_first():
    rows = traces.d_overpowering(grad_keys=False)
    found, _ = run(rows, Context(loss="nonsaturating", data_scale="off", lr_D=4e-4))
    (_, f), = found
    assert f.kind == "d_overpowering"
    assert "value range" in f.causes[0] and f.remedies[0].setting == "data.scale=check"
    assert "lr_D=2e-4" in [r.setting for r in f.remedies]


def test_d_overpowering_from_a_vanishing_g_gradient():
    rows = traces.d_overpowering()
    for r in rows[30:]:
        r["loss/G"] = 2.0
    (_, f), = run(rows, detectors=[DiscriminatorOverpowering()])[0]
    assert "G's gradient norm fell to" in f.seen
    assert f.numbers["grad_norm_G"] < 0.1 * f.numbers["grad_norm_G_peak"]


def test_d_overpowering_needs_evidence_beyond_high_accuracy():
    # 98.5% accuracy but G still learning: loss/G flat, gradient steady -> not yet a finding.
    rows = traces.d_overpowering()
    for r in rows[30:]:
        r.update({"loss/G": 2.0, "diag/grad_norm_G": 2.0, "diag/d_real_acc": 0.985,
                  "diag/d_fake_acc": 0.985})
    assert run(rows, detectors=[DiscriminatorOverpowering()])[0] == []


def test_d_at_chance_with_live_gradients_is_the_equilibrium_not_a_collapse():
    assert run(traces.equilibrium())[0] == []


def test_d_collapse_fires_after_d_had_learned():
    found, _ = run(traces.d_collapse())
    assert [f.kind for _, f in found] == ["d_collapse"]
    f = found[0][1]
    assert abs(f.numbers["loss_D"] - CHANCE_LOSS_D["nonsaturating"]) < 0.01
    assert "lr_D=4e-4" in [r.setting for r in f.remedies] and "d_steps=2" in f.render()


def test_d_collapse_ignores_the_start_of_a_run_at_chance():
    assert run(traces.at_chance_from_the_start(12))[0] == []
    # ...but a D that never leaves chance for NEVER_LEARNED_ROWS rows is reported.
    found, _ = run(traces.at_chance_from_the_start(60))
    assert [f.kind for _, f in found] == ["d_collapse"]


def test_d_collapse_with_an_unknown_loss_uses_the_logit_gap():
    found, _ = run(traces.d_collapse(), Context(loss=None))
    assert [f.kind for _, f in found] == ["d_collapse"]


def test_d_collapse_ignores_a_transient_dip_to_chance():
    # measured (preset=ttur, grid25, seed 1): D at chance and its gradient averaging 9.9% of
    # its peak over steps 400-575 (an 8-row window flagged it), then D and G recover and the
    # run covers all 25 modes
    rows = traces.ttur_transient()
    dip = [r["diag/grad_norm_D"] for r in rows if 400 <= r["step"] <= 575]
    assert sum(dip) / len(dip) < 0.1 * max(r["diag/grad_norm_D"] for r in rows)
    assert run(rows)[0] == []


def test_d_collapse_does_not_judge_a_wasserstein_critic():
    # preset=wgan on grid25 (measured): the critic's loss fell from -6e-3 to 1e-5, D's
    # gradient to 4% of its peak, accuracy 0 on real and 1 on fake, and the run covered 18-21
    # of 25 modes. A Wasserstein critic has no chance level, so this is not a finding...
    rows = []
    for i in range(50):
        late = i >= 20
        rows.append({"step": 25 * (i + 1), "loss/D": 1e-5 if late else -6e-3,
                     "logits/real": -4.6e-3 if late else 3.8e-3, "logits/fake": -4.6e-3 if late else -2.8e-3,
                     "diag/d_real_acc": 0.0 if late else 0.64,
                     "diag/d_fake_acc": 1.0 if late else 0.61,
                     "diag/grad_norm_D": 3.5e-3 if late else 0.08})
    assert run(rows, Context(loss="wasserstein"), detectors=[DiscriminatorCollapse()])[0] == []
    # ...while the same trace under a loss with a chance level at that value is one.
    for r in rows[20:]:
        r["loss/D"] = 2.0
    for r in rows[:20]:
        r["loss/D"] = 1.5
    found, _ = run(rows, Context(loss="hinge"), detectors=[DiscriminatorCollapse()])
    assert [f.kind for _, f in found] == ["d_collapse"]


def test_mode_collapse_from_diversity_and_duplicates():
    found, _ = run(traces.mode_collapse())
    (i, f), = found
    assert f.kind == "mode_collapse" and i >= 30
    assert f.numbers["diversity"] < 0.5 and f.numbers["duplicates"] > 0.25
    assert "spread out" in f.seen and "near-copies" in f.seen
    assert {"d_steps=2", "model.d_minibatch_stddev=true"} <= {r.setting for r in f.remedies}


def test_mode_collapse_from_classes_disappearing():
    found, _ = run(traces.classes_disappear(), detectors=[ModeCollapse()])
    (_, f), = found
    assert "classes covered fell to 7 from 10" in f.seen


def test_mode_collapse_from_mixture_modes_disappearing():
    """On ring8/grid25 evaluation logs metric/modes; 8 modes falling to 2 is a collapse that
    the mean pairwise distance barely shows. A steady 8 is quiet."""
    rows = traces.classes_disappear()
    for row in rows:
        if "metric/classes_covered" in row:
            row["metric/modes"] = 2.0 if row["step"] > 2200 else 8.0
            del row["metric/classes_covered"]
    (_, f), = run(rows, detectors=[ModeCollapse()])[0]
    assert "mixture modes covered fell to 2 from 8" in f.seen
    for row in rows:
        if "metric/modes" in row:
            row["metric/modes"] = 8.0
    assert run(rows, detectors=[ModeCollapse()])[0] == []


def test_mode_collapse_waits_for_g_to_leave_its_initialization():
    rows = traces.healthy(20)
    for r in rows:
        if r["step"] < 500:
            r["diag/diversity"] = 0.05
    assert run(rows, detectors=[ModeCollapse()])[0] == []


def test_divergence_on_a_non_finite_value_reports_its_step():
    rows = traces.divergence_nan()
    found, _ = run(rows)
    (_, f), = found
    assert f.kind == "divergence" and f.severity == "error"
    assert f.first_step == f.last_step == rows[-1]["step"]
    assert f"at step {rows[-1]['step']}" in f.seen and "loss/G=nan" in f.seen
    assert "lr_G=2e-5 lr_D=2e-5" in [r.setting for r in f.remedies]


def test_divergence_on_exploding_logits_and_norms():
    rows = traces.divergence_explodes()
    (i, f), = run(rows)[0]
    # a logit of 850 is absurd on its own: reported in the first bad row
    assert f.kind == "divergence" and f.first_step == rows[-2]["step"] and i == len(rows) - 2
    assert "real logit reached 850" in f.seen and "loss/D" not in f.numbers


def test_divergence_on_an_exploding_norm_needs_it_to_stay_exploded():
    rows = traces.divergence_explodes(logits=False)
    (i, f), = run(rows, detectors=[Divergence()])[0]
    assert i == len(rows) - 1 and f.first_step == rows[-2]["step"]   # seen in the 2nd row,
    assert "diag/grad_norm_D jumped to 4000, then 8000" in f.seen     # dated from the 1st
    assert run(rows[:-1], detectors=[Divergence()])[0] == []
    assert run(traces.grad_burst(), detectors=[Divergence()])[0] == []


def test_divergence_on_huge_update_ratios():
    rows = traces.healthy(20)
    rows[-1]["diag/update_ratio_D"] = 0.3
    (_, f), = run(rows, detectors=[Divergence()])[0]
    assert "changed D's weights by 30%" in f.seen and f.first_step == rows[-1]["step"]


def test_divergence_in_the_first_logged_row_needs_no_history():
    # Adam at lr 0.5 on ring8, steps 1-25 (measured): no history to compare with yet.
    row = {"step": 25, "loss/D": 8040.0, "loss/G": 1.17e4, "logits/real": -150.0, "logits/fake": 5480.0,
           "diag/d_real_acc": 0.54, "diag/d_fake_acc": 0.32}
    (_, f), = run([row])[0]
    assert f.kind == "divergence" and f.first_step == 25
    assert "fake logit reached 5480" in f.seen
    assert run([row], Context(loss="wasserstein"))[0] == []   # critic scores are unbounded


def test_divergence_with_bf16_suggests_fp32():
    (_, f), = run(traces.divergence_nan(), Context(precision="bf16"))[0]
    assert "precision=fp32" in [r.setting for r in f.remedies]


def test_stagnation_on_a_flat_metric_only():
    found, _ = run(traces.fid_flat(), detectors=[Stagnation()])
    (_, f), = found
    assert f.kind == "stagnation" and "metric/fid" in f.title and f.severity == "info"
    assert math.isclose(f.numbers["metric/fid"], 41, abs_tol=1)
    # classes_covered sits at 10 in a good run: flat there is not stagnation
    assert all("classes_covered" not in f.title for _, f in found)


def test_a_problem_that_goes_away_and_comes_back_is_reported_twice():
    bad = traces.d_overpowering(n_good=10, n_bad=12)
    good = traces.healthy(REARM_CHECKS + 5, seed=11, start=bad[-1]["step"] + traces.EVERY)
    again = traces.d_overpowering(n_good=0, n_bad=12, seed=12)
    for r in again:
        r["step"] += good[-1]["step"]
    found, watch = run(bad + good + again)
    assert [f.kind for _, f in found] == ["d_overpowering", "d_overpowering"]
    assert found[1][1].first_step > good[-1]["step"]
    assert len(watch.episodes) == 2


def test_divergence_names_an_imbalance_and_first_closes_the_gap():
    # The run of issue 16: lr_D = 100 x lr_G on ring8; D's first update ratio is 13%.
    rows = traces.lr_imbalance_ring8()
    (_, f), = run(rows, Context(loss="nonsaturating", lr_G=1e-4, lr_D=0.01),
                  detectors=[Divergence()])[0]
    assert "D's learning rate is 100x G's (0.01 vs 0.0001)" in f.seen
    assert "each step moves D's weights 130x as far as G's" in f.seen
    assert f.causes[0].startswith("D learns an order of magnitude faster than G")
    assert [r.setting for r in f.remedies][:2] == ["lr_D=4e-4", "lr_G=1e-5 lr_D=1e-3"]


def test_an_imbalance_seen_only_in_the_update_ratios_slows_the_fast_network():
    rows = traces.healthy(20)
    rows[-1].update({"diag/update_ratio_D": 0.2, "diag/update_ratio_G": 0.004})
    (_, f), = run(rows, Context(loss="nonsaturating", lr_G=2e-4, lr_D=2e-4),
                  detectors=[Divergence()])[0]
    assert "D's learning rate" not in f.seen and "50x as far as G's" in f.seen
    assert f.remedies[0].setting == "lr_D=4e-6"


def test_balanced_paces_keep_the_divergence_advice_as_it_was():
    (_, f), = run(traces.divergence_nan(), Context(lr_G=2e-4, lr_D=4e-4))[0]
    assert f.remedies[0].setting == "lr_G=2e-5 lr_D=4e-5"
    assert not f.causes[0].startswith("D learns")
