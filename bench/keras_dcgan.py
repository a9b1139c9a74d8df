"""A Keras DCGAN on 28x28 Fashion-MNIST, trained by ganforge and the Keras way: step time.

The same Keras 3 networks (the keras.io "GAN overriding Model.train_step" DCGAN for 28x28
grayscale, at a width that runs on a CPU: --width 16 gives D conv 16/32 and G 32/32 channels
where keras.io has 64/128 and 128/128; tanh output for data in [-1, 1] where keras.io has a
sigmoid for [0, 1]), the same batch, the same number of steps, in one process on the torch
backend:

  ganforge    ``ganforge.keras.wrap(G, D)`` and ``Trainer.step``: alternating, nonsaturating loss
              (= BinaryCrossentropy(from_logits=True)), torch Adam(3e-4, betas=(0.5, 0.999)),
              G(z) under no_grad in the D phase, D frozen in the G phase, Keras layers in
              training mode.
  keras       a ``keras.Model`` whose ``train_step`` is the keras.io torch-backend GAN example's
              (``train_on_batch``): label noise, Keras Adam(3e-4, beta_1=0.5), fake images NOT
              detached in the D phase (its backward also runs through G; ``zero_grad`` drops
              those gradients), D called without ``training=True``, as in the example.

Timing: rounds interleaved (each round times one step of each, in alternating order), median
of the per-step times after --warmup steps. Prints the command line, the CPU, and a markdown
table. ``--fid N``: FID of each G on N samples at the end (``ganforge.evaluate_trainer``),
meaningful only after thousands of steps.

    python bench/keras_dcgan.py                      # 40 steps each, batch 64 (~1 minute)
    python bench/keras_dcgan.py --steps 2000 --fid 2000 --grids docs
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import warnings

import ganforge.keras as gk   # before keras: selects the torch backend

import keras
import torch
from keras import layers

import ganforge
from ganforge.data import load_dataset

# Keras's own np.array(tensor) calls warn under numpy 2 (train_on_batch's logs); not ours.
warnings.filterwarnings("ignore", message="__array__ implementation", category=DeprecationWarning)


def cpu_model() -> str:
    """``lscpu``'s Model name (platform.processor() as a fallback)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def generator(z_dim: int, width: int) -> keras.Model:
    """keras.io's 28x28 G at ``2 * width`` channels: 7x7 -> 14x14 -> 28x28, tanh."""
    return keras.Sequential([
        keras.Input((z_dim,)),
        layers.Dense(7 * 7 * 2 * width), layers.LeakyReLU(0.2),
        layers.Reshape((7, 7, 2 * width)),
        layers.Conv2DTranspose(2 * width, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(2 * width, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(1, 7, padding="same", activation="tanh"),
    ], name="generator")


def discriminator(width: int) -> keras.Model:
    """keras.io's 28x28 D at ``width``/``2 * width`` channels; one logit (no sigmoid)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(width, 3, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(2 * width, 3, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.GlobalMaxPooling2D(), layers.Dense(1),
    ], name="discriminator")


class KerasGAN(keras.Model):
    """The keras.io GAN (torch backend version of "Customizing what happens in fit()")."""

    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.built = True

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

    def train_step(self, real_images):
        if isinstance(real_images, (tuple, list)):
            real_images = real_images[0]
        batch_size = real_images.shape[0]
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        generated = self.generator(z)
        combined = torch.concat([generated, real_images], axis=0)
        labels = torch.concat([torch.ones((batch_size, 1)), torch.zeros((batch_size, 1))])
        labels += 0.05 * keras.random.uniform(labels.shape, seed=self.seed_generator)
        self.zero_grad()
        d_loss = self.loss_fn(labels, self.discriminator(combined))
        d_loss.backward()
        grads = [v.value.grad for v in self.discriminator.trainable_weights]
        with torch.no_grad():
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        self.zero_grad()
        g_loss = self.loss_fn(torch.zeros((batch_size, 1)),
                              self.discriminator(self.generator(z)))
        g_loss.backward()
        grads = [v.value.grad for v in self.generator.trainable_weights]
        with torch.no_grad():
            self.g_optimizer.apply(grads, self.generator.trainable_weights)
        return {"d_loss": d_loss, "g_loss": g_loss}


def ganforge_trainer(z_dim: int, width: int, seed: int) -> ganforge.Trainer:
    keras.utils.set_random_seed(seed)
    G, D = gk.wrap(generator(z_dim, width), discriminator(width))
    adam = dict(lr=3e-4, betas=(0.5, 0.999))
    return ganforge.Trainer(G, D, torch.optim.Adam(G.parameters(), **adam),
                            torch.optim.Adam(D.parameters(), **adam), seed=seed, device="cpu")


def keras_gan(z_dim: int, width: int, seed: int) -> KerasGAN:
    keras.utils.set_random_seed(seed)
    gan = KerasGAN(discriminator(width), generator(z_dim, width), z_dim)
    gan.compile(keras.optimizers.Adam(3e-4, beta_1=0.5), keras.optimizers.Adam(3e-4, beta_1=0.5),
                keras.losses.BinaryCrossentropy(from_logits=True))
    return gan


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(args, x: torch.Tensor) -> tuple[dict[str, list[float]], ganforge.Trainer, KerasGAN]:
    """Interleaved steps of both; the per-step seconds of each after warm-up, and both."""
    trainer = ganforge_trainer(args.z_dim, args.width, args.seed)
    gan = keras_gan(args.z_dim, args.width, args.seed)
    order = torch.Generator().manual_seed(args.seed)
    times: dict[str, list[float]] = {"ganforge": [], "keras": []}
    for i in range(args.warmup + args.steps):
        batch = x[torch.randint(len(x), (args.batch,), generator=order)]
        nhwc = batch.permute(0, 2, 3, 1).contiguous()   # what a Keras data pipeline hands over
        steps = [("ganforge", lambda: trainer.step(batch)),
                 ("keras", lambda: gan.train_on_batch(nhwc))]
        for name, fn in (steps if i % 2 == 0 else steps[::-1]):
            seconds = timed(fn)
            if i >= args.warmup:
                times[name].append(seconds)
    return times, trainer, gan


def report_fid(trainer, gan: KerasGAN, x: torch.Tensor, args) -> None:
    """FID of both generators (the Keras way's G wrapped, sharing its weights)."""
    if not hasattr(ganforge, "evaluate_trainer"):
        print("(no ganforge.evaluate_trainer in this version: FID skipped)")
        return
    G, D = gk.wrap(gan.generator, gan.discriminator)
    keras_side = ganforge.Trainer(G, D, seed=args.seed, device="cpu")
    for name, tr in (("ganforge", trainer), ("keras", keras_side)):
        ev = ganforge.evaluate_trainer(tr, x, metrics="fid", n=args.fid)
        print(f"FID ({args.fid} samples, after {args.warmup + args.steps} steps) {name}: "
              f"{ev.scores()['fid']:.1f}")
        if args.grids:   # the same z for both: a function of the seed only
            path = os.path.join(args.grids, f"keras-dcgan-{name}.png")
            tr.sample_grid(n=64, seed=args.seed).save(path)
            print(f"samples of the {name} side: {path}")


def table(times: dict[str, list[float]], args) -> str:
    rows = ["| loop | median step (ms) | fastest (ms) | slowest (ms) | images/s (median) |",
            "|---|---:|---:|---:|---:|"]
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append(f"| {name} | {med * 1e3:.1f} | {min(ts) * 1e3:.1f} | {max(ts) * 1e3:.1f} "
                    f"| {args.batch / med:.0f} |")
    ratio = statistics.median(times["keras"]) / statistics.median(times["ganforge"])
    rows.append(f"\nkeras / ganforge median step time: {ratio:.2f}x")
    return "\n".join(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40, help="timed steps per side")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--z-dim", type=int, default=64)
    p.add_argument("--limit", type=int, default=10000, help="Fashion-MNIST images to load")
    p.add_argument("--fid", type=int, default=0, help="FID on this many samples at the end")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grids", default=None, metavar="DIR",
                   help="with --fid: write both sides' sample grids (64, same z) here")
    args = p.parse_args(argv)
    print("$ " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}); torch {torch.__version__}, keras {keras.__version__} "
          f"({keras.backend.backend()} backend)")
    print(f"batch {args.batch}, width {args.width}, z_dim {args.z_dim}, {args.steps} timed "
          f"steps per side after {args.warmup} warm-up, interleaved\n")
    x = load_dataset("fashion-mnist", limit=args.limit).x
    times, trainer, gan = run(args, x)
    print(table(times, args))
    if args.fid:
        report_fid(trainer, gan, x, args)


if __name__ == "__main__":
    main()
