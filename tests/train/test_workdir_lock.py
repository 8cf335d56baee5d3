"""One run per workdir: the lock, its refusal and stale-lock recovery."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from sasmamba_jax.train import workdir_lock


def test_second_holder_is_refused_and_release_frees(tmp_path):
  with workdir_lock.WorkdirLock(tmp_path) as first:
    assert first.path.is_file()
    with pytest.raises(workdir_lock.WorkdirLockedError,
                       match=rf"in use by another run \(process {os.getpid()} on this host"):
      workdir_lock.WorkdirLock(tmp_path).acquire()
  assert not (tmp_path / "run.lock").exists()
  workdir_lock.WorkdirLock(tmp_path).acquire().release()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  (tmp_path / "run.lock").write_text(json.dumps(
      {"host": socket.gethostname(), "pid": int(dead.stdout), "started": "then"}))
  lock = workdir_lock.WorkdirLock(tmp_path).acquire()
  assert "took over a stale lock" in lock.note
  assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()
  lock.release()


def test_lock_from_another_host_is_refused_with_the_way_out(tmp_path):
  (tmp_path / "run.lock").write_text(json.dumps(
      {"host": "other-host", "pid": 1, "started": "then"}))
  with pytest.raises(workdir_lock.WorkdirLockedError,
                     match="host other-host.*delete .*run.lock if that run is gone"):
    workdir_lock.WorkdirLock(tmp_path).acquire()
