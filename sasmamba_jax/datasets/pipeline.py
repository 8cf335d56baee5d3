"""grain input pipelines, generic over tasks: from a built dataset to numpy batches.

``make_train_iterator``: per-process shard, seeded shuffle (reshuffled every epoch),
the task's transforms (e.g. ``pose_transforms.RandomFlip``, image crops), fixed-size
batches. ``make_eval_iterator``: every example once, in order, the task's eval
transforms, the last batch padded and flagged by a ``mask`` (B,) key. Both return
grain ``DatasetIterator``s: deterministic given their arguments, with
``get_state()`` / ``set_state()`` for checkpointing (a small dict). ``num_workers``
> 0 moves reading, decoding and the transforms into that many worker processes
(same batches, same order): what image datasets need to keep an accelerator fed.

Batches are dicts of numpy arrays with a leading batch axis B; text features come
as numpy unicode arrays (B,).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from absl import flags
import grain
import jax
import numpy as np

Transform = grain.transforms.Map | grain.transforms.RandomMap


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
    missing = [k for k in self._keys if k not in element]
    if missing:
      raise KeyError(f"the pipeline was asked for feature(s) {missing} that the "
                     f"examples do not have; present: {sorted(element)}")
    return {k: element[k] for k in self._keys}


class _EvalSlot(grain.transforms.Map):
  """Slot i of this process's padded eval order -> example plus ``mask``."""

  def __init__(self, data_source: Any, indices: np.ndarray):
    self._source = data_source
    self._indices = indices
    self._decode = _Decode(None)

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


def _apply(dataset: grain.MapDataset, transforms: Sequence[Transform],
           seeds: Sequence[int]) -> grain.MapDataset:
  for transform, seed in zip(transforms, seeds):
    if isinstance(transform, grain.transforms.RandomMap):
      dataset = dataset.random_map(transform, seed=seed)
    elif isinstance(transform, grain.transforms.Map):
      dataset = dataset.map(transform)
    else:
      raise TypeError(f"pipeline transforms must be grain.transforms.Map or "
                      f"RandomMap, got {type(transform).__name__}")
  return dataset


def _finish(dataset: grain.MapDataset, num_threads: int, prefetch: int,
            num_workers: int) -> grain.DatasetIterator:
  if num_workers < 0:
    raise ValueError(f"num_workers must be >= 0, got {num_workers}")
  iter_dataset = dataset.to_iter_dataset(
      grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch))
  if num_workers:
    # grain's workers read absl flags; outside an absl app (tests, notebooks) they
    # have not been parsed, and the defaults are what we want.
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    iter_dataset = iter_dataset.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=num_workers))
  return iter(iter_dataset)


