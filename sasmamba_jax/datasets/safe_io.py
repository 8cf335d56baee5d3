"""Reading downloaded data files without ever running code from them.

Pickles and the object arrays inside ``.npz`` files are decoded by a restricted
unpickler that resolves only the few NumPy callables needed to rebuild arrays,
dtypes and scalars: a data file can never import or call anything else.
Builders also use this module to name missing manual files with instructions.
"""

from __future__ import annotations

import io
import pathlib
import pickle
import zipfile
import zlib
from typing import Any, Mapping

import numpy as np

PathLike = str | pathlib.Path

# Globals a data pickle may name: array, dtype and scalar reconstruction only.
# Plain containers (dict, list, tuple, str, bytes, numbers) need no global at all.
_ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    # Protocol-2 pickles encode bytes (array buffers) as _codecs.encode(str, codec).
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "bytearray"),
})


class DataFileError(ValueError):
  """A data file is unreadable or does not have the expected structure."""


class UnsafePickleError(DataFileError, pickle.UnpicklingError):
  """A pickle names an object other than arrays, scalars, strings or containers."""


class MissingDataFileError(FileNotFoundError):
  """A file that must be downloaded by hand is not in the manual directory."""


class _RestrictedUnpickler(pickle.Unpickler):
  """Unpickler that resolves only the globals in ``_ALLOWED_GLOBALS``."""

  def __init__(self, file, what: str):
    super().__init__(file, encoding="latin1")
    self._what = what

  def find_class(self, module: str, name: str) -> Any:
    # Protocol-2 pickles written by Python 2 conventions name builtins "__builtin__".
    module = "builtins" if module == "__builtin__" else module
    if (module, name) in _ALLOWED_GLOBALS:
      return super().find_class(module, name)
    raise UnsafePickleError(
        f"{self._what}: refusing to load '{module}.{name}'. Data files may hold only "
        "numpy arrays, numpy dtypes and scalars, strings, numbers and plain "
        "containers (dict, list, tuple); anything else could run code when loaded. "
        "Re-create the file from plain arrays.")

  def persistent_load(self, pid: Any) -> Any:
    raise UnsafePickleError(
        f"{self._what}: refusing a pickle persistent id ({pid!r}); data files may "
        "hold only arrays, scalars, strings and plain containers.")


def loads_restricted(data: bytes, what: str = "pickle") -> Any:
  """Unpickles ``data`` with the restricted unpickler.

  Args:
    data: the pickle stream.
    what: name used in error messages (usually the file path).

  Returns:
    The decoded object: arrays, scalars, strings and plain containers.

  Raises:
    UnsafePickleError: the stream names a disallowed global.
    DataFileError: the stream is truncated or corrupt.
  """
  try:
    return _RestrictedUnpickler(io.BytesIO(data), what).load()
  except UnsafePickleError:
    raise
  except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError,
          KeyError, AttributeError, MemoryError) as e:
    raise DataFileError(
        f"{what}: truncated or corrupt pickle ({type(e).__name__}: {e}); download "
        "the file again") from e


def json_problem(error: BaseException) -> str:
  """What is wrong with a JSON file, in words (``json.loads``' error, or the
  ``RecursionError`` of nesting too deep to read)."""
  if isinstance(error, RecursionError):
    return "its JSON is nested too deeply to read"
  return str(error)


def load_pickle(path: PathLike) -> Any:
  """Reads a pickle file with the restricted unpickler (see ``loads_restricted``)."""
  path = pathlib.Path(path)
  return loads_restricted(path.read_bytes(), str(path))


def _read_npy(data: bytes, what: str) -> np.ndarray:
  """Decodes one .npy member; object arrays go through the restricted unpickler."""
  stream = io.BytesIO(data)
  try:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
      shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
      shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
      # Version 3.0 only changes the header encoding; numpy has no public reader.
      read_header = np.lib.format._read_array_header  # pylint: disable=protected-access
      shape, fortran_order, dtype = read_header(stream, version)
  except (ValueError, EOFError) as e:
    raise DataFileError(f"{what}: not a valid .npy array ({e}); download the file "
                        "again") from e
  if dtype.hasobject:
    array = loads_restricted(stream.read(), what)
    if not isinstance(array, np.ndarray):
      raise DataFileError(f"{what}: object array member decoded to "
                          f"{type(array).__name__}, expected a numpy array")
    return array
  count = int(np.prod(shape, dtype=np.int64))
  payload = stream.read()
  if len(payload) < count * dtype.itemsize:
    raise DataFileError(f"{what}: array of shape {shape} is truncated "
                        f"({len(payload)} of {count * dtype.itemsize} bytes); "
                        "download the file again")
  array = np.frombuffer(payload, dtype=dtype, count=count)
  order = "F" if fortran_order else "C"
  return array.reshape(shape, order=order).copy()


