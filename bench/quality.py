"""The quality benchmark suite: Fashion-MNIST DCGAN metrics at fixed step counts, with floors.

Fashion-MNIST: the default run (``ganforge train``'s config: DCGAN-28, non-saturating loss,
Adam 8e-4 betas (0.5, 0.999), batch 64; ``--extra preset=dcgan`` for the 2016 recipe's 2e-4),
``--seeds`` seeds, evaluated after each of
``--steps`` iterations on ``--n`` samples (G in train mode, the way the sample grids are made)
against the same number of test-split images, on the features of ganforge's Fashion-MNIST
classifier: FID, KID, precision/recall (k=3), and classes covered. The floor beside every FID
is real training images against the same test images, same count: no generator can be
expected to score below it at that sample count.

The 2-D mixtures (ring8, grid25, 5 seeds, PacGAN protocol) are ``bench/mixtures.py``.

    python bench/quality.py                                    # 3 seeds at 1000 and 3000 steps
    python bench/quality.py --seeds 1 --steps 200 --n 1000     # a quick look
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from _common import fmt

from ganforge.config import build_config
from ganforge.data.fashion_mnist import load_fashion_mnist
from ganforge.metrics.classes import class_stats
from ganforge.metrics.features import load_feature_net
from ganforge.metrics.fid import fid
from ganforge.metrics.kid import kid
from ganforge.metrics.prdc import precision_recall
from ganforge.run import build_run
from ganforge.sampling import generate


def measure(net, samples: torch.Tensor, ref_feats: torch.Tensor) -> dict[str, float]:
    feats = net.features(samples)
    pr = precision_recall(ref_feats, feats, k=3)
    classes = class_stats(net.logits(samples).double().softmax(1))
    return {"fid": fid(feats, ref_feats), "kid": kid(ref_feats, feats)["kid"] * 1e3,
            "precision": pr["precision"], "recall": pr["recall"],
            "classes": classes["classes_covered"]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", default="1000,3000")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--extra", default="", help="config overrides, space separated")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    checkpoints = [int(s) for s in args.steps.split(",")]
    net = load_feature_net("default")
    test = load_fashion_mnist(None, "test").x[:args.n]
    train = load_fashion_mnist(None, "train").x[:args.n]
    ref = net.features(test)
    floor = measure(net, train, ref)
    results: dict[int, list[dict]] = {s: [] for s in checkpoints}
    walls = []
    for seed in range(args.seeds):
        cfg = build_config(None, [f"seed={seed}", f"steps={max(checkpoints)}",
                                  f"precision={args.precision}", *args.extra.split()])
        run = build_run(cfg)
        start = time.perf_counter()
        for step in checkpoints:
            run.trainer.fit(run.batches, step - run.trainer.step_count)
            z = torch.randn((args.n, *run.trainer.players.z_shape),
                            generator=torch.Generator().manual_seed(777 + seed))
            results[step].append(measure(net, generate(run.trainer.G_sample, z), ref))
        walls.append(time.perf_counter() - start)
    print(f"Fashion-MNIST, default DCGAN run, precision {args.precision}, seeds "
          f"0..{args.seeds - 1} (mean ± std), {args.n:,} samples vs {args.n:,} test images, "
          f"classifier features; training wall time {statistics.mean(walls):.0f} s per seed "
          f"for {max(checkpoints)} steps")
    print("| steps | FID | floor FID (real train vs test) | KID x1e3 | precision | recall | "
          "classes covered (of 10) |")
    print("|---|---|---|---|---|---|---|")
    for step in checkpoints:
        rows = results[step]
        print(f"| {step} | {fmt([r['fid'] for r in rows])} | {floor['fid']:.2f} | "
              f"{fmt([r['kid'] for r in rows])} | {fmt([r['precision'] for r in rows])} | "
              f"{fmt([r['recall'] for r in rows])} | {fmt([r['classes'] for r in rows])} |")
    print(f"| real train images | {floor['fid']:.2f} | - | {floor['kid']:.2f} | "
          f"{floor['precision']:.2f} | {floor['recall']:.2f} | {floor['classes']:.0f} |")
    print(f"\ncommand: python bench/quality.py {' '.join(argv or sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
