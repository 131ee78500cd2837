"""`python scripts/alone.py CMD...`: run CMD in a session of its own, passing it SIGTERM and SIGINT.

For django-q2's qcluster under honcho: honcho stops a process by signalling its whole process group, and
qcluster's sentinel dies at once of that SIGTERM, leaving its main process waiting for it for ever. Here
only CMD's main process is told to stop, and it stops its own children. Should this process die first,
CMD is sent SIGTERM too (Linux), so nothing is left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # Not Linux: honcho's SIGKILL after its wait is then the last resort.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main(command: list[str]) -> int:
    # The command is the Procfile's own line, not outside input.
    child = subprocess.Popen(command, start_new_session=True, preexec_fn=die_with_parent)  # noqa: S603

    def forward(signum, frame):
        child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return child.wait()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: alone.py COMMAND [ARG...]")
    sys.exit(main(sys.argv[1:]))
