"""Class-conditioning layers shared by the reference networks (forward only).

The three methods (the protocol they serve is in ``nets/__init__.py``'s docstring):

- ``concat`` (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets"): the label is
  one more input. G sees [z, e(y)]; D sees x with e(y) appended: as extra constant input
  channels for images (:func:`with_label_maps`), as extra values for flat samples. e is a
  learned :func:`label_embedding` of ``label_embed_dim(num_classes)`` values.
- ``acgan`` (Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs"):
  G as with concat; D does not see the label but has a second head, Linear(F, num_classes),
  on its features, whose class logits a classification loss trains.
- ``projection`` (Miyato & Koyama 2018, "cGANs with Projection Discriminator"): D's logit is
  linear(h) + <v_y, h> with h its (pooled) features (:class:`ClassProjection` is the second
  term); G conditions its BatchNorm on the class (:class:`ConditionalBatchNorm2d`, de Vries
  et al. 2017 / Dumoulin et al. 2017, as in the paper's generators).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import UserError

# Above this many classes the concat embedding stops growing (see label_embed_dim).
MAX_LABEL_EMBED_DIM = 50


def label_embed_dim(num_classes: int) -> int:
    """Size e of the concat/acgan label embedding: min(num_classes, 50).

    With e >= num_classes an embedding followed by a linear layer is exactly as expressive as
    the paper's one-hot label followed by that layer (the num_classes class vectors the layer
    sees can be any vectors); 50 caps the width for data with many classes.
    """
    return min(num_classes, MAX_LABEL_EMBED_DIM)


def label_embedding(num_classes: int) -> nn.Embedding:
    """nn.Embedding(num_classes, label_embed_dim(num_classes)), PyTorch's N(0, 1) init.

    N(0, 1) puts the label values on the scale of z ~ N(0, 1) and of data in [-1, 1].
    """
    return nn.Embedding(num_classes, label_embed_dim(num_classes))


def with_label_maps(x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """x (N, C, H, W), e (N, E) -> (N, C + E, H, W): each label value as a constant map."""
    n, _, h, w = x.shape
    return torch.cat([x, e.to(x.dtype).view(n, -1, 1, 1).expand(n, e.shape[1], h, w)], dim=1)


def check_labels(net: nn.Module, y: torch.Tensor | None, batch: int,
                 ignored: bool = False) -> torch.Tensor | None:
    """The protocol's label rule for ``net`` (a G or D with ``num_classes``/``conditioning``).

    An unconditional net given labels, or a conditional one called without them, raises
    UserError; so do labels that are not int64 indices of shape (batch,). ``ignored=True``
    (an acgan D, or features that do not depend on y) accepts and drops any y. Values are not
    range-checked here: that would synchronize with the device on every call (nn.Embedding
    raises on an out-of-range index).
    """
    name = type(net).__name__
    if net.conditioning == "none":
        if y is not None:
            raise UserError(f"{name} is unconditional (conditioning='none') but was given class "
                            "labels y: call it without y, or build it with conditioning="
                            "concat/acgan/projection and num_classes")
        return None
    if ignored:
        return None
    if y is None:
        raise UserError(f"{name} is class-conditional (conditioning={net.conditioning!r}, "
                        f"num_classes={net.num_classes}) and needs the labels: call it with y, "
                        "int64 class indices of shape (N,)")
    if not torch.is_tensor(y) or y.dtype != torch.int64 or tuple(y.shape) != (batch,):
        got = (f"{y.dtype} of shape {tuple(y.shape)}" if torch.is_tensor(y)
               else type(y).__name__)
        raise UserError(f"{name}: y must be int64 class indices of shape ({batch},), one per "
                        f"sample; got {got} (use y.long() for other integer labels)")
    return y


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d whose affine gain and bias depend on the class: (x, y) -> x' same shape.

    x' = gain[y] * BN(x) + bias[y], BN a BatchNorm2d with ``affine=False`` (batch statistics
    in train mode, running ones in eval, as usual); ``gain`` and ``bias`` are
    nn.Embedding(num_classes, num_features) initialised to 1 and 0, so at the start every
    class gets the plain normalization.
    """

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5,
                 momentum: float = 0.1):
        super().__init__()
        self.num_features, self.num_classes = num_features, num_classes
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W), y (N,) int64 -> (N, C, H, W)."""
        shape = (x.shape[0], self.num_features, 1, 1)
        return self.bn(x) * self.gain(y).view(shape) + self.bias(y).view(shape)

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, num_classes={self.num_classes}"


class ClassProjection(nn.Module):
    """The projection term of Miyato & Koyama 2018: (h (N, F), y (N,)) -> <v_y, h> (N,).

    D's logit is ``head(h) + ClassProjection(h, y)``. The class vectors v_c are the columns
    of ``embed``, an nn.Linear(num_classes, F, bias=False) used as a lookup table (v_y =
    ``embed.weight[:, y]``, :meth:`class_vectors`), not an nn.Embedding: so that
    ``ganforge.regularizers.apply_spectral_norm``, which normalizes every Linear/Conv and no
    Embedding, normalizes it as the paper's SN-GAN discriminators normalize their embedding
    (sigma of a matrix equals sigma of its transpose). Initialised Xavier-uniform (gain 1),
    as in the paper's code.
    """

    def __init__(self, num_classes: int, num_features: int):
        super().__init__()
        self.num_classes, self.num_features = num_classes, num_features
        self.embed = nn.Linear(num_classes, num_features, bias=False)
        nn.init.xavier_uniform_(self.embed.weight)

    def class_vectors(self, y: torch.Tensor) -> torch.Tensor:
        """y (N,) -> v_y (N, F) (the spectrally normalized vectors once SN is applied)."""
        return F.embedding(y, self.embed.weight.t())

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """h (N, F), y (N,) -> (N,)."""
        return (self.class_vectors(y) * h).sum(dim=1)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, num_features={self.num_features}"



def discriminator_forward(D: nn.Module, x: torch.Tensor, y: torch.Tensor | None):
    """The forward of every reference D, from its ``features``, ``head`` and conditioning
    parts: head(features(x, y)) -> logits (N,); acgan: (logits, classifier(h)) with h the
    label-free features; projection: head(h) + projection(h, y)."""
    if D.conditioning == "acgan":
        h = D.features(x)           # an acgan D does not see the label
        return D.head(h).flatten(), D.classifier(h)
    if D.conditioning == "projection":
        y = check_labels(D, y, x.shape[0])
        h = D.features(x)
        return D.head(h).flatten() + D.projection(h, y)
    return D.head(D.features(x, y)).flatten()


def image_input(D: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """An image D's input: x checked against the (channels, image_size, image_size) D was
    built for, with a concat D's label maps appended (``with_label_maps``)."""
    y = check_labels(D, y, x.shape[0], ignored=D.conditioning != "concat")
    if x.dim() != 4 or tuple(x.shape[1:]) != (D.channels, D.image_size, D.image_size):
        raise UserError(
            f"{type(D).__name__} was built for images of shape "
            f"({D.channels}, {D.image_size}, {D.image_size}); got a batch of shape "
            f"{tuple(x.shape)}: build it with the data's channels and image_size"
        )
    return x if y is None else with_label_maps(x, D.embed(y))
