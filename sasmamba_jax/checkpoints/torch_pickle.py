"""Reading PyTorch checkpoint files without PyTorch and without running their code.

``torch.save`` writes a zip archive ``<name>/data.pkl`` (a pickle of the saved object),
``<name>/data/<key>`` (one raw little- or big-endian buffer per tensor storage),
``<name>/byteorder`` and ``<name>/version``; some downloads arrive unpacked as that
folder. The pickle rebuilds tensors by calling ``torch._utils._rebuild_tensor_v2`` on
storages it names by persistent id ``('storage', <storage type>, key, location,
numel)``.

``read_torch_file`` unpickles ``data.pkl`` with a restricted unpickler: the tensor
rebuild globals and storage/dtype markers are mapped to NumPy implementations here,
a handful of harmless containers and NumPy scalar constructors are allowed, and every
other global is refused with ``UnsafeCheckpointError``, so a file can never import or
call anything. Tensors come back as NumPy arrays (bfloat16 via ``ml_dtypes``).
"""

from __future__ import annotations

import collections
import io
import pathlib
import pickle
import re
import zipfile
from typing import Any, Callable

import ml_dtypes
import numpy as np

PathLike = str | pathlib.Path


class CheckpointError(ValueError):
  """A checkpoint is unreadable, or its contents do not fit the model."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
  """A checkpoint's pickle names a global outside the allowed tensor-rebuild set."""


# Storage classes name the element type of a storage in the persistent id.
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32,
    "HalfStorage": np.float16, "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64, "ComplexDoubleStorage": np.complex128,
    "UntypedStorage": np.uint8,
}
# torch dtype objects, named by ``_rebuild_tensor_v3``.
_TORCH_DTYPES = {
    "float64": np.float64, "double": np.float64, "float32": np.float32,
    "float": np.float32, "float16": np.float16, "half": np.float16,
    "bfloat16": ml_dtypes.bfloat16, "int64": np.int64, "long": np.int64,
    "int32": np.int32, "int": np.int32, "int16": np.int16, "short": np.int16,
    "int8": np.int8, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
    "uint64": np.uint64, "bool": np.bool_, "complex64": np.complex64,
    "complex128": np.complex128,
}
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_]+")


class _Marker:
  """Stands for a torch class or dtype that the pickle names but never calls."""

  def __init__(self, name: str, dtype: Any = None):
    self.name = name
    self.dtype = None if dtype is None else np.dtype(dtype)

  def __call__(self, *args, **kwargs):
    raise UnsafeCheckpointError(f"the checkpoint calls torch.{self.name}, which only "
                                "names a type in a tensor file")

  def __repr__(self) -> str:
    return f"<torch.{self.name}>"


class _Storage:
  """A tensor storage: a flat NumPy array of the storage's element type."""

  def __init__(self, data: np.ndarray):
    self.data = data


def _check_ints(what: str, values: Any) -> tuple[int, ...]:
  values = tuple(values)
  if not all(isinstance(v, int) and v >= 0 for v in values):
    raise CheckpointError(f"corrupt checkpoint: tensor {what} {values} must be "
                          "non-negative ints")
  return values


def _view(flat: np.ndarray, offset: int, size: Any, stride: Any) -> np.ndarray:
  """A copy of the strided view of ``flat``, refusing any view out of bounds."""
  size = _check_ints("size", size)
  stride = _check_ints("stride", stride)
  (offset,) = _check_ints("offset", (offset,))
  if len(size) != len(stride):
    raise CheckpointError(f"corrupt checkpoint: size {size} and stride {stride} differ "
                          "in length")
  if 0 in size:
    return np.zeros(size, flat.dtype)
  last = offset + sum((n - 1) * s for n, s in zip(size, stride))
  if last >= flat.size:
    raise CheckpointError(f"corrupt checkpoint: a tensor of size {size}, stride "
                          f"{stride} at offset {offset} reads past its storage of "
                          f"{flat.size} elements")
  item = flat.dtype.itemsize
  view = np.lib.stride_tricks.as_strided(flat[offset:], shape=size,
                                         strides=[s * item for s in stride],
                                         writeable=False)
  return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
  if not isinstance(storage, _Storage):
    raise CheckpointError("corrupt checkpoint: a tensor is rebuilt from a non-storage")
  return _view(storage.data, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad,
                       backward_hooks, dtype, metadata=None):
  del requires_grad, backward_hooks, metadata
  if not isinstance(storage, _Storage) or not isinstance(dtype, _Marker) or (
      dtype.dtype is None):
    raise CheckpointError("corrupt checkpoint: bad arguments to _rebuild_tensor_v3")
  raw = storage.data.view(np.uint8)
  if raw.size % dtype.dtype.itemsize:
    raise CheckpointError("corrupt checkpoint: storage size is not a multiple of "
                          f"{dtype.dtype} elements")
  return _view(raw.view(dtype.dtype), storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *state):
  del requires_grad, backward_hooks, state
  return data


