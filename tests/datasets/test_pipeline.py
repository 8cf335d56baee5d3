"""grain pipelines: shuffling, transforms, sharding, checkpointable state, padded eval,
worker processes."""

from __future__ import annotations

import collections
import itertools

import grain
import numpy as np
import pytest

from sasmamba_jax import datasets
from sasmamba_jax import skeletons


@pytest.fixture(scope="module")
def train(synthetic_tiny):
  return datasets.load(synthetic_tiny, "train")


@pytest.fixture(scope="module")
def test(synthetic_tiny):
  return datasets.load(synthetic_tiny, "test")


def _ids(batch):
  """(source, first frame) of each clip in a batch: unique per clip."""
  return list(zip(batch["source"].tolist(), batch["frame_index"][:, 0].tolist()))


def _take(iterator, n):
  return list(itertools.islice(iterator, n))


def _assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])


def test_batches_are_numpy_with_expected_shapes(train):
  batch = next(datasets.make_train_iterator(train, batch_size=4, seed=0))
  assert batch["input_2d"].shape == (4, 27, 17, 3)
  assert batch["input_2d"].dtype == np.float32
  assert batch["frame_index"].shape == (4, 27)
  assert batch["frame_index"].dtype == np.int64
  assert batch["camera_resolution"].shape == (4, 2)
  assert batch["source"].dtype.kind == "U" and batch["source"].shape == (4,)
  selected = next(datasets.make_train_iterator(train, batch_size=4, seed=0,
                                               keys=("input_2d", "label_3d")))
  assert set(selected) == {"input_2d", "label_3d"}


def test_seeded_shuffle_is_deterministic_and_covers_an_epoch(train):
  def epoch(seed):
    return _take(datasets.make_train_iterator(train, batch_size=8, seed=seed,
                                              num_epochs=1), 1000)
  first, again, other = epoch(0), epoch(0), epoch(1)
  _assert_batches_equal(first, again)
  order = [i for b in first for i in _ids(b)]
  assert len(first) == len(train) // 8
  stored = [(train[i]["source"].decode(), int(train[i]["frame_index"][0]))
            for i in range(len(train))]
  assert sorted(order) == sorted(stored) and order != stored
  assert order != [i for b in other for i in _ids(b)]
  # Each epoch is shuffled differently.
  two = _take(datasets.make_train_iterator(train, batch_size=8, seed=0,
                                           num_epochs=2), 1000)
  second = [i for b in two[len(first):] for i in _ids(b)]
  assert sorted(second) == sorted(stored) and second != order


def test_flip_matches_flip_example_and_happens_half_the_time(train):
  plain = _take(datasets.make_train_iterator(train, batch_size=8, seed=3), 20)
  always = _take(datasets.make_train_iterator(
      train, batch_size=8, seed=3,
      transforms=[datasets.RandomFlip(skeletons.H36M, probability=1.0)]), 20)
  for p, a in zip(plain, always):
    assert _ids(p) == _ids(a)
    expected = datasets.flip_example(p, skeletons.H36M)
    for key in p:
      np.testing.assert_array_equal(a[key], expected[key])
  flip = datasets.RandomFlip(datasets.skeleton_of(train))
  half = _take(datasets.make_train_iterator(train, batch_size=8, seed=3,
                                            transforms=[flip]), 20)
  flipped = np.concatenate([
      np.any(h["input_2d"] != p["input_2d"], axis=(1, 2, 3))
      for h, p in zip(half, plain)])
  assert 0.35 < flipped.mean() < 0.65


def test_process_shards_are_disjoint_and_complete(train):
  shards = []
  for index in range(3):
    batches = _take(datasets.make_train_iterator(
        train, batch_size=8, seed=0, num_epochs=1, shard_index=index,
        shard_count=3), 1000)
    shards.append({i for b in batches for i in _ids(b)})
  assert not (shards[0] & shards[1] or shards[0] & shards[2] or shards[1] & shards[2])
  assert sum(map(len, shards)) == len(train)
  # Defaults are this process's index and count (0 of 1 here).
  _assert_batches_equal(
      _take(datasets.make_train_iterator(train, batch_size=8, seed=0), 3),
      _take(datasets.make_train_iterator(train, batch_size=8, seed=0, shard_index=0,
                                         shard_count=1), 3))


def test_iterator_state_restores_exactly(train):
  flip = [datasets.RandomFlip(skeletons.H36M)]
  iterator = datasets.make_train_iterator(train, batch_size=8, seed=7, transforms=flip)
  _take(iterator, 5)
  state = iterator.get_state()
  expected = _take(iterator, 4)
  restored = datasets.make_train_iterator(train, batch_size=8, seed=7, transforms=flip)
  restored.set_state(state)
  _assert_batches_equal(_take(restored, 4), expected)


