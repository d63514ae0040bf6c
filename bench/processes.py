"""Where the bench's processes run, and how they end with it."""

import ctypes
import signal

SERVER_CPU = "0"
CLIENT_CPU = "1"
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # Run in the child before exec: even a SIGKILLed harness leaves no server or wrk behind.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
