"""One run per workdir: a lock file naming the process that holds it.

``WORKDIR/run.lock`` holds the host, pid and start time of the run. A second run
on the same workdir is refused with a message naming the holder. A lock left by a
process that no longer exists on this host (killed with -9, a crashed machine that
came back) is stale and taken over, saying so; a lock from another host cannot be
checked and is refused with the command to remove it if that run is gone.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import socket


class WorkdirLockedError(RuntimeError):
  """Another run holds the workdir."""


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


class WorkdirLock:
  """``with WorkdirLock(workdir) as lock:`` holds ``workdir/run.lock``."""

  def __init__(self, workdir: str | pathlib.Path):
    self.path = pathlib.Path(workdir) / "run.lock"
    self.note: str | None = None  # Set when a stale lock was taken over.
    self._held = False

  def acquire(self) -> "WorkdirLock":
    me = {"host": socket.gethostname(), "pid": os.getpid(),
          "started": datetime.datetime.now().isoformat(timespec="seconds")}
    for _ in range(2):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        holder = self._read()
        if (holder.get("host") == me["host"] and isinstance(holder.get("pid"), int)
            and not _alive(holder["pid"])) or holder.get("unreadable"):
          self.note = (f"took over a stale lock of process {holder.get('pid')} "
                       f"(started {holder.get('started', '?')}), which no longer runs")
          self.path.unlink(missing_ok=True)
          continue
        where = ("this host" if holder.get("host") == me["host"]
                 else f"host {holder.get('host')}")
        raise WorkdirLockedError(
            f"{self.path.parent} is in use by another run (process {holder.get('pid')} "
            f"on {where}, started {holder.get('started', '?')}); wait for it, use "
            f"another --workdir, or delete {self.path} if that run is gone") from None
      with os.fdopen(fd, "w") as f:
        json.dump(me, f)
      self._held = True
      return self
    raise WorkdirLockedError(f"could not take the lock {self.path}")

  def _read(self) -> dict:
    try:
      return json.loads(self.path.read_text())
    except (OSError, ValueError, RecursionError):
      return {"unreadable": True}

  def release(self) -> None:
    if self._held:
      self.path.unlink(missing_ok=True)
      self._held = False

  def __enter__(self) -> "WorkdirLock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()