def _rebuild_from_type_v2(func, new_type, args, state):
  """Tensor subclasses (``nn.Parameter``, ``torch.Tensor``) rebuild as plain arrays."""
  del new_type, state
  if func not in (_rebuild_tensor, _rebuild_tensor_v3, _rebuild_parameter):
    raise UnsafeCheckpointError("the checkpoint rebuilds a tensor subclass with a "
                                "function outside the tensor-rebuild set")
  return func(*args)


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
  """How protocol-2 pickles spell bytes; refuses anything but text."""
  if not isinstance(obj, str) or not isinstance(encoding, str):
    raise UnsafeCheckpointError("_codecs.encode is allowed on strings only")
  return obj.encode(encoding, errors)


def _numpy_scalar(dtype, data=None):
  if not isinstance(dtype, np.dtype):
    raise CheckpointError("corrupt checkpoint: numpy scalar without a dtype")
  if dtype.hasobject:
    return data
  if not isinstance(data, bytes) or len(data) != dtype.itemsize:
    raise CheckpointError("corrupt checkpoint: bad numpy scalar bytes")
  return np.frombuffer(data, dtype)[0]


def _numpy_reconstruct(cls, shape, dtype_code):
  if cls is not np.ndarray:
    raise UnsafeCheckpointError("numpy _reconstruct is allowed for ndarray only")
  return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _allowed_globals() -> dict[tuple[str, str], Any]:
  allowed: dict[tuple[str, str], Any] = {
      ("collections", "OrderedDict"): collections.OrderedDict,
      ("builtins", "set"): set,
      ("builtins", "frozenset"): frozenset,
      ("builtins", "complex"): complex,
      ("_codecs", "encode"): _codecs_encode,
      ("torch", "Size"): tuple,
      ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
      ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
      ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
      ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
      ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
      ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
      ("torch", "Tensor"): _Marker("Tensor"),
      ("torch.nn.parameter", "Parameter"): _Marker("nn.Parameter"),
      ("numpy", "dtype"): np.dtype,
      ("numpy", "ndarray"): np.ndarray,
  }
  for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    allowed[(module, "scalar")] = _numpy_scalar
    allowed[(module, "_reconstruct")] = _numpy_reconstruct
  for name, dtype in _STORAGE_DTYPES.items():
    allowed[("torch", name)] = _Marker(name, dtype)
    allowed[("torch.storage", name)] = _Marker(name, dtype)
  for name, dtype in _TORCH_DTYPES.items():
    allowed[("torch", name)] = _Marker(name, dtype)
  return allowed


_ALLOWED = _allowed_globals()


class _TorchUnpickler(pickle.Unpickler):
  """Resolves only ``_ALLOWED`` globals; storages come from ``load_storage(key)``."""

  def __init__(self, file, load_storage: Callable[[str], bytes], byteorder: str,
               what: str):
    super().__init__(file)
    self._load_storage = load_storage
    self._big_endian = byteorder == "big"
    self._storages: dict[str, _Storage] = {}
    self._what = what

  def find_class(self, module: str, name: str) -> Any:
    try:
      return _ALLOWED[(module, name)]
    except KeyError:
      raise UnsafeCheckpointError(
          f"{self._what}: refusing to load the global {module}.{name}: only tensors, "
          "numbers, strings and containers may appear in a checkpoint (the file may "
          "try to run code)") from None

  def persistent_load(self, pid: Any) -> _Storage:
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
      raise CheckpointError(f"{self._what}: unknown persistent id {pid!r:.80}")
    _, storage_type, key, _, numel = pid
    if not isinstance(storage_type, _Marker) or storage_type.dtype is None:
      raise CheckpointError(f"{self._what}: unknown storage type {storage_type!r}")
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
      raise CheckpointError(f"{self._what}: bad storage key {key!r:.80}")
    if key not in self._storages:
      raw = self._load_storage(key)
      dtype = storage_type.dtype
      if not isinstance(numel, int) or len(raw) != numel * dtype.itemsize:
        raise CheckpointError(f"{self._what}: storage {key} holds {len(raw)} bytes, "
                              f"expected {numel} x {dtype.itemsize}")
      data = np.frombuffer(raw, dtype)
      if self._big_endian and dtype.itemsize > 1:
        data = data.byteswap()
      self._storages[key] = _Storage(data)
    return self._storages[key]


