"""The Pallas selective scan compiled for a GPU we lack: its Triton kernels and
their register use.

``compile_scan`` compiles the scan (forward, or forward and backward) for a
compile-only target with XLA's dumps on, so the PTX of every kernel is at hand;
``kernel_resources`` runs ``ptxas -v`` (from ``nvidia-cuda-nvcc-cu12``) on it and
reads each kernel's registers and spills. A kernel that spills registers to local
memory is much slower than its design assumes: the block and chunk sizes of
``ops/scan_pallas.py`` are chosen so that none does at the models' shapes.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import subprocess
import tempfile
import time
from typing import Any

import jax
import jax.numpy as jnp

from sasmamba_jax.aot import targets as targets_lib
from sasmamba_jax.benchmarking import scan as scan_bench
from sasmamba_jax.ops import dispatch

#: The custom call of a Triton kernel in compiled GPU HLO.
TRITON_CALL = "__gpu$xla.gpu.triton"


ScanShape = scan_bench.ScanShape
#: The scan of the official training runs: PoseMamba-S and SasMamba call it alike
#: (T = 243 x 17 joints, 4 directions x d_inner 128 channels, N 16, 4 groups).
MODEL_SHAPES = (scan_bench.SHAPES["posemamba_s"],)


@dataclasses.dataclass
class CompiledScan:
  compiled: Any
  dump_dir: pathlib.Path
  seconds: float

  @property
  def triton_kernels(self) -> int:
    """How many Triton kernel launches the compiled program makes."""
    return self.compiled.as_text().count(TRITON_CALL)


def scan_arguments(shape: ScanShape, dtype: Any, sharding: Any) -> tuple[Any, ...]:
  """Abstract (u, delta, A, B, C, D, delta_bias) of ``shape``: the models' call (D,
  delta_bias and the softplus on, the gate applied outside the scan)."""
  b, l, d, n, g = shape.batch, shape.length, shape.channels, shape.d_state, shape.groups
  s = lambda *dims, dt=dtype: jax.ShapeDtypeStruct(dims, dt, sharding=sharding)
  return (s(b, l, d), s(b, l, d), s(d, n, dt=jnp.float32), s(b, l, g, n),
          s(b, l, g, n), s(d, dt=jnp.float32), s(d, dt=jnp.float32))


def compile_scan(shape: ScanShape, *, dtype: Any = jnp.float32,
                 backward: bool = False, impl: str = "pallas",
                 target: str = "h100", dump_dir: str | os.PathLike | None = None
                 ) -> CompiledScan:
  """Compiles ``selective_scan(impl=...)`` at ``shape`` for ``target``.

  Args:
    shape: the call.
    dtype: of u, delta, B and C (the scan computes in float32 whatever it is).
    backward: compile the gradient with respect to every input (the forward is
      part of it) instead of the forward alone.
    impl: the implementation.
    target: a ``targets.TARGETS`` name.
    dump_dir: where XLA writes its dumps (default: a new temporary folder).
  """
  from sasmamba_jax.ops import selective_scan  # pylint: disable=g-import-not-at-top
  target = targets_lib.get(target)
  mesh = targets_lib.mesh(target)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

  def forward(u, delta, A, B, C, D, bias):
    return selective_scan(u, delta, A, B, C, D=D, delta_bias=bias,
                          delta_softplus=True, impl=impl)

  def loss(*args):
    return jnp.sum(forward(*args).astype(jnp.float32) ** 2)

  fn = jax.grad(loss, argnums=tuple(range(7))) if backward else forward
  dump = pathlib.Path(dump_dir or tempfile.mkdtemp(prefix="scan_dump_"))
  start = time.perf_counter()
  with dispatch.lowering_for((target.platform,)):
    lowered = jax.jit(fn).trace(*scan_arguments(shape, dtype, replicated)).lower()
  from sasmamba_jax.aot import compile as compile_lib  # pylint: disable=g-import-not-at-top
  with compile_lib.no_persistent_cache():
    compiled = lowered.compile(compiler_options={"xla_dump_to": str(dump)})
  return CompiledScan(compiled, dump, time.perf_counter() - start)


@dataclasses.dataclass(frozen=True)
class KernelResources:
  """What ``ptxas -v`` says of one kernel."""

  kernel: str
  registers: int
  spill_store_bytes: int
  spill_load_bytes: int
  stack_bytes: int


def ptxas() -> pathlib.Path:
  """The ptxas of the ``nvidia-cuda-nvcc-cu12`` wheel.

  Raises:
    FileNotFoundError: the wheel is not installed (``pip install -e '.[aot]'``).
  """
  try:
    from nvidia import cuda_nvcc  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise FileNotFoundError("ptxas comes with nvidia-cuda-nvcc-cu12: pip install -e "
                            "'.[aot]'") from None
  path = pathlib.Path(list(cuda_nvcc.__path__)[0]) / "bin" / "ptxas"
  if not path.is_file():
    raise FileNotFoundError(f"no ptxas at {path}; reinstall nvidia-cuda-nvcc-cu12")
  return path


_ENTRY = re.compile(r"Compiling entry function '([^']+)'")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, "
                    r"(\d+) bytes spill loads")
_REGS = re.compile(r"Used (\d+) registers")


def kernel_resources(dump_dir: str | os.PathLike, *, prefix: str = "selective_scan",
                     gpu_name: str = "sm_90a") -> list[KernelResources]:
  """Registers and spills of the kernels named ``prefix*`` in ``dump_dir``'s PTX."""
  out = []
  for ptx in sorted(pathlib.Path(dump_dir).glob("*.ptx")):
    text = ptx.read_text(errors="replace")
    if f".entry {prefix}" not in text:
      continue
    result = subprocess.run([str(ptxas()), "-v", "--gpu-name", gpu_name, str(ptx),
                             "-o", os.devnull], capture_output=True, text=True,
                            check=True)
    kernel = None
    frame = None
    for line in result.stderr.splitlines():
      if m := _ENTRY.search(line):
        kernel = m.group(1)
      elif (m := _FRAME.search(line)) and kernel:
        frame = tuple(int(v) for v in m.groups())
      elif (m := _REGS.search(line)) and kernel and frame:
        if kernel.startswith(prefix):
          out.append(KernelResources(kernel, int(m.group(1)), frame[1], frame[2],
                                     frame[0]))
        kernel = frame = None
  return out
