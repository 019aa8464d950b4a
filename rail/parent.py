"""Child processes that must not outlive the rail: its snapshot writer (rail/settlement/snapshot_child.py) and its
decode workers (rail/iso20022/decode_worker.py) both ask the kernel to kill them when the rail ends, so a rail
killed with SIGKILL leaves nothing running behind it.

libc's prctl is looked up at import: a forked child must not search for libraries (ctypes.util may run a
subprocess).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def die_with(parent: int) -> bool:
    """SIGKILL this process when its parent ends (Linux: PR_SET_PDEATHSIG). False if `parent` has already gone
    (before the request took effect: nobody is left to serve); OSError where the kernel cannot do it."""
    if _prctl is None or _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    return os.getppid() == parent