def load_npz(path: PathLike) -> dict[str, Any]:
  """Reads every member of an ``.npz`` file without executing code.

  Object arrays (pickled dicts, as in VideoPose3D's and P-STMO's files) are decoded
  with the restricted unpickler; a 0-d object array is returned as its item.

  Args:
    path: the ``.npz`` file.

  Returns:
    {member name without ".npy": array or decoded object}.

  Raises:
    DataFileError: the file is not a zip archive, is truncated, or a member is not
      a valid array.
    UnsafePickleError: an object member names a disallowed global.
  """
  path = pathlib.Path(path)
  out = {}
  try:
    with zipfile.ZipFile(path) as archive:
      for member in archive.namelist():
        if not member.endswith(".npy"):
          continue
        what = f"{path}:{member}"
        value = _read_npy(archive.read(member), what)
        if value.dtype.hasobject and value.shape == ():
          value = value.item()
        out[member[:-len(".npy")]] = value
  except (zipfile.BadZipFile, zlib.error, EOFError) as e:
    raise DataFileError(f"{path}: not a readable .npz archive ({e}); the file is "
                        "probably truncated: download it again") from e
  return out


def require_key(mapping: Any, key: str, what: str) -> Any:
  """Returns ``mapping[key]`` or fails with a message naming the missing key."""
  if not isinstance(mapping, Mapping):
    raise DataFileError(f"{what}: expected a dict, got {type(mapping).__name__}")
  if key not in mapping:
    raise DataFileError(f"{what}: missing key {key!r} (keys present: "
                        f"{', '.join(map(repr, sorted(map(str, mapping))))})")
  return mapping[key]


def require_array(value: Any, what: str, shape: tuple[int | None, ...],
                  dtype_kind: str = "fiu") -> np.ndarray:
  """Checks that ``value`` is an array of ``shape`` (None = any size).

  Args:
    value: candidate array.
    what: name for error messages, e.g. "file.pkl['train']['joint_2d']".
    shape: expected shape; None entries match any size.
    dtype_kind: accepted numpy dtype kinds (default: numbers).

  Returns:
    ``value`` as a numpy array.
  """
  if not isinstance(value, np.ndarray):
    raise DataFileError(f"{what}: expected a numpy array of shape "
                        f"{_shape_str(shape)}, got {type(value).__name__}")
  ok = value.ndim == len(shape) and all(
      s is None or s == v for s, v in zip(shape, value.shape))
  if not ok:
    raise DataFileError(f"{what}: expected shape {_shape_str(shape)}, got "
                        f"{tuple(value.shape)}")
  if value.dtype.kind not in dtype_kind:
    raise DataFileError(f"{what}: expected a numeric array, got dtype {value.dtype}")
  return value


def _shape_str(shape: tuple[int | None, ...]) -> str:
  names = iter("NFTK")
  return "(" + ", ".join(next(names) if s is None else str(s) for s in shape) + (
      ",)" if len(shape) == 1 else ")")


def manual_file(dl_manager: Any, filename: str, *, dataset: str,
                origin: str) -> pathlib.Path:
  """Returns the path of ``filename`` in the manual directory, or a clear error.

  Args:
    dl_manager: the ``tfds.download.DownloadManager`` given to a builder.
    filename: file expected in the manual directory.
    dataset: "name/config" used in the rebuild command.
    origin: where the file comes from (sentence with the download location).

  Raises:
    MissingDataFileError: naming the file, its origin and the command to run.
  """
  try:
    root = dl_manager.manual_dir
  except AssertionError:
    # tfds raises when the folder is missing or empty; keep its path for the message.
    root = getattr(dl_manager, "_manual_dir", None)
  path = pathlib.Path(root) / filename if root else None
  if path is None or not path.is_file():
    where = str(root) if root else "MANUAL_DIR"
    raise MissingDataFileError(
        f"{dataset}: {filename} not found in {where}. {origin} Put it in a folder "
        f"and run:\n  python -m experiments.prepare_data --dataset={dataset} "
        "--manual_dir=FOLDER")
  return path
