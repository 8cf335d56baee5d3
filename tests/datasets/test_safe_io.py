"""Restricted reading of pickles and npz files."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from sasmamba_jax.datasets import safe_io


class _RunsCode:

  def __reduce__(self):
    return (os.system, ("touch /tmp/sasmamba-safe-io-marker",))


def test_plain_data_round_trips():
  data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": ["x", "y"],
          "c": (1, 2.5, None, True), "d": np.float64(3.5), "e": np.array(["s", "t"]),
          "f": {1, 2}, "g": np.array([{"nested": np.ones(2)}], dtype=object)}
  for protocol in (2, 4, 5):
    out = safe_io.loads_restricted(pickle.dumps(data, protocol=protocol))
    np.testing.assert_array_equal(out["a"], data["a"])
    assert out["b"] == ["x", "y"] and out["c"] == data["c"] and out["f"] == {1, 2}
    assert out["d"] == 3.5 and out["e"].tolist() == ["s", "t"]
    np.testing.assert_array_equal(out["g"][0]["nested"], np.ones(2))


def test_code_is_never_run(tmp_path):
  marker = "/tmp/sasmamba-safe-io-marker"
  if os.path.exists(marker):
    os.remove(marker)
  payload = pickle.dumps({"ok": np.zeros(2), "bad": _RunsCode()})
  with pytest.raises(safe_io.UnsafePickleError, match=r"'(posix|os)\.system'"):
    safe_io.loads_restricted(payload)
  assert not os.path.exists(marker)
  # The same payload hidden in an npz object member is refused too.
  path = tmp_path / "evil.npz"
  np.savez(path, data=np.array({"bad": _RunsCode()}, dtype=object))
  with pytest.raises(safe_io.UnsafePickleError):
    safe_io.load_npz(path)
  assert not os.path.exists(marker)


def test_truncated_pickle_is_reported(tmp_path):
  path = tmp_path / "x.pkl"
  path.write_bytes(pickle.dumps({"a": np.zeros((100, 17, 3))})[:300])
  with pytest.raises(safe_io.DataFileError, match=r"x\.pkl: truncated or corrupt"):
    safe_io.load_pickle(path)


def test_npz_members_and_object_dicts(tmp_path):
  path = tmp_path / "x.npz"
  np.savez_compressed(path, plain=np.arange(5), data={"S1": [np.ones((2, 3)), 25]})
  out = safe_io.load_npz(path)
  np.testing.assert_array_equal(out["plain"], np.arange(5))
  assert out["data"]["S1"][1] == 25
  np.testing.assert_array_equal(out["data"]["S1"][0], np.ones((2, 3)))


def test_truncated_npz_member(tmp_path):
  path = tmp_path / "x.npz"
  np.savez(path, a=np.zeros(1000))
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])
  with pytest.raises(safe_io.DataFileError, match="truncated: download it again"):
    safe_io.load_npz(path)
  # A member whose payload is shorter than its header says.
  buffer = io.BytesIO()
  np.lib.format.write_array(buffer, np.zeros(100))
  with pytest.raises(safe_io.DataFileError, match=r"shape \(100,\) is truncated"):
    read_npy = safe_io._read_npy  # pylint: disable=protected-access
    read_npy(buffer.getvalue()[:-80], "member")


def test_structure_checks_name_key_and_shape():
  with pytest.raises(safe_io.DataFileError, match=r"f\['s'\]: missing key 'k' \(keys "
                                                  r"present: 'a', 'b'\)"):
    safe_io.require_key({"a": 1, "b": 2}, "k", "f['s']")
  with pytest.raises(safe_io.DataFileError, match=r"expected shape \(N, 17, 2\), got "
                                                  r"\(4, 16, 2\)"):
    safe_io.require_array(np.zeros((4, 16, 2)), "x", (None, 17, 2))
  with pytest.raises(safe_io.DataFileError, match="expected a numpy array"):
    safe_io.require_array([1, 2], "x", (None,))
  with pytest.raises(safe_io.DataFileError, match="expected a numeric array"):
    safe_io.require_array(np.array(["a"]), "x", (None,))
  assert safe_io.require_array(np.zeros((3,)), "x", (3,)).shape == (3,)
