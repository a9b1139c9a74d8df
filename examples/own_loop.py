"""Your own training loop with ganforge's pieces, no Trainer.

The losses are pure functions of logits, `frozen` is the "only G gets gradients" context, and
`d_update`/`g_update` are single exact updates if you would rather not write them yourself.
Runs in a few seconds on a CPU:  python examples/own_loop.py
"""

import torch

from ganforge import frozen, get_loss
from ganforge.data import load_dataset
from ganforge.metrics import mixture_modes
from ganforge.nets import build_nets
from ganforge.sampling import generate

torch.manual_seed(0)
data = load_dataset("ring8").x                      # (100000, 2) points on a ring of 8 modes
G, D = build_nets("mlp", (2,), z_dim=2, width=128)  # or any nn.Module of yours
opt_G = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))   # G's own optimizer
opt_D = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))   # D's own optimizer
loss = get_loss("nonsaturating")

for step in range(1, 1001):
    real = data[torch.randint(len(data), (256,))]
    # D step: G(z) without a graph, D loss on real and fake, only opt_D steps.
    with torch.no_grad():
        fake = G(torch.randn(256, 2))
    d_loss = loss.d_loss(D(real), D(fake))
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()
    # G step: D frozen (no gradient computed for its weights), only opt_G steps.
    with frozen(D):
        g_loss = loss.g_loss(D(G(torch.randn(256, 2))))
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()
    if step % 250 == 0:
        points = generate(G, torch.randn(2500, 2))   # leaves G's BatchNorm stats as they were
        print(f"step {step}: loss/D {d_loss.item():.3f} loss/G {g_loss.item():.3f} "
              f"{mixture_modes(points, 'ring8')}")

# The same two updates, as ganforge runs them (with the stats it logs):
#   from ganforge import Players, d_update, g_update
#   players = Players(G, D, opt_G, opt_D, loss, z_shape=(2,), device=torch.device("cpu"))
#   d_update(players, real); g_update(players, 256)
