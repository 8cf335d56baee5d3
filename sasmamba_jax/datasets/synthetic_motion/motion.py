"""Procedural human motion, H36M-like cameras and detector-like 2D keypoints.

Pure NumPy, deterministic given the generator passed in. A sequence is made of:

* a body: H36M-17 bone lengths of an average adult (Human3.6M-like), scaled per
  subject (height) and per bone (proportions, left/right symmetric);
* joint-angle trajectories of one motion family (walking, running, sitting down,
  squatting, waving, reaching, turning, jumping, or a blend of a lower-body and an
  upper-body family), with random tempo, amplitude and phase plus smooth noise;
* root motion: a circular path for locomotion, feet planted otherwise, and the
  lowest ankle kept on the floor (jumps add a ballistic flight);
* forward kinematics to world millimetres (z up);
* four studio cameras placed like Human3.6M's, pinhole projection, and 2D
  "detections": correlated jitter scaled with the person's size, occasional outlier
  joints and left/right swaps, and confidences that mostly reflect the error.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from sasmamba_jax import skeletons

FAMILIES = ("walking", "running", "sitting_down", "squatting", "waving", "reaching",
            "turning", "jumping", "blend")
_LOWER_FOR_BLEND = ("walking", "turning", "squatting")
_UPPER_FOR_BLEND = ("waving", "reaching")

# Mean H36M-17 bone lengths in mm (close to Human3.6M subject averages).
_BONES = {"hip": 133.0, "thigh": 443.0, "shin": 454.0, "spine": 233.0,
          "thorax": 257.0, "neck": 121.0, "head": 115.0, "shoulder": 151.0,
          "upper_arm": 279.0, "forearm": 252.0}
_ANKLE_HEIGHT = 80.0  # mm between the ankle joint and the floor.

# Rest-pose bone directions in the body frame (x: subject's left, y: forward, z: up).
_REST = {
    1: ("hip", (-1.0, 0.0, -0.05)), 2: ("thigh", (0, 0, -1)), 3: ("shin", (0, 0, -1)),
    4: ("hip", (1.0, 0.0, -0.05)), 5: ("thigh", (0, 0, -1)), 6: ("shin", (0, 0, -1)),
    7: ("spine", (0, 0.03, 1)), 8: ("thorax", (0, 0, 1)), 9: ("neck", (0, 0.35, 0.94)),
    10: ("head", (0, -0.25, 0.97)), 11: ("shoulder", (1, 0, -0.05)),
    12: ("upper_arm", (0, 0, -1)), 13: ("forearm", (0, 0, -1)),
    14: ("shoulder", (-1, 0, -0.05)), 15: ("upper_arm", (0, 0, -1)),
    16: ("forearm", (0, 0, -1)),
}

# Human3.6M-like studio: camera centres (mm, from the published S1 extrinsics),
# intrinsics and resolutions of the four Human3.6M cameras.
_CAMERA_POSITIONS = ((1841.1, 4955.3, 1563.4), (1761.3, -5078.0, 1606.3),
                     (-1846.8, 5215.0, 1492.0), (-1794.8, -3722.7, 1574.9))
_CAMERA_INTRINSICS = (((1145.05, 1143.78), (512.54, 515.45), (1000, 1002)),
                      ((1149.68, 1147.59), (508.85, 508.06), (1000, 1000)),
                      ((1149.14, 1148.80), (519.82, 501.40), (1000, 1000)),
                      ((1145.51, 1144.77), (514.97, 501.88), (1000, 1002)))
_LOOK_AT = (0.0, 0.0, 900.0)

# Per-joint detector noise in pixels for a person about 5 m away.
_NOISE_PX = np.array([2.0, 2.5, 3.0, 4.0, 2.5, 3.0, 4.0, 2.0, 2.0, 2.5, 3.0, 2.5,
                      3.5, 4.5, 2.5, 3.5, 4.5])
_SWAP_PAIRS = tuple(zip(skeletons.H36M.left, skeletons.H36M.right))


@dataclasses.dataclass(frozen=True)
class Camera:
  """A pinhole camera.

  Attributes:
    rotation: (3, 3) world -> camera rotation (camera x right, y down, z forward).
    position: (3,) camera centre in world mm.
    focal: (fx, fy) pixels.
    center: (cx, cy) pixels.
    resolution: (width, height) pixels.
  """
  rotation: np.ndarray
  position: np.ndarray
  focal: tuple[float, float]
  center: tuple[float, float]
  resolution: tuple[int, int]

  def to_camera(self, points: np.ndarray) -> np.ndarray:
    """(..., 3) world mm -> (..., 3) camera mm."""
    return (points - self.position) @ self.rotation.T

  def project(self, points_cam: np.ndarray) -> np.ndarray:
    """(..., 3) camera mm -> (..., 2) pixels."""
    return (np.asarray(self.focal) * points_cam[..., :2] / points_cam[..., 2:]
            + np.asarray(self.center))


def studio_cameras(rng: np.random.Generator) -> list[Camera]:
  """The four cameras, each moved by a few cm and re-aimed (per-subject setup)."""
  out = []
  for position, (focal, center, resolution) in zip(_CAMERA_POSITIONS,
                                                    _CAMERA_INTRINSICS):
    position = np.asarray(position) + rng.normal(0.0, 40.0, 3)
    target = np.asarray(_LOOK_AT) + rng.normal(0.0, 60.0, 3)
    forward = (target - position) / np.linalg.norm(target - position)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    out.append(Camera(np.stack([right, down, forward]), position, focal, center,
                      resolution))
  return out


def sample_body(rng: np.random.Generator) -> np.ndarray:
  """Rest-pose bone offsets of one subject.

  Returns:
    (17, 3) offset of each joint from its parent in the body frame (mm); row 0 is
    zero. Height varies by about 6 %, each bone by about 4 % (same on both sides).
  """
  scale = float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15))
  lengths = {name: length * scale * float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1))
             for name, length in _BONES.items()}
  offsets = np.zeros((17, 3))
  for joint, (bone, direction) in _REST.items():
    direction = np.asarray(direction, np.float64)
    offsets[joint] = lengths[bone] * direction / np.linalg.norm(direction)
  return offsets


def bone_lengths(poses: np.ndarray) -> np.ndarray:
  """(..., 17, 3) -> (..., 16) length of each non-root joint's bone."""
  parents = np.asarray(skeletons.H36M.parents[1:])
  return np.linalg.norm(poses[..., 1:, :] - poses[..., parents, :], axis=-1)


