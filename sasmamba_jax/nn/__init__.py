"""Reusable Flax NNX layers of the Mamba pose models (one concept per module)."""

from sasmamba_jax.nn.blocks import BiSTSSMBlock
from sasmamba_jax.nn.deform_conv import DeformableDepthwiseConv
from sasmamba_jax.nn.deform_conv import ModulatedDeformConv
from sasmamba_jax.nn.deform_conv import deform_conv2d
from sasmamba_jax.nn.droppath import DropPath
from sasmamba_jax.nn.mlp import Mlp
from sasmamba_jax.nn.st_ssm import BiSTSSM
from sasmamba_jax.nn.spacetime_scan import STS6D
from sasmamba_jax.nn.spacetime_scan import WSTS
from sasmamba_jax.nn.st_ssm import SSMConfig
from sasmamba_jax.nn.stmm import STMM
from sasmamba_jax.nn.stmm import ChannelAttention

__all__ = ["BiSTSSM", "BiSTSSMBlock", "ChannelAttention", "DeformableDepthwiseConv",
           "DropPath", "Mlp", "ModulatedDeformConv", "SSMConfig", "STMM", "STS6D", "WSTS",
           "deform_conv2d"]