def unpickle(data: bytes, load_storage: Callable[[str], bytes], *,
             byteorder: str = "little", what: str = "checkpoint") -> Any:
  """Unpickles a torch ``data.pkl`` with the restricted unpickler."""
  if byteorder not in ("little", "big"):
    raise CheckpointError(f"{what}: byteorder must be 'little' or 'big', got "
                          f"{byteorder!r:.40}")
  try:
    return _TorchUnpickler(io.BytesIO(data), load_storage, byteorder, what).load()
  except CheckpointError:
    raise
  except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
          IndexError, KeyError) as e:
    raise CheckpointError(f"{what}: corrupt pickle ({type(e).__name__}: {e})") from e


def _read_zip(path: pathlib.Path) -> Any:
  try:
    zf = zipfile.ZipFile(path)
  except zipfile.BadZipFile as e:
    raise CheckpointError(f"{path}: not a readable zip archive ({e})") from e
  with zf:
    names = zf.namelist()
    pickles = [n for n in names if n == "data.pkl" or (
        n.endswith("/data.pkl") and n.count("/") == 1)]
    if len(pickles) != 1:
      raise CheckpointError(f"{path}: expected one <name>/data.pkl in the archive, "
                            f"found {len(pickles)}; is this a torch.save file?")
    prefix = pickles[0][:-len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
      byteorder = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()

    def load_storage(key: str) -> bytes:
      try:
        return zf.read(f"{prefix}data/{key}")
      except KeyError:
        raise CheckpointError(f"{path}: storage data/{key} is missing from the "
                              "archive") from None

    try:
      return unpickle(zf.read(pickles[0]), load_storage, byteorder=byteorder,
                      what=str(path))
    except (zipfile.BadZipFile, OSError) as e:  # e.g. a CRC error in a member.
      raise CheckpointError(f"{path}: corrupt archive ({e})") from e


def _read_folder(path: pathlib.Path) -> Any:
  if not (path / "data.pkl").is_file():
    inner = [p for p in path.iterdir() if (p / "data.pkl").is_file()]
    if len(inner) != 1:
      raise CheckpointError(f"{path}: no data.pkl here; expected the unpacked archive "
                            "layout <name>/{data.pkl, data/, version, byteorder}")
    path = inner[0]
  byteorder = "little"
  if (path / "byteorder").is_file():
    byteorder = (path / "byteorder").read_text("ascii", "replace").strip()

  def load_storage(key: str) -> bytes:
    f = path / "data" / key
    if not f.is_file():
      raise CheckpointError(f"{path}: storage data/{key} is missing")
    return f.read_bytes()

  return unpickle((path / "data.pkl").read_bytes(), load_storage,
                  byteorder=byteorder, what=str(path))


def read_torch_file(path: PathLike) -> Any:
  """Loads a ``torch.save`` zip file or its unpacked folder as NumPy-based objects.

  Args:
    path: a ``.pth`` / ``.pt`` / ``.bin`` zip archive, or a folder holding
      ``data.pkl`` and ``data/`` (or a folder with exactly one such folder inside).

  Returns:
    The saved object with every tensor replaced by a NumPy array.

  Raises:
    FileNotFoundError: nothing at ``path``.
    UnsafeCheckpointError: the pickle names a global outside the tensor-rebuild set.
    CheckpointError: the file is not a torch zip checkpoint, or is corrupt.
  """
  path = pathlib.Path(path)
  if path.is_dir():
    return _read_folder(path)
  if not path.is_file():
    raise FileNotFoundError(f"no checkpoint at {path}")
  if zipfile.is_zipfile(path):
    return _read_zip(path)
  with open(path, "rb") as f:
    head = f.read(2)
  if head == b"PK":
    raise CheckpointError(f"{path}: a truncated or corrupt zip archive")
  if head[:1] == b"\x80":
    raise CheckpointError(
        f"{path}: a legacy (pre-1.6, non-zip) torch file; re-save it with a current "
        "torch (torch.save(torch.load(f), g)) or convert it to .npz")
  raise CheckpointError(f"{path}: not a torch zip checkpoint, folder or .npz file")
