"""Files that are never half-written, and output folders that belong to one run at a time.

What it is: ``atomic_write_bytes`` and the ``atomic_path`` context manager (write to a temporary file in the
same folder, then ``os.replace`` it over the target; the temporary file is removed whatever happens, Ctrl-C
and SIGTERM included); ``remove_temporaries`` (what a killed process could still leave behind);
``FolderLock`` (``<folder>/.nst-edu.lock`` holding the owner's pid, so that two runs never write into the
same folder; a lock left by a dead process is taken over).

What it is not: no image or CSV formatting.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: the lock falls back to "create the file exclusively" and a pid check
    fcntl = None

LOCK_FILE = ".nst-edu.lock"
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def signals_deferred():
    """Hold back SIGINT, SIGTERM and SIGHUP for a few lines: they reach the program's handlers when the block ends.

    Python runs signal handlers in the main thread only, between two bytecodes; for the block's duration the
    handlers are swapped for one that notes the signal, and the signals noted are raised again afterwards.
    In another thread there is nothing to defer: no handler can interrupt it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for signum in _SIGNALS:
        handler = signal.getsignal(signum)
        if handler is None:  # set from C: cannot be put back from Python, so leave it alone
            continue
        previous[signum] = handler
        signal.signal(signum, lambda n, frame: caught.append(n))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in caught:
            signal.raise_signal(signum)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``; otherwise it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    tmp = None
    try:
        with signals_deferred():  # no signal between the file's creation and ``tmp`` knowing its name
            fd, tmp = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent
            )
        os.close(fd)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written output should have the usual mode
        yield Path(tmp)
        os.replace(tmp, target)
        tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def remove_temporaries(folder: str | Path, names) -> list[Path]:
    """Delete the temporary files (``.<name>.<random>.tmp…``) that an atomic write of ``names`` left in ``folder``.

    Only a process killed outright (SIGKILL, a power cut) leaves one; call this only while holding the
    folder's lock, when no other write can be in progress. Returns what was removed.
    """
    removed = []
    for name in names:
        for tmp in Path(folder).glob(f".{name}.*.tmp*"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


class FolderBusyError(RuntimeError):
    """Another live process holds the folder's lock; ``.pid`` is its process id (None if unknown)."""

    def __init__(self, folder: Path, pid: int | None):
        owner = f"pid {pid}" if pid is not None else "another process"
        super().__init__(f"{folder} is in use by another run ({owner})")
        self.folder, self.pid = folder, pid


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int | None) -> bool:
    if pid is None or pid == os.getpid():
        return pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class FolderLock:
    """``<folder>/.nst-edu.lock``: held by one process at a time; the file holds the owner's pid.

    ``acquire()`` creates the folder if needed and raises ``FolderBusyError`` while another live process
    holds it; it raises ``OSError`` when the folder cannot be created or written (so it doubles as the "can
    I write there?" check). On POSIX the lock is an ``flock`` on the file, which the kernel drops when its
    owner dies, however it dies: a lock file left by a dead process is simply taken over. ``release()``
    deletes the file.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(100):  # retried only when the file was replaced under us (a release in between)
            with signals_deferred():
                fd = self._try_once()
            if fd is not None:
                self.fd = fd
                return self
        raise FolderBusyError(self.folder, _read_pid(self.path))

    def _try_once(self) -> int | None:
        if fcntl is None:
            return self._try_exclusive()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderBusyError(self.folder, _read_pid(self.path)) from None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the holder released (and deleted) it between our open and our flock: try again
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def _try_exclusive(self) -> int | None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = _read_pid(self.path)
            if _alive(pid):
                raise FolderBusyError(self.folder, pid) from None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # stale: its owner is dead
            return None
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def release(self) -> None:
        if self.fd is None:
            return
        with signals_deferred():
            with contextlib.suppress(OSError):
                if _read_pid(self.path) == os.getpid():
                    os.unlink(self.path)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
