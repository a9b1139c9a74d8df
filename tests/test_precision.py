"""Precision: auto picks bf16 only where the hardware computes it natively; fp16 trains with a
gradient scaler, including the penalties that take a gradient of a gradient."""

import pytest
import torch

from conftest import dcgan_pair, mlp_pair
from ganforge import Trainer, precision
from ganforge.objective import Objective
from ganforge.regularizers import build_penalties


@pytest.mark.parametrize("flags, want", [
    (set(), "fp32"), ({"avx2", "avx512f"}, "fp32"), ({"amx_bf16"}, "bf16"),
    ({"avx512_bf16"}, "bf16")])
def test_auto_reads_the_cpu_flags(monkeypatch, flags, want):
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    chosen, why = precision.resolve("auto", "cpu")
    assert chosen == want and why.startswith(f"auto: {want}")


def test_bf16_without_native_support_says_what_it_costs(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    chosen, why = precision.resolve("bf16", "cpu")
    assert chosen == "bf16" and "emulated" in why and "precision=auto picks fp32" in why
    assert precision.resolve("fp32", "cpu") == ("fp32", "as asked")


def test_the_plan_says_what_auto_chose_and_why(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    G, D = mlp_pair()
    text = Trainer(G, D, precision="auto", device="cpu").plan().format()
    assert "precision fp32)" in text
    assert "precision: auto: fp32, this CPU has neither AMX nor AVX-512 BF16" in text


def test_fp16_trains_with_a_scaler_and_reports_the_scale():
    G, D = dcgan_pair()
    trainer = Trainer(G, D, precision="fp16", seed=0, device="cpu")
    assert trainer.players.scaler is not None
    seen = []
    hook = D.register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    stats = trainer.step(torch.rand(8, 1, 28, 28) * 2 - 1)
    hook.remove()
    assert torch.float16 in seen
    assert all(p.dtype == torch.float32 for p in [*G.parameters(), *D.parameters()])
    assert stats["amp/scale"] > 0 and all(v == v for v in stats.values())


def test_an_overflowing_step_is_skipped_and_the_scale_lowered():
    G, D = mlp_pair()
    trainer = Trainer(G, D, precision="fp16", seed=0, device="cpu")
    trainer.players.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 120)  # overflows
    before = {k: v.clone() for k, v in D.state_dict().items()}
    stats = trainer.step(torch.randn(16, 2))
    assert all(torch.equal(before[k], v) for k, v in D.state_dict().items())   # skipped
    assert stats["amp/scale"] == 2.0 ** 119                                      # halved


def _d_grads_with_gp(scale: float, prec: str) -> list[torch.Tensor]:
    torch.manual_seed(0)
    G, D = dcgan_pair()
    objective = Objective(penalties=build_penalties(gp=10.0), seed=1)
    trainer = Trainer(G, D, precision=prec, seed=0, device="cpu", objective=objective)
    if prec == "fp16":
        trainer.players.scaler = torch.amp.GradScaler("cpu", init_scale=scale)
    grads = []
    hook = trainer.opt_D.register_step_pre_hook(
        lambda opt, *a: grads.extend(p.grad.clone() for p in D.parameters()))
    trainer.step(torch.rand(8, 1, 28, 28) * 2 - 1)
    hook.remove()
    return grads


def test_the_gradient_penalty_under_the_scaler_does_not_depend_on_the_scale():
    """A scale that is a power of two changes no bit of an unscaled gradient unless fp16
    values under- or overflow, so D's gradient of loss + GP (a double backward) is identical
    for scales 2^10 and 2^14 (at 2^4 small fp16 gradients underflow: the reason to scale).
    Against fp32 the whole gradient agrees to the rounding of fp16 forward passes."""
    flat = lambda grads: torch.cat([g.flatten() for g in grads])   # noqa: E731
    mid, high = _d_grads_with_gp(2.0 ** 10, "fp16"), _d_grads_with_gp(2.0 ** 14, "fp16")
    assert len(mid) == len(high) > 0
    for a, b in zip(mid, high):
        assert torch.equal(a, b)
    full = flat(_d_grads_with_gp(0, "fp32"))
    assert float((flat(high) - full).norm() / full.norm()) < 1e-2
    assert float((flat(_d_grads_with_gp(2.0 ** 4, "fp16")) - full).norm() / full.norm()) > 0


def test_the_cpu_flags_can_be_pinned_by_the_environment(monkeypatch):
    monkeypatch.setenv("GANFORGE_CPU_FLAGS", "avx512f amx_bf16 amx_tile")
    assert precision.resolve("auto", "cpu") == ("bf16", "auto: bf16, this CPU has amx_bf16")
    monkeypatch.setenv("GANFORGE_CPU_FLAGS", "avx2")
    assert precision.resolve("auto", "cpu")[0] == "fp32"


def test_the_default_config_is_auto():
    from ganforge.config import Config
    assert Config().precision == "auto"


@pytest.mark.parametrize("asked, data_dims, want", [
    ("auto", 1, "fp32"),    # vector samples: fp32 even where bf16 is native
    ("auto", 3, "bf16"),    # images: auto keeps bf16
    ("bf16", 1, "bf16"),    # asked for: kept
])
def test_auto_trains_vector_samples_in_fp32_where_bf16_is_native(monkeypatch, asked,
                                                                    data_dims, want):
    monkeypatch.setenv("GANFORGE_CPU_FLAGS", "avx512f amx_bf16 amx_tile")
    if data_dims == 1:
        G, D = mlp_pair()
        data = torch.randn(64, 2)
    else:
        G, D = dcgan_pair()
        data = torch.rand(64, 1, 28, 28) * 2 - 1
    tr = Trainer(G, D, precision=asked, device="cpu", seed=0)
    assert tr.players.precision == ("bf16" if asked in ("auto", "bf16") else asked)
    tr.prepare(data, batch_size=32)
    assert tr.players.precision == want
    assert ("vector samples" in tr.plan().format()) == (want == "fp32")
    assert precision.for_samples("auto", "fp32", (2,)) == ("fp32", None)   # nothing to change


def test_auto_keeps_the_precision_a_trainer_has_trained_in(monkeypatch):
    """Vector data given after steps in bf16 (a user's iterable first) does not switch a run
    in the middle; a trainer that has only loaded a checkpoint still chooses at its first data,
    as the run it resumes did at its start."""
    monkeypatch.setenv("GANFORGE_CPU_FLAGS", "avx512f amx_bf16 amx_tile")
    G, D = mlp_pair()
    tr = Trainer(G, D, device="cpu", seed=0)
    tr.fit([torch.randn(16, 2)], steps=1, progress=False)   # an iterable: shape unknown
    assert tr.players.precision == "bf16"
    tr.prepare(torch.randn(64, 2), batch_size=16)
    assert tr.players.precision == "bf16"
    fresh = Trainer(*mlp_pair(), device="cpu", seed=0)
    fresh.load_state_dict(tr.state_dict())
    fresh.prepare(torch.randn(64, 2), batch_size=16)
    assert fresh.players.precision == "fp32"
