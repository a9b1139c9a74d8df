"""SIGKILL a training run several times, some kills inside a checkpoint write: every
checkpoint left on disk loads, and the run finished with --resume equals the run never killed
(bit for bit). bench/kill_fuzz.py runs the same with many more kills."""

from killfuzz import fuzz


def test_kills_inside_and_between_checkpoint_writes_resume_exactly(tmp_path):
    result = fuzz(tmp_path, kills=4, steps=40)
    assert result["equal"], result
    assert result["write"] >= 1, result   # at least one kill landed inside a write
    assert result["leftover_temps"] == 0, result   # the resume cleaned them up
