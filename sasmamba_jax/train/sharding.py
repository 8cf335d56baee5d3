"""Device mesh, parameter/batch shardings, and global batches from per-process data.

One mesh axis, "data". Batches are split along it. Parameters (and their optimizer
state) are either replicated (plain data parallelism) or FSDP-style sharded along it:
every array with a dimension divisible by the axis size is split on its largest such
dimension, so each device holds 1/n of the weights and XLA gathers them where used.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from flax import nnx
import jax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

DATA_AXIS = "data"


def make_mesh(data: int = -1) -> Mesh:
  """A 1-D mesh over ``data`` devices (-1: all devices of all processes)."""
  total = jax.device_count()
  n = total if data == -1 else data
  if n < 1 or n > total or total % n:
    raise ValueError(f"mesh.data = {data}: must be -1 or divide the {total} available "
                     "devices")
  devices = np.asarray(jax.devices()[:n])
  return Mesh(devices, (DATA_AXIS,))


def fsdp_spec(shape: tuple[int, ...], axis_size: int) -> P:
  """Shards the largest dimension divisible by ``axis_size``; else replicates."""
  best = None
  for dim, size in enumerate(shape):
    if size % axis_size == 0 and size >= axis_size and (best is None
                                                        or size > shape[best]):
      best = dim
  if best is None or axis_size == 1:
    return P()
  spec = [None] * len(shape)
  spec[best] = DATA_AXIS
  return P(*spec)


def state_shardings(abstract_state: Any, mesh: Mesh, mode: str) -> Any:
  """NamedShardings for a pytree of (abstract) arrays: "replicated" or "fsdp"."""
  if mode not in ("replicated", "fsdp"):
    raise ValueError(f"unknown parameter sharding {mode!r}; use replicated or fsdp")
  axis_size = mesh.shape[DATA_AXIS]

  def one(x):
    shape = tuple(getattr(x, "shape", ()))
    spec = fsdp_spec(shape, axis_size) if mode == "fsdp" else P()
    return NamedSharding(mesh, spec)

  return jax.tree.map(one, abstract_state)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over the data axis."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def per_process_batch(global_batch: int, what: str = "batch_size") -> int:
  """This process's share of a global batch; it must split evenly over devices."""
  devices, processes = jax.device_count(), jax.process_count()
  if global_batch % devices:
    raise ValueError(f"{what} = {global_batch} must be a multiple of the {devices} "
                     "devices it is split over")
  return global_batch // processes


def global_batch(local: Mapping[str, np.ndarray], sharding: NamedSharding
                 ) -> dict[str, jax.Array]:
  """Assembles each process's numeric arrays into global arrays split on the batch."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local.items()}


def put(tree: Any, shardings: Any) -> Any:
  """Places host-identical values on (possibly multi-process) global shardings.

  Every process must hold the same values (e.g. parameters initialised from the same
  seed); each device receives its slice. Unlike ``jax.device_put`` this works for
  shardings that span devices of other processes.
  """
  def one(x, s):
    if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(s, x.ndim):
      # Already placed (e.g. by create_sharded): no host round trip. An eagerly
      # built single-device array is relabelled with the mesh sharding (no copy):
      # jit keys its cache on it, and the train step's outputs carry the mesh, so
      # the first and later steps would otherwise compile twice.
      return x if x.sharding == s else jax.device_put(x, s)
    if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
      return jax.device_put(x, s)
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, s, lambda index: x[index])
  return jax.tree.map(one, tree, shardings)


def to_host(x: jax.Array) -> np.ndarray:
  """The whole of a (possibly multi-process) global array as NumPy on every process."""
  if jax.process_count() == 1:
    return np.asarray(x)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def local_rows(x: jax.Array, mesh: Mesh) -> np.ndarray:
  """This process's rows of a global array split on its leading (batch) axis.

  They are the rows this process fed in (``global_batch``), in the same order.
  """
  if jax.process_count() == 1:
    return np.asarray(x)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.asarray(multihost_utils.global_array_to_host_local_array(
      x, mesh, P(DATA_AXIS)))


def all_gather_bytes(data: bytes) -> list[bytes]:
  """Every process's ``data``, in process order (one process: ``[data]``)."""
  if jax.process_count() == 1:
    return [data]
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  sizes = np.asarray(multihost_utils.process_allgather(np.int64(len(data))))
  padded = np.zeros(int(sizes.max()), np.uint8)
  padded[:len(data)] = np.frombuffer(data, np.uint8)
  gathered = np.asarray(multihost_utils.process_allgather(padded))
  return [gathered[i, :int(n)].tobytes() for i, n in enumerate(sizes)]


def all_sum(value: int) -> int:
  """The sum of an integer over all processes."""
  if jax.process_count() == 1:
    return int(value)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return int(np.sum(multihost_utils.process_allgather(np.int64(value))))


def create_sharded(build: Callable[[], nnx.Module], mesh: Mesh, mode: str
                   ) -> nnx.Module:
  """Builds ``build()``'s model directly into its shardings, never on the host.

  On several devices the model is traced abstractly (``nnx.eval_shape``) to derive
  the shardings, then its initialisers run inside one ``jit`` whose outputs land on
  those shardings, so a large model is neither materialised on the host nor
  gathered on one device first (each process computes the same values from the same
  seed). On a single device there is nothing to shard: the model is built eagerly
  on that device (tracing a deep NNX model costs about 10x the eager build).
  """
  if mesh.size == 1 and jax.process_count() == 1:
    with jax.default_device(mesh.devices.flat[0]):
      return build()
  return create_jitted(build, mesh, mode)


def create_jitted(build: Callable[[], nnx.Module], mesh: Mesh, mode: str
                  ) -> nnx.Module:
  """``create_sharded``'s path for several devices: abstract trace + jitted init."""
  abstract = nnx.eval_shape(build)
  graphdef, abstract_state = nnx.split(abstract)
  shardings = state_shardings(abstract_state, mesh, mode)
  state = jax.jit(lambda: nnx.split(build())[1], out_shardings=shardings)()
  return nnx.merge(graphdef, state)
