"""Property tests: whatever a user types for any key, the parser and ``--dry-run`` give a valid
config or one clean error, never a traceback.

Values are drawn for every key from its own type (in range and out of range, with NaN, inf,
huge integers and the registry's names) and from the wrong types (text, lists, mappings,
null), through both doors: a YAML mapping and a ``key=value`` argument.
"""

import math
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganforge.cli import main
from ganforge.config import Config, build_config, check_combination, check_value, iter_keys
from ganforge.errors import UserError

KEYS = list(iter_keys(Config()))
# No leading "/" or "~": a random absolute path could be a huge folder to scan for images.
SAFE_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-_.,:=[] ", max_size=12)
NUMBERS = st.one_of(
    st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 1e-8, 1e12, 2**32, 2**63, 1e400]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, SAFE_TEXT)
ANY = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(SAFE_TEXT, SCALARS,
                                                                       max_size=2))


def values(check) -> st.SearchStrategy:
    """Values worth trying for a key: anything, plus its registry's names when it has one."""
    if check.choices is not None:
        return st.one_of(ANY, st.sampled_from(sorted(map(str, check.choices()))))
    return ANY


def as_argument(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(as_argument(v) for v in value) + "]"
    return str(value)


def nested(key: str, value) -> dict:
    head, _, rest = key.partition(".")
    return {head: nested(rest, value) if rest else value}


def assert_valid(cfg: Config) -> None:
    for key, value, _, check in iter_keys(cfg):
        check_value(key, value, check)
        if isinstance(value, float):
            assert math.isfinite(value), key
    check_combination(cfg)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_parser_gives_a_valid_config_or_one_clean_error(data):
    key, _, _, check = data.draw(st.sampled_from(KEYS))
    value = data.draw(values(check))
    for source in ("yaml", "argument"):
        try:
            cfg = (build_config(nested(key, value)) if source == "yaml"
                   else build_config(None, [f"{key}={as_argument(value)}"]))
        except UserError as err:
            message = str(err)
            assert message and "\n" not in message and "Traceback" not in message
        else:
            assert_valid(cfg)


BASE = ["data=ring8", "model=mlp", "model.width=8", "model.z_dim=2", "batch_size=32",
        "steps=10", "device=cpu"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_dry_run_gives_a_plan_or_one_clean_error(data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)   # relative paths a value might name resolve in an empty dir
    key, _, _, check = data.draw(st.sampled_from(KEYS))
    value = data.draw(values(check))
    code = main(["train", "--dry-run", *BASE, f"run_dir={tmp_path / 'run'}",
                 f"{key}={as_argument(value)}"])
    out = capsys.readouterr()
    assert code in (0, 2), out.err
    assert "Traceback" not in out.err
    if code == 2:
        errors = [line for line in out.err.splitlines() if line.startswith("ganforge: error:")]
        assert len(errors) == 1, out.err
    else:
        assert "Training plan" in out.out
    assert not (tmp_path / "run").exists()   # a dry run writes nothing


@pytest.mark.parametrize("key", [k for k, *_ in KEYS])
def test_every_key_refuses_a_mapping_with_one_message(key):
    with pytest.raises(UserError):
        build_config(nested(key, {"not": "a value"}))
