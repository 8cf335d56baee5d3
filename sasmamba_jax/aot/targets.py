"""Accelerators to compile for without having one: XLA's compile-only devices.

XLA compiles ahead of time for hardware the machine does not have: a topology of
compile-only devices (``jax.experimental.topologies.get_topology_desc``) stands in
for the real ones, and ``jax.jit(f).trace(...).lower().compile()`` on arguments
placed on them runs the whole GPU or TPU compiler, kernel code generation
included. Nothing executes. This needs the accelerator's compiler plugin, not
its hardware:

* NVIDIA: ``jax-cuda12-plugin`` and ``jax-cuda12-pjrt`` of jaxlib's version and
  ``nvidia-cuda-nvcc-cu12`` (ptxas), e.g. ``pip install -e '.[aot]'``;
* TPU: ``libtpu`` of jax's version (``jax[tpu]``, in the same extra).

A GPU is described to XLA by a ``GpuTargetConfigProto`` (the text format of
``xla/stream_executor/device_description.proto``); ``H100_SXM`` below holds the
H100 SXM5 80 GB's published figures in that form (field names: XLA's
``xla/backends/gpu/target_config/specs/h100_sxm.txtpb`` describes the same device).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
from typing import Any

import jax
from jax.experimental import topologies
import numpy as np

#: An H100 SXM5 80 GB as XLA's GPU compiler sees it (fields of jaxlib 0.10's proto).
H100_SXM: dict[str, Any] = {
    "threads_per_block_limit": 1024,
    "threads_per_warp": 32,
    "shared_memory_per_block": 48 * 1024,
    "shared_memory_per_core": 228 * 1024,
    "threads_per_core_limit": 2048,
    "core_count": 132,
    "fpus_per_core": 128,
    "block_dim_limit_x": 2**31 - 1,
    "block_dim_limit_y": 65535,
    "block_dim_limit_z": 65535,
    "memory_bandwidth": 3_352_320_000_000,
    "l2_cache_size": 50 * 2**20,
    "clock_rate_ghz": 1.98,
    "device_memory_size": 84_942_979_072,
    "shared_memory_per_block_optin": 227 * 1024,
    "registers_per_core_limit": 65536,
    "registers_per_block_limit": 65536,
    "compute_capability": (9, 0),
    "name": "NVIDIA H100 80GB HBM3",
}


def gpu_target_config(spec: dict[str, Any]) -> str:
  """``spec`` (e.g. ``H100_SXM``) as the text proto ``get_topology_desc`` takes."""
  info = {k: v for k, v in spec.items() if k not in ("compute_capability", "name")}
  major, minor = spec["compute_capability"]
  lines = ["gpu_device_info {"]
  lines += [f"  {k}: {v}" for k, v in info.items()]
  lines += ["  cuda_compute_capability {", f"    major: {major}", f"    minor: {minor}",
            "  }", "}", 'platform_name: "CUDA"',
            # cuDNN 9: what the CUDA 12 wheels ship (convolution algorithms).
            "dnn_version_info {", "  major: 9", "}",
            f'device_description_str: "{spec["name"]}"']
  return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class Target:
  """A machine to compile for.

  Attributes:
    name: what ``--device`` takes ("h100", "h100x8", "v5e", "v5e:2x4").
    platform: the JAX lowering platform ("cuda", "tpu").
    topology: the topology string of ``get_topology_desc``.
    num_devices: devices (GPUs, TPU chips) of the topology.
    memory_bytes: memory of one device, what a compiled step must fit in.
    description: for tables.
  """

  name: str
  platform: str
  topology: str
  num_devices: int
  memory_bytes: int
  description: str


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("h100", "cuda", "1x1x1", 1, 80 * 10**9, "NVIDIA H100 SXM 80 GB"),
    Target("h100x8", "cuda", "1x1x8", 8, 80 * 10**9, "8 x NVIDIA H100 SXM 80 GB"),
    Target("v5e", "tpu", "v5e:1x1", 1, 16 * 10**9, "TPU v5e chip (16 GB HBM)"),
    Target("v5e:2x2", "tpu", "v5e:2x2", 4, 16 * 10**9, "TPU v5e 2x2 (4 chips)"),
    Target("v5e:2x4", "tpu", "v5e:2x4", 8, 16 * 10**9, "TPU v5e 2x4 (8 chips)"),
)}


def get(name: str) -> Target:
  """The target called ``name``; a ValueError lists the known ones."""
  try:
    return TARGETS[name]
  except KeyError:
    raise ValueError(f"unknown device {name!r}; choose one of "
                     f"{', '.join(TARGETS)}") from None


def unavailable_reason(platform: str) -> str | None:
  """None when this machine can compile for ``platform``, else why not and the fix."""
  if platform == "cuda":
    missing = [m for m in ("jax_cuda12_plugin", "jax_plugins.xla_cuda12",
                           "nvidia.cuda_nvcc") if _find_spec(m) is None]
    if missing:
      return ("compiling for an NVIDIA GPU needs jax-cuda12-plugin, jax-cuda12-pjrt "
              "(jaxlib's version) and nvidia-cuda-nvcc-cu12; missing: "
              f"{', '.join(missing)}. Install them with pip install -e '.[aot]'")
  elif platform == "tpu":
    if _find_spec("libtpu") is None:
      return ("compiling for a TPU needs libtpu of jax's version; install it with "
              "pip install -e '.[aot]' (or 'jax[tpu]')")
  else:
    return f"no compile-only target for platform {platform!r}"
  try:
    _topology(platform, _FIRST_TOPOLOGY[platform])
  except Exception as e:  # pylint: disable=broad-except  # A plugin that won't load.
    return (f"the {platform} compiler plugin is installed but does not load "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); its version must "
            f"match jaxlib {jax.__version__}")
  return None


_FIRST_TOPOLOGY = {"cuda": "1x1x1", "tpu": "v5e:1x1"}


def _find_spec(module: str):
  try:
    return importlib.util.find_spec(module)
  except ModuleNotFoundError:
    return None


@functools.lru_cache(maxsize=None)
def _topology(platform: str, topology: str):
  if platform == "tpu":
    # libtpu takes a machine-wide lock meant for real TPUs; compile-only use by
    # several processes (pytest workers) is safe.
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
  if platform == "cuda":
    return topologies.get_topology_desc(
        platform="cuda", target_config=gpu_target_config(H100_SXM), topology=topology)
  # A single chip is smaller than the default host (2x2 chips): say so.
  kwargs = {"chips_per_host_bounds": (1, 1, 1)} if topology == "v5e:1x1" else {}
  return topologies.get_topology_desc(topology, "tpu", **kwargs)


def devices(target: Target) -> list[Any]:
  """The compile-only devices of ``target``.

  Raises:
    RuntimeError: this machine cannot compile for the target (the message says
      what to install).
  """
  reason = unavailable_reason(target.platform)
  if reason:
    raise RuntimeError(reason)
  found = list(_topology(target.platform, target.topology).devices)
  if len(found) != target.num_devices:
    raise RuntimeError(f"topology {target.topology} has {len(found)} devices, "
                       f"expected {target.num_devices}")
  return found


def mesh(target: Target, axis: str = "data") -> jax.sharding.Mesh:
  """A 1-D mesh over all devices of ``target`` (the trainer's data axis)."""
  return jax.sharding.Mesh(np.asarray(devices(target)), (axis,))
