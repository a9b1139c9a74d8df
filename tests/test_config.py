"""Typed config: defaults, YAML, overrides, and one clear error per mistake."""

import pytest
import yaml

from ganforge.config import CHOICES, SCHEDULES, Config, build_config, dump_yaml, read_yaml
from ganforge.errors import UserError
from ganforge.losses import LOSSES
from ganforge.trainer import SCHEDULES as STRATEGIES


def test_defaults_are_the_embedded_default_run():
    cfg = build_config()
    assert (cfg.data.name, cfg.model.name, cfg.loss, cfg.schedule) == \
        ("fashion-mnist", "dcgan", "nonsaturating", "alternating")
    assert cfg.precision == "fp32" and cfg.device == "auto"


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
    ("steps=0", "steps must be > 0"),
    ("tensorboard=maybe", "tensorboard must be true or false"),
    ("optim_D.betas=[0.5]", "optim_D.betas must be 2 numbers"),
    ("data.scale=automatic", "data.scale='automatic' is not valid (did you mean 'auto'?)"),
    ("model.d_dropout=1.5", "model.d_dropout must be < 1"),
    ("optim_G=adam", "optim_G is a section"),
    ("steps", "overrides are key=value"),
])
def test_each_mistake_is_one_message_naming_the_key(override, message):
    with pytest.raises(UserError) as err:
        build_config(None, [override])
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


def test_config_choices_mirror_the_registries():
    assert CHOICES["loss"] == tuple(LOSSES)
    assert SCHEDULES == tuple(STRATEGIES)


def test_dump_is_plain_yaml():
    data = yaml.safe_load(dump_yaml(Config()))
    assert data["optim_G"]["betas"] == [0.5, 0.999] and data["data"]["name"] == "fashion-mnist"
