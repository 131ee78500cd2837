"""`make run`'s supervisor: the Procfile's processes under honcho, stopped cleanly by Ctrl-C with exit status 0.

honcho's own `start` answers Ctrl-C with 130 and kills (SIGKILL) whatever has not stopped 5 s after SIGTERM,
a cluster finishing its task for one; and make, which gets the terminal's SIGINT too, dies of it. Here the
processes get STOP_SECONDS to stop, and this process takes the terminal's Ctrl-C for itself, so make sees
a clean exit. Ctrl-C stopping everything in time: 0; a process that stopped on its own first: its status;
one that had to be killed: 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from honcho import manager as honcho_manager
from honcho.environ import expand_processes, parse_procfile
from honcho.printer import Printer

ROOT = Path(__file__).resolve().parent.parent
STOP_SECONDS = 30
INTERRUPTED = (130, 143)  # honcho's status after SIGINT, SIGTERM


class Supervisor(honcho_manager.Manager):
    interrupted = killed = False

    def terminate(self):
        # The signal handler sets the status first; a process that had stopped on its own set it before.
        if not self._terminating and self.returncode in INTERRUPTED and not self._any_stopped():
            self.interrupted = True
        super().terminate()

    def kill(self):
        self.killed = True
        super().kill()

    @property
    def exit_status(self) -> int:
        if self.killed:
            return 1
        return 0 if self.interrupted else (self.returncode or 0)


@contextlib.contextmanager
def terminal_to_ourselves() -> Iterator[None]:
    """Make this process group the terminal's foreground one while the processes run, and give it back after.

    Ctrl-C then reaches this supervisor (and honcho's relays, which ignore it) and not make; the Procfile's
    processes each run in a session of their own and stop on honcho's SIGTERM. Without a terminal, nothing.
    """
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        yield
        return
    try:
        before = os.tcgetpgrp(tty)
        if before != os.getpgrp():  # in the background already: leave the terminal alone
            yield
            return
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may then set it
        try:
            os.setpgid(0, 0)
            os.tcsetpgrp(tty, os.getpgrp())
            try:
                yield
            finally:
                os.tcsetpgrp(tty, before)
        finally:
            signal.signal(signal.SIGTTOU, previous)
    finally:
        os.close(tty)


def main() -> int:
    honcho_manager.KILL_WAIT = STOP_SECONDS
    procfile = parse_procfile((ROOT / "Procfile").read_text())
    supervisor = Supervisor(Printer(sys.stdout, colour=sys.stdout.isatty()))
    for process in expand_processes(procfile.processes, env=dict(os.environ), port=5000):
        supervisor.add_process(process.name, process.cmd, quiet=process.quiet, env=process.env, cwd=str(ROOT))
    with terminal_to_ourselves():
        supervisor.loop()
    return supervisor.exit_status


if __name__ == "__main__":
    sys.exit(main())
