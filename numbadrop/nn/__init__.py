"""Layers shaped like ``torch.nn``, a manual autodiff tape, losses and MC dropout."""

from numbadrop.nn.activation import GELU, SELU, LeakyReLU, ReLU, Sigmoid, Tanh
from numbadrop.nn.container import Flatten, Identity, Sequential
from numbadrop.nn.dropblock import DropBlock2d, DropBlock3d
from numbadrop.nn.dropout import (
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
    StochasticDepth,
)
from numbadrop.nn.linear import Linear
from numbadrop.nn.loss import CrossEntropyLoss, MSELoss
from numbadrop.nn.mc import mc_dropout, mc_predict
from numbadrop.nn.module import Module
from numbadrop.nn.noise import GaussianDropout, GaussianNoise
from numbadrop.nn.parameter import Parameter
from numbadrop.nn.tape import no_grad

__all__ = [
    "GELU",
    "SELU",
    "AlphaDropout",
    "CrossEntropyLoss",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "DropBlock2d",
    "DropBlock3d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "Flatten",
    "GaussianDropout",
    "GaussianNoise",
    "Identity",
    "LeakyReLU",
    "Linear",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "StochasticDepth",
    "Tanh",
    "mc_dropout",
    "mc_predict",
    "no_grad",
]