# --- Joint-angle channels ----------------------------------------------------------

CHANNELS = ("yaw", "pelvis_pitch", "pelvis_roll", "hip_flex_l", "hip_flex_r",
            "hip_abd_l", "hip_abd_r", "knee_l", "knee_r", "spine_bend", "spine_side",
            "spine_twist", "neck_nod", "neck_yaw", "shoulder_flex_l",
            "shoulder_flex_r", "shoulder_abd_l", "shoulder_abd_r", "elbow_l", "elbow_r")
_LOWER = ("yaw", "pelvis_pitch", "pelvis_roll", "hip_flex_l", "hip_flex_r",
          "hip_abd_l", "hip_abd_r", "knee_l", "knee_r")
_UPPER = ("neck_nod", "neck_yaw", "shoulder_flex_l", "shoulder_flex_r",
          "shoulder_abd_l", "shoulder_abd_r", "elbow_l", "elbow_r")


@dataclasses.dataclass
class Motion:
  """Joint angles (radians, each (T,)) and root motion of one sequence.

  Attributes:
    angles: channel name -> (T,) angle.
    root_xy: (T, 2) root path in mm, or None to keep the feet planted at ``anchor``.
    anchor: (2,) floor point under the feet for planted motions.
    lift: (T,) extra height above the floor in mm (jump flight, running bounce).
  """
  angles: dict[str, np.ndarray]
  root_xy: np.ndarray | None
  anchor: np.ndarray
  lift: np.ndarray


def _smoothstep(x: np.ndarray) -> np.ndarray:
  x = np.clip(x, 0.0, 1.0)
  return x * x * (3.0 - 2.0 * x)


