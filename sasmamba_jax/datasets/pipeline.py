"""grain input pipelines: from a built dataset to batches of numpy arrays.

``make_train_iterator``: per-process shard, seeded shuffle (reshuffled every epoch),
random horizontal flip, fixed-size batches. ``make_eval_iterator``: every clip
once, in order, the last batch padded and flagged by a ``mask`` (B,) key. Both
return grain ``DatasetIterator``s: deterministic given their arguments, with
``get_state()`` / ``set_state()`` for checkpointing (the state is a small dict).

Batches are dicts of numpy arrays with a leading batch axis B: the features of
``common`` (float32 poses (B, T, J, 3), int64 ``frame_index`` (B, T), ...), with
``source`` and ``action`` as numpy unicode arrays (B,).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import grain
import jax
import numpy as np

from sasmamba_jax import skeletons

# Features the flip rewrites, and what it needs to rewrite gt_3d_mm.
_FLIP_NEEDS = ("input_2d", "label_3d", "gt_3d_mm", "camera_resolution",
               "factor_2_5d")


def skeleton_of(data_source: Any) -> skeletons.Skeleton:
  """The joint layout recorded in a built dataset's metadata ("skeleton")."""
  info = getattr(data_source, "dataset_info", None)
  metadata = getattr(info, "metadata", None) or {}
  if "skeleton" not in metadata:
    raise ValueError("the data source records no skeleton in its metadata; pass "
                     "skeleton= explicitly (e.g. sasmamba_jax.skeletons.H36M)")
  return skeletons.get(metadata["skeleton"])


def flip_example(example: Mapping[str, Any],
                 skeleton: skeletons.Skeleton = skeletons.H36M) -> dict[str, Any]:
  """Mirrors an example (or a batch) left-right, 2D and 3D together.

  ``input_2d`` and ``label_3d`` are normalised with the image centre at x = 0, so
  their mirror negates x and swaps left/right joints (``skeletons.flip_poses``).
  ``gt_3d_mm`` is pixel-aligned: its x mirrors to ``res_w * factor_2_5d - x``,
  which keeps ``denormalize(label_3d) * factor_2_5d == gt_3d_mm``. Other features
  are unchanged. Flipping twice gives the example back.

  Args:
    example: features with shapes (..., T, J, 3), (..., T), (..., 2).
    skeleton: layout of the joints.

  Returns:
    A new dict; ``example`` is not modified.
  """
  out = dict(example)
  for name in ("input_2d", "label_3d"):
    if name in example:
      out[name] = skeletons.flip_poses(np.asarray(example[name]), skeleton)
  if "gt_3d_mm" in example:
    gt = skeletons.flip_poses(np.asarray(example["gt_3d_mm"]), skeleton)
    width = np.asarray(example["camera_resolution"])[..., 0:1]
    shift = (width * np.asarray(example["factor_2_5d"])).astype(gt.dtype)
    gt[..., 0] += shift[..., None]
    out["gt_3d_mm"] = gt
  return out


class _Decode(grain.transforms.Map):
  """Keeps the wanted features and turns text (bytes) into str."""

  def __init__(self, keys: Sequence[str] | None):
    self._keys = None if keys is None else tuple(keys)

  def map(self, element: Mapping[str, Any]) -> dict[str, Any]:
    keys = element.keys() if self._keys is None else self._keys
    return {k: element[k].decode("utf-8") if isinstance(element[k], bytes)
            else element[k] for k in keys}


class _Select(grain.transforms.Map):

  def __init__(self, keys: Sequence[str]):
    self._keys = tuple(keys)

  def map(self, element: Mapping[str, Any]) -> dict[str, Any]:
    return {k: element[k] for k in self._keys}


class _RandomFlip(grain.transforms.RandomMap):
  """``flip_example`` with probability ``probability``."""

  def __init__(self, skeleton: skeletons.Skeleton, probability: float):
    self._skeleton = skeleton
    self._probability = probability

  def random_map(self, element: dict[str, Any],
                 rng: np.random.Generator) -> dict[str, Any]:
    if rng.random() < self._probability:
      return flip_example(element, self._skeleton)
    return element


class _EvalSlot(grain.transforms.Map):
  """Slot i of this process's padded eval order -> example plus ``mask``."""

  def __init__(self, data_source: Any, indices: np.ndarray,
               keys: Sequence[str] | None):
    self._source = data_source
    self._indices = indices
    self._decode = _Decode(keys)

  def map(self, slot: int) -> dict[str, Any]:
    real = slot < len(self._indices)
    # Padding repeats a real example (finite values) and is masked out.
    index = self._indices[slot] if real else (self._indices[0] if len(self._indices)
                                              else 0)
    element = self._decode.map(self._source[int(index)])
    element["mask"] = np.bool_(real)
    return element


def _resolve_shard(shard_index: int | None, shard_count: int | None
                   ) -> tuple[int, int]:
  index = jax.process_index() if shard_index is None else shard_index
  count = jax.process_count() if shard_count is None else shard_count
  if count < 1 or not 0 <= index < count:
    raise ValueError(f"shard_index must be in [0, shard_count), got shard_index="
                     f"{index}, shard_count={count}")
  return index, count


