"""Run under torchrun by tests/test_distributed.py: the equality cases on this process's
share, through the Python API (a Trainer built inside the process group). Writes
``OUT/<case>.pt`` (rank 0: the final state and the logged rows) and ``OUT/<case>.rank<R>``
(each rank: "ok" or the error), so the test can check every process.

    torchrun --standalone --nproc_per_node=2 tests/dist_worker.py OUT
"""

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dist_cases import CASES, RESUME_AT, build, data   # noqa: E402

from ganforge.callbacks import JSONLLogger  # noqa: E402
from ganforge.distributed import init_process_group, shutdown  # noqa: E402
from ganforge.errors import NonFiniteLossError  # noqa: E402


def main(out: Path) -> None:
    world, _ = init_process_group("cpu")
    torch.set_num_threads(1)
    for name in CASES:
        log = out / f"{name}.jsonl"
        trainer, steps = build(name, rank=world.rank)
        trainer.callbacks = [JSONLLogger(log, every=1)]
        try:
            trainer.fit(data(name), steps=steps, batch_size=32)
            result = "ok"
        except NonFiniteLossError as err:
            result = f"NonFiniteLossError at step {err.step}: {err.name}"
        (out / f"{name}.rank{world.rank}").write_text(result)
        state = trainer.state_dict()   # every rank: it gathers the RNG states
        if world.is_main:
            rows = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
            torch.save({"G": state["G"], "D": state["D"], "ema": state["ema"], "rows": rows,
                        "step": trainer.step_count}, out / f"{name}.pt")
    # Resume across process counts: a 1-process checkpoint continued here, and a checkpoint of
    # these 2 processes for the test to continue in 1.
    for name in ("alternating", "gp_lazy"):
        trainer, steps = build(name, rank=world.rank)
        trainer.load_state_dict(torch.load(out / f"{name}.one_at_{RESUME_AT}.pt",
                                           weights_only=False))
        trainer.fit(data(name), steps=steps - RESUME_AT, batch_size=32)
        state = trainer.state_dict()
        if world.is_main:
            torch.save({"G": state["G"], "D": state["D"]}, out / f"{name}.one_then_two.pt")
        trainer, _ = build(name, rank=world.rank)
        trainer.fit(data(name), steps=RESUME_AT, batch_size=32)
        state = trainer.state_dict()
        if world.is_main:
            torch.save(state, out / f"{name}.two_at_{RESUME_AT}.pt")
    shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    # Every result is written and the group is left. Skip the interpreter's teardown: under
    # load, gloo's threads once aborted a worker there ("terminate called without an active
    # exception", exit -6) after all its work was done, failing the test for nothing it checks.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
