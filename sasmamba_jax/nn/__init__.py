"""Reusable Flax NNX layers of the Mamba pose lifters (one concept per module)."""

from sasmamba_jax.nn.blocks import BiSTSSMBlock
from sasmamba_jax.nn.deform_conv import DeformableDepthwiseConv
from sasmamba_jax.nn.deform_conv import deform_conv2d
from sasmamba_jax.nn.droppath import DropPath
from sasmamba_jax.nn.mlp import Mlp
from sasmamba_jax.nn.st_ssm import BiSTSSM
from sasmamba_jax.nn.st_ssm import SSMConfig

__all__ = ["BiSTSSM", "BiSTSSMBlock", "DeformableDepthwiseConv", "DropPath", "Mlp",
           "SSMConfig", "deform_conv2d"]
