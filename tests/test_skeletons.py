"""Joint layouts, flips and converters."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax import skeletons

LAYOUTS = (skeletons.H36M, skeletons.MPI_INF_3DHP, skeletons.COCO,
           skeletons.POSETRACK, skeletons.SUB_JHMDB)


@pytest.mark.parametrize("skeleton", LAYOUTS, ids=lambda s: s.name)
def test_layout_is_a_tree_with_mirrored_sides(skeleton):
  j = skeleton.num_joints
  assert len(set(skeleton.joint_names)) == j
  assert skeletons.get(skeleton.name) is skeleton
  assert skeleton.parents[skeleton.root] == -1
  assert [p for p in skeleton.parents].count(-1) == 1
  for joint in range(j):  # Every joint reaches the root without a cycle.
    seen, node = set(), joint
    while node != -1:
      assert node not in seen
      seen.add(node)
      node = skeleton.parents[node]
  for left, right in zip(skeleton.left, skeleton.right):
    assert skeleton.joint_names[left].startswith("left_")
    assert skeleton.joint_names[right] == "right_" + skeleton.joint_names[left][5:]
  sided = [n for n in skeleton.joint_names if n.startswith(("left_", "right_"))]
  assert len(sided) == len(skeleton.left) + len(skeleton.right)
  perm = skeleton.flip_permutation
  np.testing.assert_array_equal(perm[perm], np.arange(j))
  assert dict(skeleton.flip_pairs) == dict(zip(skeleton.left, skeleton.right))
  # The half-body augmentation's upper body mirrors onto itself.
  assert set(perm[list(skeleton.upper_body)]) == set(skeleton.upper_body)


def test_2d_layouts_of_the_datasets():
  """COCO, PoseTrack and Sub-JHMDB: the joint orders the files store."""
  coco, posetrack = skeletons.COCO, skeletons.POSETRACK
  assert posetrack.joint_names[1:3] == ("head_bottom", "head_top")
  assert posetrack.joint_names[3:] == coco.joint_names[3:]
  assert posetrack.flip_pairs == ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14),
                                  (15, 16))
  # COCO's eyes are a left / right pair; PoseTrack's head points are not.
  assert tuple(coco.flip_permutation[:3]) == (0, 2, 1)
  assert tuple(posetrack.flip_permutation[:3]) == (0, 1, 2)
  assert coco.upper_body == posetrack.upper_body == tuple(range(11))
  jhmdb = skeletons.SUB_JHMDB
  assert jhmdb.num_joints == 15 and jhmdb.joint_names[:3] == ("neck", "belly", "head")
  assert sorted(jhmdb.flip_pairs) == [(4, 3), (6, 5), (8, 7), (10, 9), (12, 11),
                                      (14, 13)]
  assert jhmdb.upper_body == (0, 1, 2, 3, 4, 7, 8, 11, 12)


def test_coco_to_posetrack_estimates_the_head_points_only():
  coco = np.zeros((2, 17, 3))
  coco[..., 2] = 0.9
  coco[:, 0, :2] = (50, 40)                                # nose
  coco[:, 1, :2], coco[:, 2, :2] = (48, 35), (52, 35)      # eyes: midpoint (50, 35)
  coco[:, 5, :2], coco[:, 6, :2] = (40, 60), (60, 60)      # shoulders: (50, 60)
  coco[:, 7:, :2] = np.arange(20).reshape(10, 2)
  out = skeletons.coco_to_posetrack(coco)
  assert isinstance(out, np.ndarray)
  np.testing.assert_allclose(out[:, 1, :2], [[50, 48]] * 2)   # 40 % nose -> neck
  np.testing.assert_allclose(out[:, 2, :2], [[50, 22]] * 2)   # 2 x eyes - bottom
  np.testing.assert_allclose(out[:, 1:3, 2], 0.9, rtol=1e-6)
  keep = [0, *range(3, 17)]
  np.testing.assert_allclose(out[:, keep], coco[:, keep], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(skeletons.coco_to_posetrack(
      jnp.asarray(coco, jnp.float32))), out, rtol=1e-6)


def test_h36m_matches_the_reference_order():
  assert skeletons.H36M.left == (4, 5, 6, 11, 12, 13)
  assert skeletons.H36M.right == (1, 2, 3, 14, 15, 16)
  assert skeletons.MPI_INF_3DHP.left == (5, 6, 7, 11, 12, 13)
  assert skeletons.MPI_INF_3DHP.right == (2, 3, 4, 8, 9, 10)
  assert skeletons.MPI_INF_3DHP.root == 14
  assert skeletons.H36M.index("thorax") == 8


@pytest.mark.parametrize("skeleton", LAYOUTS, ids=lambda s: s.name)
def test_flip_twice_is_identity_and_swaps_sides(skeleton):
  j = skeleton.num_joints
  poses = np.random.default_rng(0).normal(size=(2, 5, j, 3)).astype(np.float32)
  flipped = skeletons.flip_poses(poses, skeleton)
  np.testing.assert_array_equal(skeletons.flip_poses(flipped, skeleton), poses)
  left, right = list(skeleton.left), list(skeleton.right)
  np.testing.assert_array_equal(flipped[..., left, 0], -poses[..., right, 0])
  np.testing.assert_array_equal(flipped[..., right, 1:], poses[..., left, 1:])
  centre = [i for i in range(j) if i not in left + right]
  np.testing.assert_array_equal(flipped[..., centre, 0], -poses[..., centre, 0])
  np.testing.assert_array_equal(flipped[..., centre, 1:], poses[..., centre, 1:])
  assert flipped.dtype == np.float32
  # The same on JAX arrays.
  jflipped = skeletons.flip_poses(jnp.asarray(poses), skeleton)
  np.testing.assert_array_equal(np.asarray(jflipped), flipped)


def test_flip_of_a_mirror_symmetric_pose_is_itself():
  rng = np.random.default_rng(1)
  pose = np.zeros((17, 3))
  for left, right in zip(skeletons.H36M.left, skeletons.H36M.right):
    pose[left] = rng.normal(size=3)
    pose[right] = pose[left] * [-1, 1, 1]
  np.testing.assert_allclose(skeletons.flip_poses(pose), pose)


def test_errors_name_the_problem():
  with pytest.raises(ValueError, match=r"expected an array of shape \(\.\.\., 17, C\) "
                                       r"in the h36m layout, got shape \(4, 16, 3\)"):
    skeletons.flip_poses(np.zeros((4, 16, 3)))
  with pytest.raises(KeyError, match="unknown skeleton 'smpl'"):
    skeletons.get("smpl")
  with pytest.raises(KeyError, match="h36m has no joint 'tail'"):
    skeletons.H36M.index("tail")
  with pytest.raises(ValueError, match="2 parents for 3 joints"):
    skeletons.Skeleton("x", ("a", "b", "c"), (-1, 0), (), (), 0)
  with pytest.raises(ValueError, match="flip pairs must be distinct"):
    skeletons.Skeleton("x", ("a", "b", "c"), (-1, 0, 0), (1,), (1,), 0)
  with pytest.raises(ValueError, match="left and right flip lists differ"):
    skeletons.Skeleton("x", ("a", "b", "c"), (-1, 0, 0), (1, 2), (0,), 0)


def test_mpi_to_h36m_maps_joints_by_meaning():
  pairs = {"pelvis": "pelvis", "right_hip": "right_hip", "left_knee": "left_knee",
           "spine": "spine", "thorax": "neck", "nose": "head", "head": "head_top",
           "left_wrist": "left_wrist", "right_shoulder": "right_shoulder"}
  mpi = np.arange(17)[:, None].astype(float)  # Joint index as the value.
  h36m = skeletons.mpi_inf_3dhp_to_h36m(mpi)
  for h36m_name, mpi_name in pairs.items():
    assert h36m[skeletons.H36M.index(h36m_name), 0] == skeletons.MPI_INF_3DHP.index(
        mpi_name)
  # Every H36M side joint comes from the same side in 3DHP.
  for j in skeletons.H36M.left:
    assert int(h36m[j, 0]) in skeletons.MPI_INF_3DHP.left
  poses = np.random.default_rng(2).normal(size=(3, 17, 3))
  np.testing.assert_array_equal(
      skeletons.h36m_to_mpi_inf_3dhp(skeletons.mpi_inf_3dhp_to_h36m(poses)), poses)
  # Converting then flipping equals flipping then converting.
  np.testing.assert_array_equal(
      skeletons.flip_poses(skeletons.mpi_inf_3dhp_to_h36m(poses), skeletons.H36M),
      skeletons.mpi_inf_3dhp_to_h36m(skeletons.flip_poses(poses,
                                                          skeletons.MPI_INF_3DHP)))


def test_coco_to_h36m():
  rng = np.random.default_rng(3)
  coco = np.concatenate([rng.uniform(0, 500, (4, 17, 2)),
                         rng.uniform(0.1, 1, (4, 17, 1))], -1)
  h36m = skeletons.coco_to_h36m(coco)
  assert h36m.shape == (4, 17, 3) and h36m.dtype == np.float32
  c = skeletons.COCO.index
  h = skeletons.H36M.index
  xy = coco[..., :2]
  np.testing.assert_allclose(
      h36m[:, h("pelvis"), :2], (xy[:, c("left_hip")] + xy[:, c("right_hip")]) / 2,
      rtol=1e-5)
  np.testing.assert_allclose(
      h36m[:, h("thorax"), :2],
      (xy[:, c("left_shoulder")] + xy[:, c("right_shoulder")]) / 2, rtol=1e-5)
  np.testing.assert_allclose(
      h36m[:, h("spine"), :2],
      (h36m[:, h("pelvis"), :2] + h36m[:, h("thorax"), :2]) / 2, rtol=1e-5)
  eyes = (xy[:, c("left_eye")] + xy[:, c("right_eye")]) / 2
  np.testing.assert_allclose(h36m[:, h("head"), :2], eyes, rtol=1e-5)
  for name in ("nose", "left_wrist", "right_ankle", "left_knee", "right_shoulder"):
    np.testing.assert_allclose(h36m[:, h(name)], coco[:, c(name)], rtol=1e-6)
  # A built joint's confidence is its sources' mean (MotionBERT's coco2h36m).
  np.testing.assert_allclose(
      h36m[:, h("pelvis"), 2],
      (coco[:, c("left_hip"), 2] + coco[:, c("right_hip"), 2]) / 2, rtol=1e-6)
  # Flipping commutes with the conversion.
  np.testing.assert_allclose(
      skeletons.coco_to_h36m(skeletons.flip_poses(coco, skeletons.COCO)),
      skeletons.flip_poses(h36m, skeletons.H36M), rtol=1e-5, atol=1e-3)
  assert skeletons.coco_to_h36m(coco[..., :2]).shape == (4, 17, 2)
  with pytest.raises(ValueError, match=r"\(\.\.\., 17, 2\) or \(\.\.\., 17, 3\)"):
    skeletons.coco_to_h36m(np.zeros((17, 4)))
  with pytest.raises(ValueError, match="coco layout"):
    skeletons.coco_to_h36m(np.zeros((18, 2)))


def test_to_h36m_from_every_detector_layout():
  rng = np.random.default_rng(4)
  coco = rng.uniform(0, 500, (3, 17, 3)).astype(np.float32)
  expected = skeletons.to_h36m(coco, "coco")
  # OpenPose layouts hold the same joints in other slots (and extra ones).
  body25 = rng.uniform(0, 500, (3, 25, 3)).astype(np.float32)
  coco18 = rng.uniform(0, 500, (3, 18, 3)).astype(np.float32)
  c = skeletons.COCO.index
  body25_slot = {"nose": 0, "left_eye": 16, "right_eye": 15, "left_ear": 18,
                 "right_ear": 17, "left_shoulder": 5, "right_shoulder": 2,
                 "left_elbow": 6, "right_elbow": 3, "left_wrist": 7, "right_wrist": 4,
                 "left_hip": 12, "right_hip": 9, "left_knee": 13, "right_knee": 10,
                 "left_ankle": 14, "right_ankle": 11}
  coco18_slot = {"nose": 0, "left_eye": 15, "right_eye": 14, "left_ear": 17,
                 "right_ear": 16, "left_shoulder": 5, "right_shoulder": 2,
                 "left_elbow": 6, "right_elbow": 3, "left_wrist": 7, "right_wrist": 4,
                 "left_hip": 11, "right_hip": 8, "left_knee": 12, "right_knee": 9,
                 "left_ankle": 13, "right_ankle": 10}
  for name in skeletons.COCO.joint_names:
    body25[:, body25_slot[name]] = coco[:, c(name)]
    coco18[:, coco18_slot[name]] = coco[:, c(name)]
  np.testing.assert_array_equal(skeletons.to_h36m(body25, "body25"), expected)
  np.testing.assert_array_equal(skeletons.to_h36m(coco18, "coco18"), expected)
  wholebody = np.concatenate([coco, rng.uniform(0, 9, (3, 116, 3))], 1)
  np.testing.assert_array_equal(skeletons.to_h36m(wholebody, "coco_wholebody"),
                                expected)
  # Halpe-26 has its own head top, neck and hip (MotionBERT's halpe2h36m).
  halpe = rng.uniform(0, 500, (3, 26, 3)).astype(np.float32)
  out = skeletons.to_h36m(halpe, "halpe26")
  h = skeletons.H36M.index
  np.testing.assert_array_equal(out[:, h("pelvis")], halpe[:, 19])
  np.testing.assert_array_equal(out[:, h("thorax")], halpe[:, 18])
  np.testing.assert_array_equal(out[:, h("head")], halpe[:, 17])
  np.testing.assert_allclose(out[:, h("spine")], (halpe[:, 18] + halpe[:, 19]) / 2)
  np.testing.assert_array_equal(out[:, h("left_wrist")], halpe[:, 9])
  halpe136 = np.concatenate([halpe, rng.uniform(0, 9, (3, 110, 3))], 1)
  np.testing.assert_array_equal(skeletons.to_h36m(halpe136, "halpe136"), out)
  # A missing (NaN) source joint makes every joint built from it missing.
  coco[0, c("left_hip")] = np.nan
  missing = np.isnan(skeletons.to_h36m(coco, "coco")[0, :, 0])
  assert {skeletons.H36M.joint_names[j] for j in np.flatnonzero(missing)} == {
      "pelvis", "left_hip", "spine"}
  with pytest.raises(ValueError, match="unknown source layout 'body18'"):
    skeletons.to_h36m(coco, "body18")
  with pytest.raises(ValueError, match=r"\(\.\.\., 26, 2\) or \(\.\.\., 26, 3\)"):
    skeletons.to_h36m(coco, "halpe26")


def test_h36m_to_coco_round_trips_the_detected_joints():
  rng = np.random.default_rng(0)
  h36m = rng.normal(size=(3, 17, 3)).astype(np.float32)
  coco = skeletons.h36m_to_coco(h36m)
  names = skeletons.COCO.joint_names
  assert coco[:, names.index("left_wrist")].tolist() == h36m[:, 13].tolist()
  assert coco[:, names.index("right_ankle")].tolist() == h36m[:, 3].tolist()
  back = skeletons.coco_to_h36m(coco)
  built = [0, 7, 8]  # pelvis, spine, thorax: mid-points in COCO
  kept = [j for j in range(17) if j not in built]
  np.testing.assert_array_equal(back[:, kept], h36m[:, kept])  # head included
  np.testing.assert_allclose(back[:, 0], (h36m[:, 1] + h36m[:, 4]) / 2, rtol=1e-6)
  with pytest.raises(ValueError, match="h36m_to_coco: expected"):
    skeletons.h36m_to_coco(np.zeros((3, 16, 2)))
