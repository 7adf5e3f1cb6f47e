"""Multi-layer perceptron: the building block of toy-data GANs, VAE encoders/decoders and MADE's base."""

from __future__ import annotations

from typing import Sequence

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "elu": nn.ELU, "gelu": nn.GELU,
               "tanh": nn.Tanh, "silu": nn.SiLU}
NORMS = {None: None, "none": None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Sequential):
    """``in_dim -> hidden... -> out_dim``; activation (and optional norm) after every hidden layer.

    ``out_dim=None`` ends on the last hidden layer (a feature extractor, e.g. a discriminator body).
    """

    def __init__(self, in_dim: int, out_dim: int | None, hidden: Sequence[int] = (256, 256),
                 act: str = "relu", norm: str | None = None):
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; known: batch, layer, none")
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if NORMS[norm] is not None:
                layers.append(NORMS[norm](h))
            layers.append(activation(act))
            width = h
        if out_dim is not None:
            layers.append(nn.Linear(width, out_dim))
            width = out_dim
        super().__init__(*layers)
        self.out_features = width
