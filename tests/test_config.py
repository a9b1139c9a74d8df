"""Typed config: defaults, YAML, overrides, and one clear error per mistake."""

import pytest
import yaml

from ganforge.config import (Config, build_config, check_combination, check_value, dump_yaml,
                             iter_keys, read_yaml)
from ganforge.errors import UserError


def test_defaults_are_the_embedded_default_run():
    cfg = build_config()
    assert (cfg.data.name, cfg.model.name, cfg.loss, cfg.schedule) == \
        ("fashion-mnist", "dcgan", "nonsaturating", "alternating")
    assert cfg.precision == "auto" and cfg.device == "auto"


def test_overrides_with_types_and_shorthands():
    cfg = build_config(None, ["data=ring8", "model=mlp", "lr_G=1e-4", "lr_D=5e-5", "steps=200",
                              "optim_D.betas=[0.0,0.9]", "model.d_dropout=0.3", "d_steps=5",
                              "data.limit=100", "tensorboard=false", "run_dir=/tmp/x"])
    assert cfg.data.name == "ring8" and cfg.model.name == "mlp"
    assert cfg.lr_G == 1e-4 and cfg.lr_D == 5e-5 and cfg.steps == 200 and cfg.d_steps == 5
    assert cfg.optim_D.betas == (0.0, 0.9) and cfg.model.d_dropout == 0.3
    assert cfg.data.limit == 100 and cfg.tensorboard is False


def test_yaml_round_trip(tmp_path):
    cfg = build_config(None, ["loss=hinge", "optim_G.betas=0.0,0.9", "lr_schedule_D.name=linear"])
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(cfg))
    assert build_config(read_yaml(path)) == cfg


def test_yaml_floats_without_a_dot_are_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr_G: 1e-4\ndata: {name: grid25, scale: auto}\nmodel: mlp\n")
    cfg = build_config(read_yaml(path))
    assert cfg.lr_G == 1e-4 and cfg.data.name == "grid25" and cfg.data.scale == "auto"


@pytest.mark.parametrize("override,message", [
    ("lr_g=1e-4", "unknown config key 'lr_g' (did you mean 'lr_G'?)"),
    ("optim_G.betaz=1", "unknown config key 'optim_G.betaz' (did you mean 'optim_G.betas'?)"),
    ("loss=hinj", "loss='hinj' is not valid (did you mean 'hinge'?)"),
    ("steps=abc", "steps must be a whole number, got 'abc'"),
    ("steps=0", "steps=0 is out of range: steps must be in [1, 1e+12]"),
    ("tensorboard=maybe", "tensorboard must be true or false"),
    ("optim_D.betas=[0.5]", "optim_D.betas must be 2 numbers"),
    ("data.scale=automatic", "data.scale='automatic' is not valid (did you mean 'auto'?)"),
    ("model.d_dropout=1.5", "model.d_dropout must be in [0, 1)"),
    ("optim_G.betas=[2,3]", "each value of optim_G.betas must be in [0, 1)"),
    ("optim_D.eps=-1", "optim_D.eps must be in (0, 1]"),
    ("seed=99999999999999999999999", "seed must be in [0, 4.29497e+09]"),
    ("lr_G=inf", "lr_G must be a finite number"),
    ("lr_D=nan", "lr_D must be a finite number"),
    ("lr_schedule_G.gamma=-1", "the factor that decays the learning rate"),
    ("steps=1.5", "steps must be a whole number"),
    ("steps=1e400", "steps must be a whole number"),
    ("device=gpu", "device='gpu' is not a device"),
    ("eval.metrics=fid,fdi", "unknown metric 'fdi'"),
    ("augment.policy=color,flip", "unknown augmentation 'flip'"),
    ("schedule=onestep d_steps=5", "d_steps=5 applies to schedule=alternating only"),
    ("onestep_impl=stopgrad", "onestep_impl=stopgrad applies to schedule=onestep only"),
    ("schedule=onestep reuse_fake=true", "reuse_fake=True applies to schedule=alternating"),
    ("loss=hinge label_smoothing=0.1", "label_smoothing is defined for the cross-entropy"),
    ("optim_G.name=sgd optim_G.betas=[0.9,0.99]", "optim_G.betas=(0.9, 0.99) is not used by"),
    ("lr_schedule_D.gamma=0.1", "lr_schedule_D.gamma=0.1 is not used by"),
    ("ema.rampup=0.05", "ema.rampup has no effect without ema.half_life_images"),
    ("data=ring8 eval.metrics=fid,modes data.root=/x", "data.root is only used by"),
    ("eval.metrics=modes", "the modes metric is for the 2-D mixtures"),
    ("schedule=onestep balance=ratio", "balance=ratio changes d_steps/g_steps"),
    ("model=mlp model.d_batchnorm=true", "model.d_batchnorm=true needs model=dcgan"),
    ("optim_G=adam", "optim_G is a section"),
    ("steps", "overrides are key=value"),
])
def test_each_mistake_is_one_message_naming_the_key(override, message):
    with pytest.raises(UserError) as err:
        build_config(None, override.split(" "))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_yaml_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_yaml(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        read_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(UserError, match="must be a mapping"):
        read_yaml(tmp_path / "list.yaml")


def test_every_default_is_in_its_declared_range():
    cfg = Config()
    for key, value, _, check in iter_keys(cfg):
        assert check_value(key, value, check) == value, key
    check_combination(cfg)


def test_choices_are_read_from_the_registries():
    from ganforge.losses import LOSSES
    from ganforge.optim import OPTIMIZERS
    from ganforge.steps import SCHEDULES

    checks = {key: check for key, _, _, check in iter_keys(Config())}
    assert list(checks["loss"].choices()) == list(LOSSES)
    assert list(checks["schedule"].choices()) == list(SCHEDULES)
    assert list(checks["optim_G.name"].choices()) == list(OPTIMIZERS)


def test_presets_are_checked_like_user_values(monkeypatch):
    from ganforge import presets

    bad = presets.Preset("broken", {"lr_G": -1.0}, "nobody")
    monkeypatch.setitem(presets.PRESETS, "broken", bad)
    with pytest.raises(UserError, match="lr_G=-1.0 is out of range"):
        build_config(None, ["preset=broken"])


def test_dump_is_plain_yaml():
    data = yaml.safe_load(dump_yaml(Config()))
    assert data["optim_G"]["betas"] == [0.5, 0.999] and data["data"]["name"] == "fashion-mnist"