@pytest.mark.parametrize("batch_size, shard_count", [(10, 1), (10, 3), (16, 5), (7, 2)])
def test_eval_iterator_loses_no_clip(test, batch_size, shard_count):
  seen = collections.Counter()
  counts = []
  for index in range(shard_count):
    batches = list(datasets.make_eval_iterator(test, batch_size=batch_size,
                                               shard_index=index,
                                               shard_count=shard_count))
    counts.append(len(batches))
    for batch in batches:
      assert batch["mask"].dtype == np.bool_ and batch["mask"].shape == (batch_size,)
      assert batch["input_2d"].shape[0] == batch_size
      seen.update(itertools.compress(_ids(batch), batch["mask"]))
    masks = np.concatenate([b["mask"] for b in batches])
    # Real clips first, padding only at the end of this process's stream.
    assert not np.any(np.diff(masks.astype(int)) > 0)
  expected = datasets.num_eval_batches(len(test), batch_size, shard_count)
  assert counts == [expected] * shard_count
  assert len(seen) == len(test) and set(seen.values()) == {1}


def test_eval_order_and_keys(test):
  batches = list(datasets.make_eval_iterator(test, batch_size=10, keys=("input_2d",
                                                                        "frame_index")))
  assert set(batches[0]) == {"input_2d", "frame_index", "mask"}
  first = np.concatenate([b["frame_index"][b["mask"], 0] for b in batches])
  np.testing.assert_array_equal(
      first, [int(test[i]["frame_index"][0]) for i in range(len(test))])
  assert batches[-1]["mask"].sum() == len(test) % 10


def test_bad_arguments(train):
  with pytest.raises(ValueError, match="fewer than batch_size"):
    datasets.make_train_iterator(train, batch_size=1000, seed=0)
  with pytest.raises(ValueError, match=r"shard_index must be in \[0, shard_count\)"):
    datasets.make_train_iterator(train, batch_size=8, seed=0, shard_index=2,
                                 shard_count=2)
  with pytest.raises(ValueError, match="batch_size must be positive"):
    datasets.make_eval_iterator(train, batch_size=0)
  with pytest.raises(ValueError, match="records no skeleton"):
    datasets.skeleton_of([train[0]] * 4)
  with pytest.raises(TypeError, match="must be grain.transforms.Map or RandomMap"):
    next(datasets.make_train_iterator(train, batch_size=8, seed=0,
                                      transforms=[lambda x: x]))
  with pytest.raises(TypeError, match="eval transforms must be deterministic"):
    datasets.make_eval_iterator(train, batch_size=8,
                                transforms=[datasets.RandomFlip(skeletons.H36M)])
  with pytest.raises(KeyError, match="do not have"):
    next(datasets.make_train_iterator(train, batch_size=8, seed=0, keys=("image",)))
  with pytest.raises(ValueError, match="probability must be in"):
    datasets.RandomFlip(skeletons.H36M, probability=2.0)
  with pytest.raises(ValueError, match="empty"):
    datasets.make_eval_iterator([], batch_size=2)


class _Scale(grain.transforms.Map):
  """A deterministic transform: input_2d x 2."""

  def map(self, element):
    return dict(element, input_2d=element["input_2d"] * 2)


def test_transforms_apply_in_order_to_train_and_eval(train, test):
  plain = next(datasets.make_train_iterator(train, batch_size=4, seed=0))
  scaled = next(datasets.make_train_iterator(train, batch_size=4, seed=0,
                                             transforms=[_Scale(), _Scale()]))
  np.testing.assert_array_equal(scaled["input_2d"], 4 * plain["input_2d"])
  plain = next(datasets.make_eval_iterator(test, batch_size=4))
  scaled = next(datasets.make_eval_iterator(test, batch_size=4, transforms=[_Scale()]))
  np.testing.assert_array_equal(scaled["input_2d"], 2 * plain["input_2d"])


def test_worker_processes_give_the_same_batches_and_state(train):
  flip = [datasets.RandomFlip(skeletons.H36M)]
  inline = _take(datasets.make_train_iterator(train, batch_size=8, seed=5,
                                              transforms=flip), 6)
  workers = datasets.make_train_iterator(train, batch_size=8, seed=5, transforms=flip,
                                         num_workers=2)
  _assert_batches_equal(_take(workers, 3), inline[:3])
  state = workers.get_state()
  resumed = datasets.make_train_iterator(train, batch_size=8, seed=5, transforms=flip,
                                         num_workers=2)
  resumed.set_state(state)
  _assert_batches_equal(_take(resumed, 3), inline[3:])
  with pytest.raises(ValueError, match="num_workers must be >= 0"):
    datasets.make_train_iterator(train, batch_size=8, seed=5, num_workers=-1)
