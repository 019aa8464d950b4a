"""Writing a snapshot from a forked child process, so that the settlement core never stops to encode its state.

Why: the core is the single writer, on one event-loop thread. Encoding the whole state (every payment of the
retention window: ~0.4 KB each, 1.2 GB at 1.8 million payments) takes seconds there, and writing it took more:
a soak at 1,000 payments/s stalled the rail for 1 to 6 s every 5 minutes, long enough for payments to time out
AB05 (bench/RESULTS.md, "Snapshots without a stall"). So, as Redis' BGSAVE does, the journal forks: the child is
a copy-on-write image of the state at that instant, encodes and writes it, and exits; the parent goes on settling
at once (the fork itself costs the page-table copy: milliseconds) and learns the outcome from a pidfd on its
event loop.

The child holds nothing of the parent's: it closes every inherited descriptor but its error pipe (the data
directory's lock, listening sockets, journal segments), ignores the signals a terminal sends the whole process
group (the parent decides), dies with its parent (PR_SET_PDEATHSIG: a killed rail leaves no writer behind, only a
'.tmp' file that recovery removes), never runs the collector (it would touch, so copy, every tracked object of
the image) and leaves by os._exit (no atexit handlers, no flush of the parent's buffers). It runs at the rail's
own CPU priority and writes its file with one fsync at the end: a run at nice 19 syncing every 16 MiB did far
worse under load (bench/RESULTS.md, "Snapshots without a stall").

Linux only (pidfd_open, prctl); `available()` says whether this process can, and the journal falls back to
encoding on the loop and writing on its thread where it cannot.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import warnings
from collections.abc import Callable
from typing import NoReturn

from rail.parent import die_with
from rail.settlement.journal_format import JournalError

_ERROR_TEXT_MAX = 4_000


def available() -> bool:
    return sys.platform == "linux" and hasattr(os, "fork") and hasattr(os, "pidfd_open")


def run_in_child(write: Callable[[], None]) -> asyncio.Future[None]:
    """Fork now; the child runs `write()` (on the state as it is at this call) and exits. The returned future
    (of the running loop) completes when the child has ended: None, or JournalError with the child's error."""
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork() in a process with threads (the journal's writer): the child here
            # takes no lock another thread could hold (no logging, no journal method, no import), see above.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:  # e.g. ENOMEM: no snapshot this time, the journal still has every batch
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # the child: never returns
        _child(write, write_fd, parent)
    os.close(write_fd)
    future: asyncio.Future[None] = loop.create_future()
    pidfd = os.pidfd_open(pid)

    def ended() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read_fd, "rb") as errors:
            text = errors.read(_ERROR_TEXT_MAX).decode("utf-8", "replace")
        code = os.waitstatus_to_exitcode(status)
        if future.done():
            return
        if code == 0:
            future.set_result(None)
        else:
            how = f"exit code {code}" if code > 0 else f"signal {signal.Signals(-code).name}"
            future.set_exception(JournalError(f"snapshot writer (pid {pid}) failed, {how}: {text or 'no detail'}"))

    loop.add_reader(pidfd, ended)
    return future


def _child(write: Callable[[], None], error_fd: int, parent: int) -> NoReturn:
    code = 1
    try:
        gc.disable()
        os.closerange(3, error_fd)
        os.closerange(error_fd + 1, os.sysconf("SC_OPEN_MAX"))
        signal.set_wakeup_fd(-1)  # the parent's loop listens on it: no signal of ours may reach it
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        _die_with(parent)
        write()
        code = 0
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which decides
        try:
            os.write(error_fd, repr(error).encode("utf-8", "replace")[:_ERROR_TEXT_MAX])
        except OSError:
            pass
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    if not die_with(parent):  # the parent died already: nobody waits for this snapshot
        os._exit(1)
