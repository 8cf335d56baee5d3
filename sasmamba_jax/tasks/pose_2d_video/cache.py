"""Feature caching: run the frozen backbone once per crop, train the head on disk.

A video model's ViTPose never changes during training, so its features of a crop
can be computed once. ``build`` runs the backbone over every example of a split
(the deterministic evaluation crop: no augmentation) and writes

  DIR/features.npy   (N, T, h, w, C) float16, read back memory-mapped
  DIR/meta.npz       the example's other features (targets, box, ids), (N, ...)
  DIR/fingerprint    what the cache was made from; a mismatch rebuilds it

``FeatureCache`` reads it as a random-access source for the input pipeline.

Cost: T h w C x 2 bytes per example (GLSMamba-B at 256 x 192: 5 x 64 x 48 x 256 x 2
= 7.9 MB, so PoseTrack18's ~100k training boxes would need ~0.8 TB: not worth it
there); it pays off when the backbone's forward dominates a step and the features
are small, as in the CPU quickstart (16 x 12 x 32 x 5: 61 kB per example).
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import tempfile
from typing import Any, Callable, Mapping, Sequence

from flax import nnx
import jax
import numpy as np

from sasmamba_jax.datasets import pipeline

FEATURES = "features"


class FeatureCache:
  """A built cache as a random-access source: ``len`` and ``[i]`` -> dict of arrays.

  ``[i]`` holds the example's cached ``features`` (T, h, w, C) float32 and every
  array stored beside them. Pickles as its path (grain worker processes reopen it).
  """

  def __init__(self, directory: str | pathlib.Path):
    self.directory = pathlib.Path(directory)
    self._open()

  def _open(self):
    self._features = np.load(self.directory / "features.npy", mmap_mode="r")
    with np.load(self.directory / "meta.npz") as meta:
      self._meta = {k: meta[k] for k in meta.files}

  def __getstate__(self):
    return {"directory": self.directory}

  def __setstate__(self, state):
    self.directory = state["directory"]
    self._open()

  def __len__(self) -> int:
    return int(self._features.shape[0])

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    out = {k: v[index] for k, v in self._meta.items()}
    out[FEATURES] = np.asarray(self._features[index], np.float32)
    return out


def params_digest(module: nnx.Module) -> str:
  """SHA-256 of a module's variables but its RNG state (paths, shapes, bytes)."""
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(
      nnx.state(module, nnx.Not(nnx.RngState)))[0]:
    value = np.asarray(leaf)
    digest.update(f"{jax.tree_util.keystr(path)}{value.shape}{value.dtype}".encode())
    digest.update(value.tobytes())
  return digest.hexdigest()


def build(directory: str | pathlib.Path, source: Sequence[Mapping[str, Any]],
          transforms: Sequence[Any], features_fn: Callable[[np.ndarray], np.ndarray],
          *, keys: Sequence[str], fingerprint: Mapping[str, Any], batch_size: int = 16,
          num_threads: int = 2, num_workers: int = 0,
          log: Callable[[str], None] | None = print) -> FeatureCache:
  """The cache of ``source`` in ``directory``, built unless it is there already.

  Args:
    directory: the cache's folder (written next to itself, then renamed, so a
      crash never leaves a half-written cache).
    source: the split's examples.
    transforms: the deterministic transforms that make an example's ``images``.
    features_fn: (B, T, H, W, 3) crops -> (B, T, h, w, C) features.
    keys: the transformed features to store beside the features (not ``images``).
    fingerprint: what the features depend on (JSON); another value rebuilds.
    batch_size, num_threads, num_workers: the reading pipeline.
    log: progress messages (None: quiet).
  """
  directory = pathlib.Path(directory)
  stamp = json.dumps(dict(fingerprint, num_examples=len(source)), sort_keys=True)
  if (directory / "fingerprint").is_file():
    if (directory / "fingerprint").read_text() == stamp:
      return FeatureCache(directory)
    if log:
      log(f"feature cache {directory} was made from other data or weights; "
          "rebuilding it")
  directory.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=directory.name + ".", dir=directory.parent))
  try:
    iterator = pipeline.make_eval_iterator(
        source, batch_size=batch_size, transforms=transforms,
        keys=tuple(keys) + ("images",), num_threads=num_threads,
        num_workers=num_workers, shard_index=0, shard_count=1)
    store = None
    meta: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    done = 0
    for batch in iterator:
      mask = np.asarray(batch["mask"], bool)
      feats = np.asarray(features_fn(batch["images"]))[mask]
      if store is None:
        store = np.lib.format.open_memmap(tmp / "features.npy", mode="w+",
                                          dtype=np.float16,
                                          shape=(len(source),) + feats.shape[1:])
      store[done:done + len(feats)] = feats.astype(np.float16)
      for k in keys:
        meta[k].append(np.asarray(batch[k])[mask])
      done += len(feats)
    if store is None or done != len(source):
      raise RuntimeError(f"feature cache: read {done} of {len(source)} examples")
    store.flush()
    del store
    np.savez(tmp / "meta.npz", **{k: np.concatenate(v) for k, v in meta.items()})
    (tmp / "fingerprint").write_text(stamp)
    if directory.exists():
      shutil.rmtree(directory)
    tmp.rename(directory)
  finally:
    if tmp.exists():
      shutil.rmtree(tmp)
  size = (directory / "features.npy").stat().st_size
  if log:
    log(f"feature cache: {len(source)} examples, {size / 2**20:.1f} MiB in {directory}")
  return FeatureCache(directory)