def make_train_iterator(
    data_source: Sequence[Mapping[str, Any]],
    *,
    batch_size: int,
    seed: int,
    transforms: Sequence[Transform] = (),
    keys: Iterable[str] | None = None,
    shard_index: int | None = None,
    shard_count: int | None = None,
    num_epochs: int | None = None,
    num_threads: int = 2,
    prefetch_buffer_size: int = 8,
    num_workers: int = 0,
) -> grain.DatasetIterator:
  """Training batches: shard, shuffle, transform, batch.

  Each process reads the examples ``shard_index::shard_count`` (disjoint shards),
  shuffles them with ``seed`` (differently in each epoch), applies ``transforms``
  in order (a ``RandomMap`` draws from a stream seeded by ``seed`` and its
  position, so a resumed iterator repeats the same draws) and stacks
  ``batch_size`` examples. Batches run on across epoch boundaries (each pass a new
  permutation), so nothing is dropped unless ``num_epochs`` ends the stream with an
  incomplete batch.

  Args:
    data_source: e.g. ``registry.load(name, "train")``.
    batch_size: examples per batch on this process.
    seed: seed of shuffling and of the random transforms.
    transforms: grain ``Map`` / ``RandomMap`` transforms of one decoded example.
    keys: features to keep after the transforms (default: all).
    shard_index: this process's shard; default ``jax.process_index()``.
    shard_count: number of shards; default ``jax.process_count()``.
    num_epochs: passes over the shard; None repeats forever.
    num_threads: reader threads.
    prefetch_buffer_size: elements read ahead.
    num_workers: worker processes for reading and transforms (0: in-process).

  Returns:
    An iterator of dict batches with ``get_state`` / ``set_state``.
  """
  shard_index, shard_count = _resolve_shard(shard_index, shard_count)
  if batch_size < 1:
    raise ValueError(f"batch_size must be positive, got {batch_size}")
  dataset = grain.MapDataset.source(data_source)[shard_index::shard_count]
  if len(dataset) < batch_size:
    raise ValueError(f"shard {shard_index} of {shard_count} holds {len(dataset)} "
                     f"examples, fewer than batch_size={batch_size}: no full batch")
  # The first seed shuffles, the next ones feed the random transforms in order.
  shuffle_seed, *transform_seeds = (int(s) for s in np.random.SeedSequence(
      seed).generate_state(1 + max(1, len(transforms))))
  dataset = dataset.shuffle(seed=shuffle_seed).repeat(num_epochs)
  dataset = _apply(dataset.map(_Decode(None)), transforms, transform_seeds)
  if keys is not None:
    dataset = dataset.map(_Select(tuple(keys)))
  dataset = dataset.batch(batch_size, drop_remainder=True)
  return _finish(dataset, num_threads, prefetch_buffer_size, num_workers)


def num_eval_batches(num_examples: int, batch_size: int, shard_count: int = 1) -> int:
  """Batches every process's eval iterator yields (the same on every process)."""
  per_process = -(-num_examples // shard_count)
  return -(-per_process // batch_size)


def make_eval_iterator(
    data_source: Sequence[Mapping[str, Any]],
    *,
    batch_size: int,
    transforms: Sequence[grain.transforms.Map] = (),
    keys: Iterable[str] | None = None,
    shard_index: int | None = None,
    shard_count: int | None = None,
    num_threads: int = 2,
    prefetch_buffer_size: int = 8,
    num_workers: int = 0,
) -> grain.DatasetIterator:
  """Evaluation batches: every example exactly once, in order, nothing dropped.

  Process ``shard_index`` reads examples ``shard_index::shard_count``; its last
  batch is padded with copies of a real example. Every batch carries ``mask`` (B,)
  bool, False on padding. All processes yield ``num_eval_batches(...)`` batches,
  so collective steps stay in lockstep across hosts.

  Args:
    data_source: e.g. ``registry.load(name, "test")``.
    batch_size: examples per batch on this process.
    transforms: deterministic grain ``Map`` transforms of one decoded example.
    keys: features to keep (default: all); ``mask`` is always added.
    shard_index: default ``jax.process_index()``.
    shard_count: default ``jax.process_count()``.
    num_threads: reader threads.
    prefetch_buffer_size: elements read ahead.
    num_workers: worker processes for reading and transforms (0: in-process).

  Returns:
    A finite iterator of dict batches with ``get_state`` / ``set_state``.
  """
  shard_index, shard_count = _resolve_shard(shard_index, shard_count)
  if batch_size < 1:
    raise ValueError(f"batch_size must be positive, got {batch_size}")
  num_examples = len(data_source)
  if num_examples == 0:
    raise ValueError("the data source is empty: nothing to evaluate")
  if any(isinstance(t, grain.transforms.RandomMap) for t in transforms):
    raise TypeError("eval transforms must be deterministic (grain Map), not RandomMap")
  indices = np.arange(shard_index, num_examples, shard_count)
  slots = num_eval_batches(num_examples, batch_size, shard_count) * batch_size
  dataset = grain.MapDataset.range(slots).map(_EvalSlot(data_source, indices))
  dataset = _apply(dataset, transforms, [0] * len(transforms))
  if keys is not None:
    dataset = dataset.map(_Select(tuple(dict.fromkeys(tuple(keys) + ("mask",)))))
  dataset = dataset.batch(batch_size)
  return _finish(dataset, num_threads, prefetch_buffer_size, num_workers)
