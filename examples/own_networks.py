"""Your own G and D, trained from Python with a run directory, then the doctor's findings.

The networks here are yours, not ganforge's; ganforge brings the loop, the run directory the
command line writes (metrics.jsonl, TensorBoard, sample grids, checkpoints, findings.jsonl,
config.yaml recording what was set), the progress bar and the doctor. Stop it at any time and
run it again: it continues from its last checkpoint and ends where it would have ended.

    python examples/own_networks.py          # about half a minute on a laptop CPU
    ganforge doctor runs/own-networks        # the doctor's report on the run
"""

import torch
from torch import nn

import ganforge
from ganforge.data import load_dataset


class Generator(nn.Module):
    def __init__(self, z_dim: int = 2, width: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 2))

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, width: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, 1))   # one logit per sample

    def forward(self, x):
        return self.net(x)


torch.manual_seed(0)
data = load_dataset("ring8")                     # 2-D points on a ring of 8 Gaussians
G, D = Generator(), Discriminator()
trainer = ganforge.Trainer(
    G, D,
    opt_G=torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.999)),   # G's own lr
    opt_D=torch.optim.Adam(D.parameters(), lr=4e-4, betas=(0.5, 0.999)),   # D's own lr (TTUR)
    z_dim=2, seed=0,
    callbacks=[ganforge.RunDir("runs/own-networks", log_every=100, sample_every=1000)])
print(trainer.plan().format())
trainer.fit(data, until=4000, batch_size=256)   # until=: a rerun ends at step 4,000

print(f"\nthe doctor found: {[f.kind for f in trainer.findings()] or 'nothing to worry about'}")
for finding in trainer.findings():
    print(finding.render())
scores = ganforge.evaluate_trainer(trainer, data, metrics="modes", n=2500)
print(scores)
trainer.sample_grid(n=2500).save("runs/own-networks/final.png")
print("samples: runs/own-networks/final.png; report: ganforge doctor runs/own-networks")