def _keyframes(t: np.ndarray, times: np.ndarray, values: np.ndarray) -> np.ndarray:
  """C1 interpolation through (times, values), held constant outside."""
  k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
  u = (t - times[k]) / (times[k + 1] - times[k])
  return values[k] + (values[k + 1] - values[k]) * _smoothstep(u)


def _wobble(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
  """Smooth random variation: three slow sinusoids of random frequency and phase."""
  freq = rng.uniform(0.1, 0.7, 3)
  phase = rng.uniform(0.0, 2 * np.pi, 3)
  weight = rng.uniform(0.3, 1.0, 3)
  weight *= amplitude / weight.sum()
  return np.sum(weight * np.sin(2 * np.pi * freq * t[:, None] + phase), axis=-1)


def _rest(t: np.ndarray) -> dict[str, np.ndarray]:
  angles = {name: np.zeros_like(t) for name in CHANNELS}
  for side in "lr":
    angles[f"shoulder_abd_{side}"] += 0.12
    angles[f"elbow_{side}"] += 0.25
    angles[f"knee_{side}"] += 0.05
  return angles


def _circle_path(rng: np.random.Generator, t: np.ndarray, speed: float, radius: float
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Root path on a circle around the studio centre and the matching heading."""
  center = rng.uniform(-300.0, 300.0, 2)
  direction = rng.choice([-1.0, 1.0])
  theta = rng.uniform(0, 2 * np.pi) + direction * speed * t / radius
  xy = center + radius * np.stack([np.cos(theta), np.sin(theta)], -1)
  # Body forward (-sin yaw, cos yaw) must follow the velocity direction.
  yaw = theta if direction > 0 else theta + np.pi
  return xy, yaw


def _gait(rng: np.random.Generator, t: np.ndarray, *, running: bool) -> Motion:
  angles = _rest(t)
  freq = rng.uniform(1.3, 1.5) if running else rng.uniform(0.8, 1.0)
  amp = rng.uniform(0.85, 1.15)
  phase = 2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)
  hip_amp, hip_base = (0.7, 0.25) if running else (0.42, 0.08)
  knee_amp, knee_base = (1.3, 0.35) if running else (0.65, 0.08)
  for side, shift in (("r", 0.0), ("l", np.pi)):
    angles[f"hip_flex_{side}"] = hip_base + hip_amp * amp * np.sin(phase + shift)
    swing = 0.5 + 0.5 * np.sin(phase + shift + 1.2)
    angles[f"knee_{side}"] = knee_base + knee_amp * amp * swing ** 2
    angles[f"shoulder_flex_{side}"] = -(0.55 if running else 0.3) * amp * np.sin(
        phase + shift)
    angles[f"elbow_{side}"] = (1.4 if running else 0.3) + 0.15 * np.sin(phase + shift)
  angles["spine_twist"] = 0.08 * amp * np.sin(phase)
  angles["pelvis_roll"] = 0.04 * amp * np.sin(phase)
  angles["spine_bend"] += 0.2 if running else 0.03
  speed = (rng.uniform(2.4, 3.0) if running else rng.uniform(1.1, 1.4)) * 1000.0
  xy, yaw = _circle_path(rng, t, speed, rng.uniform(1300.0, 1700.0))
  angles["yaw"] = yaw
  # Squared half-waves keep velocities continuous (no kinks at zero crossings).
  lift = (45.0 * np.maximum(0.0, np.sin(2 * phase)) ** 2 if running
          else np.zeros_like(t))
  return Motion(angles, xy, np.zeros(2), lift)


def _standing(rng: np.random.Generator, t: np.ndarray) -> tuple[
    dict[str, np.ndarray], np.ndarray]:
  angles = _rest(t)
  angles["yaw"] += rng.uniform(0, 2 * np.pi)
  return angles, rng.uniform(-700.0, 700.0, 2)


def _sitting_down(rng: np.random.Generator, t: np.ndarray) -> Motion:
  angles, anchor = _standing(rng, t)
  duration = rng.uniform(1.0, 1.6)
  down = rng.uniform(0.3, 0.25 * t[-1] + 0.3)
  up = down + duration + rng.uniform(1.2, 2.5)
  seated = _smoothstep((t - down) / duration) - _smoothstep((t - up) / duration)
  # Lean forward while moving between standing and sitting.
  lean = (np.sin(np.pi * np.clip((t - down) / duration, 0, 1))
          + np.sin(np.pi * np.clip((t - up) / duration, 0, 1)))
  depth = rng.uniform(0.9, 1.1)
  for side in "lr":
    angles[f"hip_flex_{side}"] = 1.45 * depth * seated
    angles[f"knee_{side}"] = 0.05 + 1.5 * depth * seated
    angles[f"shoulder_flex_{side}"] = 0.35 * seated + 0.3 * lean
    angles[f"elbow_{side}"] = 0.25 + 0.9 * seated
  angles["spine_bend"] = 0.08 * seated + 0.45 * lean
  angles["neck_nod"] = -0.2 * lean
  return Motion(angles, None, anchor, np.zeros_like(t))


def _squatting(rng: np.random.Generator, t: np.ndarray) -> Motion:
  angles, anchor = _standing(rng, t)
  freq = rng.uniform(0.3, 0.5)
  depth = rng.uniform(0.6, 1.0)
  down = depth * (0.5 - 0.5 * np.cos(2 * np.pi * freq * t))
  for side in "lr":
    angles[f"hip_flex_{side}"] = 1.9 * down
    angles[f"hip_abd_{side}"] = 0.15 * down
    angles[f"knee_{side}"] = 0.05 + 2.1 * down
    angles[f"shoulder_flex_{side}"] = 1.3 * down
    angles[f"elbow_{side}"] = 0.25 - 0.15 * down
  angles["spine_bend"] = 0.55 * down
  angles["neck_nod"] = -0.35 * down
  return Motion(angles, None, anchor, np.zeros_like(t))


def _waving(rng: np.random.Generator, t: np.ndarray) -> Motion:
  angles, anchor = _standing(rng, t)
  sides = [["l"], ["r"], ["l", "r"]][rng.choice(3, p=[0.4, 0.4, 0.2])]
  freq = rng.uniform(1.5, 2.5)
  start = rng.uniform(0.0, 0.2 * t[-1])
  stop = rng.uniform(0.7 * t[-1], t[-1] + 1.0)
  raised = _smoothstep((t - start) / 0.6) - _smoothstep((t - stop) / 0.6)
  wave = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
  for side in sides:
    angles[f"shoulder_abd_{side}"] = 0.12 + raised * (2.1 + 0.3 * wave)
    angles[f"shoulder_flex_{side}"] = 0.35 * raised
    angles[f"elbow_{side}"] = 0.25 + raised * (0.7 + 0.35 * np.roll(wave, 4))
  angles["neck_yaw"] = 0.25 * raised * (1.0 if sides == ["l"] else
                                        -1.0 if sides == ["r"] else 0.0)
  return Motion(angles, None, anchor, np.zeros_like(t))


def _event_times(rng: np.random.Generator, end: float, low: float, high: float
                 ) -> list[float]:
  """0, then gaps drawn from U(low, high) until the times pass ``end`` (seconds)."""
  times = [0.0]
  while times[-1] < end:
    times.append(times[-1] + rng.uniform(low, high))
  return times


def _reaching(rng: np.random.Generator, t: np.ndarray) -> Motion:
  angles, anchor = _standing(rng, t)
  times = _event_times(rng, t[-1], 0.9, 1.6)
  times = np.asarray(times + [times[-1] + 1.0])
  k = len(times)
  # Alternate reach and rest keyframes; some reaches go low (bending down).
  reach = np.arange(k) % 2 == 1
  side = rng.choice([0, 1], k)
  low = reach & (rng.random(k) < 0.3)
  flex = np.where(reach, np.where(low, 1.0, rng.uniform(0.8, 2.3, k)), 0.0)
  abd = np.where(reach, rng.uniform(0.0, 1.0, k), 0.12)
  elbow = np.where(reach, rng.uniform(0.0, 0.3, k), 0.3)
  for s, name in ((0, "l"), (1, "r")):
    mine = reach & (side == s)
    angles[f"shoulder_flex_{name}"] = _keyframes(t, times, np.where(mine, flex, 0.0))
    angles[f"shoulder_abd_{name}"] = _keyframes(t, times, np.where(mine, abd, 0.12))
    angles[f"elbow_{name}"] = _keyframes(t, times, np.where(mine, elbow, 0.3))
    angles[f"hip_flex_{name}"] = _keyframes(t, times, np.where(low, 0.8, 0.0))
    angles[f"knee_{name}"] = _keyframes(t, times, np.where(low, 0.7, 0.05))
  angles["spine_bend"] = _keyframes(t, times, np.where(low, 0.7, np.where(reach, 0.15,
                                                                           0.0)))
  angles["spine_twist"] = _keyframes(
      t, times, np.where(reach, np.where(side == 0, 0.25, -0.25), 0.0))
  angles["neck_nod"] = _keyframes(t, times, np.where(low, -0.3, 0.0))
  return Motion(angles, None, anchor, np.zeros_like(t))


def _turning(rng: np.random.Generator, t: np.ndarray) -> Motion:
  angles, anchor = _standing(rng, t)
  times = _event_times(rng, t[-1], 1.0, 2.0)
  steps = rng.choice([-1.0, 1.0], len(times)) * rng.uniform(0.5 * np.pi, np.pi,
                                                           len(times))
  steps[0] = 0.0
  yaw = _keyframes(t, np.asarray(times), np.cumsum(steps))
  turn_rate = np.abs(np.gradient(yaw, t))
  stepping = np.clip(turn_rate / 2.0, 0.0, 1.0)
  phase = 2 * np.pi * rng.uniform(1.4, 1.8) * t
  for side, shift in (("r", 0.0), ("l", np.pi)):
    lift = stepping * np.maximum(0.0, np.sin(phase + shift)) ** 2
    angles[f"hip_flex_{side}"] = 0.35 * lift
    angles[f"knee_{side}"] = 0.05 + 0.6 * lift
    angles[f"shoulder_abd_{side}"] = 0.12 + 0.15 * stepping
  angles["yaw"] += yaw
  angles["neck_yaw"] = 0.3 * np.clip(np.gradient(yaw, t), -1.0, 1.0)
  return Motion(angles, None, anchor, np.zeros_like(t))


def _jumping(rng: np.random.Generator, t: np.ndarray) -> Motion:
  angles, anchor = _standing(rng, t)
  period = rng.uniform(1.1, 1.5)
  height = rng.uniform(150.0, 300.0)
  u = ((t + rng.uniform(0, period)) % period) / period
  crouch = (np.sin(np.pi * np.clip(u / 0.35, 0, 1)) ** 2
            + 0.7 * np.sin(np.pi * np.clip((u - 0.65) / 0.35, 0, 1)) ** 2)
  flight = np.clip((u - 0.35) / 0.3, 0, 1)
  # Smooth in and out of the flight so velocities stay continuous.
  in_air = np.sin(np.pi * flight) ** 2
  # Arms swing up from the end of the crouch to the landing.
  swing = np.sin(np.pi * np.clip((u - 0.2) / 0.6, 0, 1)) ** 2
  for side in "lr":
    angles[f"hip_flex_{side}"] = 1.0 * crouch
    angles[f"knee_{side}"] = 0.05 + 1.4 * crouch
    angles[f"shoulder_flex_{side}"] = 1.8 * swing - 0.5 * crouch
    angles[f"elbow_{side}"] = 0.25 + 0.3 * crouch
  angles["spine_bend"] = 0.45 * crouch
  return Motion(angles, None, anchor, height * in_air)


_FAMILY_FNS: dict[str, Callable[[np.random.Generator, np.ndarray], Motion]] = {
    "walking": lambda rng, t: _gait(rng, t, running=False),
    "running": lambda rng, t: _gait(rng, t, running=True),
    "sitting_down": _sitting_down,
    "squatting": _squatting,
    "waving": _waving,
    "reaching": _reaching,
    "turning": _turning,
    "jumping": _jumping,
}


def make_motion(family: str, num_frames: int, fps: float,
                rng: np.random.Generator) -> Motion:
  """Samples one sequence of ``family`` (see ``FAMILIES``).

  A blend takes legs, pelvis and root motion from a lower-body family and arms and
  neck from an upper-body one, averaging the spine.
  """
  t = np.arange(num_frames) / fps
  if family == "blend":
    lower = _FAMILY_FNS[rng.choice(_LOWER_FOR_BLEND)](rng, t)
    upper = _FAMILY_FNS[rng.choice(_UPPER_FOR_BLEND)](rng, t)
    angles = dict(lower.angles)
    for name in _UPPER:
      angles[name] = upper.angles[name]
    for name in ("spine_bend", "spine_side", "spine_twist"):
      angles[name] = 0.5 * (lower.angles[name] + upper.angles[name])
    motion = Motion(angles, lower.root_xy, lower.anchor, lower.lift)
  elif family in _FAMILY_FNS:
    motion = _FAMILY_FNS[family](rng, t)
  else:
    raise ValueError(f"unknown motion family {family!r}; known: {', '.join(FAMILIES)}")
  for name in CHANNELS:
    if name != "yaw":
      amplitude = 0.03 if name.startswith(("spine", "pelvis")) else 0.07
      motion.angles[name] = motion.angles[name] + _wobble(rng, t, amplitude)
  return motion


# --- Kinematics ----------------------------------------------------------------------

def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
  """(T,) angles -> (T, 3, 3) rotations about x (0), y (1) or z (2)."""
  c, s = np.cos(angle), np.sin(angle)
  out = np.zeros(angle.shape + (3, 3))
  i, j = [(1, 2), (2, 0), (0, 1)][axis]
  out[..., axis, axis] = 1.0
  out[..., i, i] = c
  out[..., j, j] = c
  out[..., i, j] = -s
  out[..., j, i] = s
  return out


def _apply(rotation: np.ndarray, offset: np.ndarray) -> np.ndarray:
  return np.einsum("tij,j->ti", rotation, offset)


def forward_kinematics(offsets: np.ndarray, motion: Motion) -> np.ndarray:
  """Poses the body with the motion's angles and places it on the floor.

  Args:
    offsets: (17, 3) from ``sample_body``.
    motion: from ``make_motion``.

  Returns:
    (T, 17, 3) world positions in mm, z up, H36M-17 order.
  """
  a = motion.angles
  num_frames = a["yaw"].shape[0]
  pos = np.zeros((num_frames, 17, 3))
  pelvis = (_rot(2, a["yaw"]) @ _rot(0, -a["pelvis_pitch"])
            @ _rot(1, a["pelvis_roll"]))
  for side, sign, (hip, knee, ankle) in (("r", -1.0, (1, 2, 3)),
                                         ("l", 1.0, (4, 5, 6))):
    pos[:, hip] = _apply(pelvis, offsets[hip])
    thigh = (pelvis @ _rot(0, a[f"hip_flex_{side}"])
             @ _rot(1, -sign * a[f"hip_abd_{side}"]))
    pos[:, knee] = pos[:, hip] + _apply(thigh, offsets[knee])
    shin = thigh @ _rot(0, -a[f"knee_{side}"])
    pos[:, ankle] = pos[:, knee] + _apply(shin, offsets[ankle])
  pos[:, 7] = _apply(pelvis, offsets[7])
  chest = (pelvis @ _rot(0, -a["spine_bend"]) @ _rot(1, a["spine_side"])
           @ _rot(2, a["spine_twist"]))
  pos[:, 8] = pos[:, 7] + _apply(chest, offsets[8])
  neck = chest @ _rot(0, -a["neck_nod"]) @ _rot(2, a["neck_yaw"])
  pos[:, 9] = pos[:, 8] + _apply(neck, offsets[9])
  pos[:, 10] = pos[:, 9] + _apply(neck, offsets[10])
  for side, sign, (shoulder, elbow, wrist) in (("l", 1.0, (11, 12, 13)),
                                               ("r", -1.0, (14, 15, 16))):
    pos[:, shoulder] = pos[:, 8] + _apply(chest, offsets[shoulder])
    upper = (chest @ _rot(0, a[f"shoulder_flex_{side}"])
             @ _rot(1, -sign * a[f"shoulder_abd_{side}"]))
    pos[:, elbow] = pos[:, shoulder] + _apply(upper, offsets[elbow])
    lower = upper @ _rot(0, a[f"elbow_{side}"])
    pos[:, wrist] = pos[:, elbow] + _apply(lower, offsets[wrist])

  ankles = pos[:, [3, 6]]
  if motion.root_xy is None:
    # Feet planted: keep the point between the ankles over the anchor.
    root_xy = motion.anchor - ankles[..., :2].mean(axis=1)
  else:
    root_xy = motion.root_xy
  scale = np.linalg.norm(offsets[2]) / _BONES["thigh"]
  root_z = _ANKLE_HEIGHT * scale - ankles[..., 2].min(axis=1) + motion.lift
  return pos + np.concatenate([root_xy, root_z[:, None]], -1)[:, None, :]


# --- 2D detections -------------------------------------------------------------------

def _correlated_noise(rng: np.random.Generator, shape: tuple[int, ...],
                      rho: float) -> np.ndarray:
  """Unit-variance AR(1) noise along axis 0."""
  white = rng.standard_normal(shape)
  out = np.empty(shape)
  out[0] = white[0]
  scale = np.sqrt(1.0 - rho * rho)
  for i in range(1, shape[0]):
    out[i] = rho * out[i - 1] + scale * white[i]
  return out


def detect_2d(pixels: np.ndarray, depth: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
  """Turns exact projections into detector-like keypoints with confidences.

  Jitter is part white, part temporally correlated, per joint (extremities worse),
  scaled with the person's apparent size; about 0.4 % of joints per frame become
  outliers for 1-3 frames (25-90 px off) and about 0.1 % of frames swap a
  left/right pair for 1-5 frames. Confidence falls with the error, except that a
  third of the outliers stay confident, as real detectors do.

  Args:
    pixels: (T, J, 2) exact projections.
    depth: (T,) root depth in mm (sets the noise scale).
    rng: random generator.

  Returns:
    (T, J, 3) float64: x, y in pixels and confidence in (0, 1].
  """
  num_frames, num_joints, _ = pixels.shape
  sigma = (_NOISE_PX * rng.uniform(0.7, 1.3))[None, :, None] * (5000.0 / depth)[
      :, None, None]
  noise = sigma * (0.6 * rng.standard_normal(pixels.shape)
                   + 0.8 * _correlated_noise(rng, pixels.shape, 0.7))
  detected = pixels + noise
  confident_outlier = np.zeros((num_frames, num_joints), bool)
  starts = np.argwhere(rng.random((num_frames, num_joints)) < 0.004)
  for frame, joint in starts:
    length = rng.integers(1, 4)
    angle = rng.uniform(0, 2 * np.pi)
    shift = rng.uniform(25.0, 90.0) * np.array([np.cos(angle), np.sin(angle)])
    detected[frame:frame + length, joint] += shift
    confident_outlier[frame:frame + length, joint] = rng.random() < 0.33
  for frame in np.flatnonzero(rng.random(num_frames) < 0.001 * len(_SWAP_PAIRS)):
    left, right = _SWAP_PAIRS[rng.integers(len(_SWAP_PAIRS))]
    span = slice(frame, frame + rng.integers(1, 6))
    detected[span, [left, right]] = detected[span, [right, left]]
  error = np.linalg.norm(detected - pixels, axis=-1) / (5000.0 / depth)[:, None]
  confidence = 1.0 / (1.0 + (error / 12.0) ** 2) * rng.uniform(0.9, 1.0, error.shape)
  confidence = np.where(confident_outlier, rng.uniform(0.6, 0.95, error.shape),
                        confidence)
  confidence = np.clip(confidence + rng.normal(0.0, 0.03, error.shape), 0.05, 1.0)
  return np.concatenate([detected, confidence[..., None]], -1)
