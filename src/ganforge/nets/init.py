"""The DCGAN weight initialisation (Radford et al. 2016, section 4).

Conv, transposed-conv and linear weights ~ N(0, 0.02), biases 0; BatchNorm scales ~ N(1, 0.02),
shifts 0. Every reference network applies it in its constructor, so two networks built after
the same ``torch.manual_seed`` are identical.
"""

from torch import nn

# Layers whose weight is a plain linear map; the 0.02 std is the paper's choice for all of them.
_LINEAR_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                  nn.ConvTranspose3d, nn.Linear)


def dcgan_init_(module: nn.Module) -> nn.Module:
    """Initialise every layer inside ``module`` in place; returns ``module`` for chaining."""
    for layer in module.modules():
        if isinstance(layer, _LINEAR_LAYERS):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.affine:
            # Scale around 1, not 0: a BN scale near 0 would silence the layer at the start.
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
    return module
