"""The selective scan (S6) of Mamba, channels-last, with interchangeable implementations.

Semantics are those of mamba's ``selective_scan_ref`` (docs/reference.md, Selective scan):

  delta = softplus(delta + delta_bias)            (softplus only if delta_softplus)
  h_t   = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
  y_t   = sum_n C_t[n] * h_t[n] + D * u_t         (the UPDATED state is read out)
  y_t   = y_t * silu(z_t)                          (if z is given)

All arithmetic runs in float32 (float64 if an input is float64) whatever the input
dtype; y comes back in u's dtype and the final state in the compute dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
import contextlib
import contextvars
import dataclasses
import functools
from typing import Callable, Iterator

import jax
import jax.numpy as jnp

from sasmamba_jax.ops import _common
from sasmamba_jax.ops import scan_associative
from sasmamba_jax.ops import scan_chunked
from sasmamba_jax.ops import scan_pallas
from sasmamba_jax.ops import scan_recurrent
from sasmamba_jax.ops import scan_sequential

# An implementation takes the validated arguments of ``selective_scan`` and returns
# (y (b, L, d) in any float dtype, final_state (b, d, N) in the compute dtype).
ScanImpl = Callable[..., tuple[jax.Array, jax.Array]]

# Kernels that "auto" prefers wherever they can run, in order. The Pallas kernel is
# added here once it has been compiled and measured on a GPU (see ops/README.md).
AUTO_ORDER: list[str] = []
# Cores that take a ``chunk_size``.
_CHUNKED_CORES = (scan_chunked.scan, scan_recurrent.scan)
#: JAX's lowering platforms (the names of ``jax.lax.platform_dependent``).
PLATFORMS = ("cpu", "cuda", "rocm", "tpu")

_IMPLS: dict[str, ScanImpl] = {}
# The lowering platforms an implementation supports (None: all of them) ...
_PLATFORMS: dict[str, tuple[str, ...] | None] = {}
# ... and whether it runs on the local devices of such a platform (e.g. the GPU's
# compute capability); asked only when lowering for the local platform.
_AVAILABLE: dict[str, Callable[[], bool]] = {}
# Implementations kept out of artefacts made for other machines (``portable``):
# a Pallas/Triton kernel is tied to the GPU generation and fails jax.export's
# stability checks, so an export takes it only when asked for by name.
_NOT_PORTABLE: set[str] = set()


def register_impl(name: str, fn: ScanImpl,
                  available: Callable[[], bool] = lambda: True, *,
                  platforms: Sequence[str] | None = None,
                  portable: bool = True) -> None:
  """Registers an implementation under ``name`` for ``selective_scan(impl=name)``.

  Args:
    name: the ``impl`` name.
    fn: the implementation (see ``ScanImpl``).
    available: whether it runs on the local devices (asked when lowering for them).
    platforms: the lowering platforms it supports (None: every platform).
    portable: whether ``auto`` may put it in artefacts for other machines.
  """
  _IMPLS[name] = fn
  _AVAILABLE[name] = available
  _PLATFORMS[name] = tuple(platforms) if platforms is not None else None
  if not portable:
    _NOT_PORTABLE.add(name)


def available_impls() -> tuple[str, ...]:
  """Names accepted by ``impl`` (plus "auto")."""
  return tuple(_IMPLS)


@dataclasses.dataclass(frozen=True)
class _Lowering:
  platforms: tuple[str, ...]
  portable: bool


_LOWERING: contextvars.ContextVar[_Lowering | None] = contextvars.ContextVar(
    "selective_scan_lowering", default=None)


@contextlib.contextmanager
def lowering_for(platforms: Sequence[str], *, portable: bool = False
                 ) -> Iterator[None]:
  """Resolves ``impl`` for ``platforms`` while code inside is traced.

  ``impl="auto"`` is otherwise resolved for the local backend, which is right for
  everything run on this machine. Code lowered for other platforms (an ahead-of-time
  compile for an H100 on a CPU host, a ``jax.export`` for cpu, cuda and tpu) traces
  inside this context: each platform gets its own choice, as a
  ``jax.lax.platform_dependent`` when the choices differ, and an implementation
  that cannot run on one of them is refused at trace time.

  Args:
    platforms: JAX lowering platforms ("cpu", "cuda", "rocm", "tpu").
    portable: the artefact runs on other machines: ``auto`` never picks a
      non-portable kernel (Pallas) and naming one is refused.
  """
  platforms = tuple(platforms)
  unknown = [p for p in platforms if p not in PLATFORMS]
  if not platforms or unknown:
    raise ValueError(f"lowering_for: platforms must be some of {', '.join(PLATFORMS)}; "
                     f"got {platforms}")
  token = _LOWERING.set(_Lowering(platforms, bool(portable)))
  try:
    yield
  finally:
    _LOWERING.reset(token)


def local_platform() -> str:
  """The lowering platform of the default backend ("cpu", "cuda", "rocm", "tpu")."""
  backend = jax.default_backend()
  if backend != "gpu":
    return backend
  version = str(getattr(jax.devices()[0].client, "platform_version", "")).lower()
  return "rocm" if "rocm" in version else "cuda"


def _runs_on(impl: str, platform: str) -> bool:
  supported = _PLATFORMS[impl]
  if supported is not None and platform not in supported:
    return False
  # Devices of the target are only known when they are the local ones.
  return _AVAILABLE[impl]() if platform == local_platform() else True


def can_run(impl: str) -> bool:
  """Whether ``impl`` runs on the current default backend."""
  return impl in _IMPLS and _runs_on(impl, local_platform())


def _target() -> _Lowering:
  return _LOWERING.get() or _Lowering((local_platform(),), False)


def _group_A(A: jax.Array, groups: int, dtype) -> jax.Array:
  """(d, N) -> (G, dg, N)."""
  return A.astype(dtype).reshape(groups, A.shape[0] // groups, A.shape[1])


def _pure_jax(core) -> ScanImpl:
  """Adapts a grouped-layout core recurrence to the full ``selective_scan`` contract."""

  def impl(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
           chunk_size):
    groups = B.shape[2]
    dtype = _common.compute_dtype(u.dtype, delta.dtype, A.dtype, B.dtype, C.dtype)
    delta = _common.prepare_delta(delta, delta_bias, delta_softplus, dtype)
    split = lambda x: _common.split_groups(x.astype(dtype), groups)
    A_g = _group_A(A, groups, dtype)
    if initial_state is None:
      h0 = jnp.zeros((u.shape[0], *A_g.shape), dtype)
    else:
      h0 = initial_state.astype(dtype).reshape(u.shape[0], *A_g.shape)
    kwargs = {} if chunk_size is None or core not in _CHUNKED_CORES else {
        "chunk_size": chunk_size}
    y, h_last = core(split(u), split(delta), A_g, B.astype(dtype), C.astype(dtype),
                     h0, **kwargs)
    y = _common.merge_groups(y)
    if D is not None:
      y = y + D.astype(dtype) * u.astype(dtype)
    if z is not None:
      y = y * jax.nn.silu(z.astype(dtype))
    return y, h_last.reshape(u.shape[0], u.shape[2], A.shape[1])

  return impl


register_impl("sequential", _pure_jax(scan_sequential.scan))
register_impl("associative", _pure_jax(scan_associative.scan))
register_impl("chunked", _pure_jax(scan_chunked.scan))
register_impl("sequential_vjp", _pure_jax(scan_recurrent.scan))
register_impl("pallas", functools.partial(scan_pallas.scan, interpret=False),
              available=scan_pallas.can_run, platforms=("cuda",), portable=False)
# The same kernels run by the Pallas interpreter on any backend: slow, for tests and
# for debugging the kernel without a GPU.
register_impl("pallas_interpret", functools.partial(scan_pallas.scan, interpret=True))


def _shape_error(name: str, expected: str, got) -> ValueError:
  return ValueError(f"selective_scan: {name} must have shape {expected}, got "
                    f"{tuple(got.shape)}")


def _validate(u, delta, A, B, C, D, z, delta_bias, initial_state) -> None:
  """Checks every shape against u (b, L, d) and A (d, N); raises a named error."""
  for name, x in (("u", u), ("delta", delta), ("A", A), ("B", B), ("C", C),
                  ("D", D), ("z", z), ("delta_bias", delta_bias),
                  ("initial_state", initial_state)):
    if x is None:
      continue
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
      raise TypeError(f"selective_scan: {name} must be an array, got {type(x).__name__}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(f"selective_scan: {name} must be a floating-point array, got "
                      f"dtype {x.dtype}")
  if u.ndim != 3:
    raise _shape_error("u", "(batch, L, channels)", u)
  b, length, d = u.shape
  if delta.shape != u.shape:
    raise _shape_error("delta", f"(batch, L, channels) = {u.shape} like u", delta)
  if A.ndim != 2 or A.shape[0] != d:
    raise _shape_error("A", f"(channels, N) = ({d}, N)", A)
  n = A.shape[1]
  for name, x in (("B", B), ("C", C)):
    if x.ndim != 4 or x.shape[:2] != (b, length) or x.shape[3] != n:
      raise _shape_error(
          name, f"(batch, L, G, N) = ({b}, {length}, G, {n}); for one group use "
          f"{name}[:, :, None, :]", x)
  if B.shape[2] != C.shape[2]:
    raise ValueError(f"selective_scan: B and C must have the same number of groups, "
                     f"got {B.shape[2]} and {C.shape[2]}")
  groups = B.shape[2]
  if groups < 1 or d % groups:
    raise ValueError(f"selective_scan: the number of groups G = {groups} of B and C "
                     f"must divide channels = {d}")
  for name, x in (("D", D), ("delta_bias", delta_bias)):
    if x is not None and x.shape != (d,):
      raise _shape_error(name, f"(channels,) = ({d},)", x)
  if z is not None and z.shape != u.shape:
    raise _shape_error("z", f"(batch, L, channels) = {u.shape} like u", z)
  if initial_state is not None and initial_state.shape != (b, d, n):
    raise _shape_error("initial_state", f"(batch, channels, N) = ({b}, {d}, {n})",
                       initial_state)


def auto_impl(platform: str, *, portable: bool = False) -> str:
  """What ``impl="auto"`` runs on lowering platform ``platform``.

  The rule comes from ``experiments.benchmark_scan`` (README, "Selective scan"):
  a registered kernel that should win where it runs goes first (``AUTO_ORDER``;
  never a non-portable one in an artefact for other machines); otherwise on CPU
  "sequential_vjp" (the fastest forward+backward at every shape we measured, with
  memory bounded in L), and on accelerators "chunked" (parallel in time inside
  chunks, memory bounded in L where the associative scan's grows with L * N).

  The measured winners do not depend on the call's shape, so neither does the rule.
  """
  for preferred in AUTO_ORDER:
    if _runs_on(preferred, platform) and not (portable and preferred in _NOT_PORTABLE):
      return preferred
  return "sequential_vjp" if platform == "cpu" else "chunked"


def resolve_impl(impl: str) -> str | dict[str, str]:
  """The implementation ``impl`` stands for where the code is being lowered.

  Args:
    impl: a registered name or "auto".

  Returns:
    The name, or {platform: name} when code is lowered for several platforms
    (``lowering_for``) whose "auto" choices differ.

  Raises:
    ValueError: an unknown name, or one that cannot run on a lowering platform.
  """
  target = _target()
  if impl == "auto":
    names = {p: auto_impl(p, portable=target.portable) for p in target.platforms}
    return names if len(set(names.values())) > 1 else next(iter(names.values()))
  if impl not in _IMPLS:
    raise ValueError(f"selective_scan: unknown impl {impl!r}; choose one of "
                     f"{', '.join(('auto',) + available_impls())}")
  if target.portable and impl in _NOT_PORTABLE:
    raise ValueError(
        f"selective_scan: impl {impl!r} is tied to one GPU generation and cannot go "
        f"into an artefact exported for {', '.join(target.platforms)}; export with "
        "impl='auto' (or 'chunked'); select the kernel when you run the model")
  for platform in target.platforms:
    if not _runs_on(impl, platform):
      where = (f"the {jax.default_backend()} backend" if target.platforms ==
               (local_platform(),) else f"platform {platform!r}")
      raise ValueError(f"selective_scan: impl {impl!r} cannot run on {where}; use "
                       "impl='auto'")
  return impl


@functools.lru_cache(maxsize=None)
def _impl_branch(name: str, chunk_size: int | None, delta_softplus: bool, y_dtype):
  """``_IMPLS[name]`` on the positional arrays, y cast to ``y_dtype``: one object per
  arguments, so that ``platform_dependent`` merges the platforms that share it."""
  def branch(u, delta, A, B, C, D, z, delta_bias, initial_state):
    y, final_state = _IMPLS[name](u, delta, A, B, C, D, z, delta_bias,
                                  delta_softplus, initial_state, chunk_size)
    return y.astype(y_dtype), final_state
  return branch


def selective_scan(u: jax.Array, delta: jax.Array, A: jax.Array, B: jax.Array,
                   C: jax.Array, D: jax.Array | None = None, z: jax.Array | None = None,
                   delta_bias: jax.Array | None = None, delta_softplus: bool = False,
                   initial_state: jax.Array | None = None,
                   return_final_state: bool = False, impl: str = "auto",
                   chunk_size: int | None = None):
  """Selective scan (S6), channels-last.

  Args:
    u: (batch, L, channels) input.
    delta: (batch, L, channels) step sizes before bias/softplus.
    A: (channels, N) state matrix (diagonal per channel; negative for stability).
    B, C: (batch, L, G, N) input and output projections; G divides channels and
      channel c uses group c // (channels // G).
    D: optional (channels,) skip: y += D * u.
    z: optional (batch, L, channels) gate: y *= silu(z).
    delta_bias: optional (channels,) added to delta before the softplus.
    delta_softplus: apply softplus to delta (after adding delta_bias).
    initial_state: optional (batch, channels, N) state before the first step.
    return_final_state: also return the (batch, channels, N) state after the last
      step (in the compute dtype), e.g. to continue the scan over a next segment.
    impl: "sequential" (``lax.scan`` over time, the reference), "associative"
      (``lax.associative_scan`` over the whole sequence; memory O(b L d N)),
      "chunked" (parallel inside chunks, sequential across them; memory bounded in
      L, also in the backward pass), "sequential_vjp" (sequential, with a
      hand-written backward that recomputes inside chunks: fast on CPU, memory
      bounded in L), "pallas" (GPU kernels), "pallas_interpret" (the same kernels
      interpreted, for tests) or "auto": resolved for the platform the code is
      lowered for (``auto_impl``; several platforms: ``lowering_for``).
    chunk_size: steps per chunk of "chunked" (default 32), "sequential_vjp"
      (default 32) and the forward of the Pallas kernel (default 64).

  Returns:
    y (batch, L, channels) in u's dtype, or (y, final_state).
  """
  _validate(u, delta, A, B, C, D, z, delta_bias, initial_state)
  if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
    raise ValueError(f"selective_scan: chunk_size must be a positive int, got "
                     f"{chunk_size!r}")
  resolved = resolve_impl(impl)
  args = (u, delta, A, B, C, D, z, delta_bias, initial_state)
  branch = functools.partial(_impl_branch, chunk_size=chunk_size,
                             delta_softplus=bool(delta_softplus), y_dtype=u.dtype)
  if isinstance(resolved, str):
    y, final_state = branch(resolved)(*args)
  else:
    # Lowered for several platforms (an export): each gets its own choice, staged
    # as a platform conditional that the compiler of each platform resolves.
    y, final_state = jax.lax.platform_dependent(
        *args, **{p: branch(n) for p, n in resolved.items()})
  return (y, final_state) if return_final_state else y
