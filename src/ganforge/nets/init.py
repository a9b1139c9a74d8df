"""Weight initialisations of ganforge's networks (``model.init``).

"paper", the default, is each network's own: for mlp and dcgan the DCGAN initialisation
below; model=resnet uses SN-GAN's Xavier initialisation (``nets/resnet.py``).

The DCGAN initialisation (Radford et al. 2016, section 4): conv, transposed-conv and linear
weights ~ N(0, 0.02), biases 0; BatchNorm scales ~ N(1, 0.02), shifts 0. Every reference
network applies it in its constructor, so two networks built after the same
``torch.manual_seed`` are identical. Its small, fixed scale relies on BatchNorm to restore
each layer's spread: a G without BatchNorm starts with outputs near 0.

"torch": PyTorch's own default of each layer (``reset_parameters``: linear and conv weights
and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), BatchNorm scale 1, shift 0), whose scale
follows each layer's fan-in, so a network without BatchNorm starts with spread-out outputs.
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


def torch_init_(module: nn.Module) -> nn.Module:
    """Re-initialise every linear, conv and BatchNorm layer inside ``module`` with PyTorch's
    default (``reset_parameters``), in module order; returns ``module``."""
    for layer in module.modules():
        if isinstance(layer, (*_LINEAR_LAYERS, nn.modules.batchnorm._BatchNorm)):
            layer.reset_parameters()
    return module