def _read_options(num_threads: int, prefetch: int) -> grain.ReadOptions:
  return grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)


def make_train_iterator(
    data_source: Sequence[Mapping[str, Any]],
    *,
    batch_size: int,
    seed: int,
    skeleton: skeletons.Skeleton | None = None,
    flip: bool = True,
    flip_probability: float = 0.5,
    shard_index: int | None = None,
    shard_count: int | None = None,
    num_epochs: int | None = None,
    keys: Iterable[str] | None = None,
    num_threads: int = 2,
    prefetch_buffer_size: int = 8,
) -> grain.DatasetIterator:
  """Training batches: shard, shuffle, flip, batch.

  Each process reads the clips ``shard_index::shard_count`` (disjoint shards),
  shuffles them with ``seed`` (differently in each epoch), mirrors each clip with
  ``flip_probability`` (``flip_example``; the decision is seeded per position) and
  stacks ``batch_size`` clips, dropping an incomplete last batch.

  Args:
    data_source: e.g. ``registry.load(name, "train")``.
    batch_size: clips per batch on this process.
    seed: seed of shuffling and flips.
    skeleton: joint layout for the flip; default: the dataset's metadata.
    flip: whether to apply the random flip.
    flip_probability: probability of mirroring a clip.
    shard_index: this process's shard; default ``jax.process_index()``.
    shard_count: number of shards; default ``jax.process_count()``.
    num_epochs: passes over the shard; None repeats forever.
    keys: features to keep (default: all).
    num_threads: reader threads.
    prefetch_buffer_size: elements read ahead.

  Returns:
    An iterator of dict batches with ``get_state`` / ``set_state``.
  """
  shard_index, shard_count = _resolve_shard(shard_index, shard_count)
  if batch_size < 1:
    raise ValueError(f"batch_size must be positive, got {batch_size}")
  dataset = grain.MapDataset.source(data_source)[shard_index::shard_count]
  if len(dataset) < batch_size:
    raise ValueError(f"shard {shard_index} of {shard_count} holds {len(dataset)} "
                     f"clips, fewer than batch_size={batch_size}: no full batch")
  keys = None if keys is None else tuple(keys)
  shuffle_seed, flip_seed = (int(s) for s in
                             np.random.SeedSequence(seed).generate_state(2))
  dataset = dataset.shuffle(seed=shuffle_seed).repeat(num_epochs)
  if flip:
    skeleton = skeleton or skeleton_of(data_source)
    read = None if keys is None else tuple(dict.fromkeys(keys + _FLIP_NEEDS))
    dataset = dataset.map(_Decode(read)).random_map(
        _RandomFlip(skeleton, flip_probability), seed=flip_seed)
    if keys is not None:
      dataset = dataset.map(_Select(keys))
  else:
    dataset = dataset.map(_Decode(keys))
  dataset = dataset.batch(batch_size, drop_remainder=True)
  return iter(dataset.to_iter_dataset(_read_options(num_threads,
                                                    prefetch_buffer_size)))


def num_eval_batches(num_examples: int, batch_size: int, shard_count: int = 1) -> int:
  """Batches every process's eval iterator yields (the same on every process)."""
  per_process = -(-num_examples // shard_count)
  return -(-per_process // batch_size)


def make_eval_iterator(
    data_source: Sequence[Mapping[str, Any]],
    *,
    batch_size: int,
    shard_index: int | None = None,
    shard_count: int | None = None,
    keys: Iterable[str] | None = None,
    num_threads: int = 2,
    prefetch_buffer_size: int = 8,
) -> grain.DatasetIterator:
  """Evaluation batches: every clip exactly once, in order, nothing dropped.

  Process ``shard_index`` reads clips ``shard_index::shard_count``; its last
  batch is padded with copies of a real clip. Every batch carries ``mask`` (B,)
  bool, False on padding. All processes yield ``num_eval_batches(...)`` batches,
  so collective steps stay in lockstep across hosts.

  Args:
    data_source: e.g. ``registry.load(name, "test")``.
    batch_size: clips per batch on this process.
    shard_index: default ``jax.process_index()``.
    shard_count: default ``jax.process_count()``.
    keys: features to keep (default: all); ``mask`` is always added.
    num_threads: reader threads.
    prefetch_buffer_size: elements read ahead.

  Returns:
    A finite iterator of dict batches with ``get_state`` / ``set_state``.
  """
  shard_index, shard_count = _resolve_shard(shard_index, shard_count)
  if batch_size < 1:
    raise ValueError(f"batch_size must be positive, got {batch_size}")
  num_examples = len(data_source)
  if num_examples == 0:
    raise ValueError("the data source is empty: nothing to evaluate")
  indices = np.arange(shard_index, num_examples, shard_count)
  slots = num_eval_batches(num_examples, batch_size, shard_count) * batch_size
  dataset = grain.MapDataset.range(slots).map(
      _EvalSlot(data_source, indices, None if keys is None else tuple(keys)))
  dataset = dataset.batch(batch_size)
  return iter(dataset.to_iter_dataset(_read_options(num_threads,
                                                    prefetch_buffer_size)))
