"""``otklik run --workers N``: N worker processes on one PostgreSQL database, each a whole
Otklik, forked from this supervising parent.

The workers share the listening addresses — ``[telegram] listen`` of the webhook and ``[http]
listen`` of the intake, /healthz and the board — with ``SO_REUSEPORT`` (Linux): each binds the
same address and the kernel spreads the incoming connections among them. No worker is
special for updates; the update claim makes each handled once. One of them leads
(:mod:`bot.storage.election`): it alone runs the scheduler, the VK sources and the outbox senders.

The parent imports what a worker runs once, then forks each worker from it (no thread or event
loop runs in the parent): a worker starts, and is started again, without importing anything,
and the imported code's memory is shared among the workers. The parent starts worker 1 and
waits until it serves (or ends: a failed start, whose one line is the worker's own, and its
exit code is the parent's), then the others. A worker that dies later (a crash, ``kill -9``,
a part that died) is started again; if the workers die more than :data:`MAX_RESTARTS` times
in :data:`RESTART_WINDOW` seconds the parent stops them all and exits 1. SIGTERM or Ctrl-C is
passed on to every worker, each finishes its update in hand, and the parent exits 0. A parent
that is gone (``kill -9``) is noticed by each worker at once (:meth:`Link.orphaned`): it stops.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import select
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger(__name__)

START_WAIT = 300.0  # the longest wait for the first worker to serve
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
STOP_WAIT = 15.0
# A worker's exit codes that mean "cannot start": starting it again would not help.
START_FAILURES = (2, 3, 4, 5)


@dataclass(frozen=True)
class Link:
    """What a worker holds of its supervisor: the descriptor it tells "I serve" on, and one
    of a pipe nobody writes to, whose other end the supervisor holds open all its life (the
    worker reads its end of file the moment the supervisor is gone)."""

    supervisor: int  # its pid, named in the log when it is gone
    ready_fd: int
    alive_fd: int

    def ready(self) -> None:
        try:
            os.write(self.ready_fd, b"ready\n")
            os.close(self.ready_fd)
        except OSError:
            pass

    async def orphaned(self, stop: Callable[[], None]) -> None:
        """``stop`` once the supervisor is gone (killed with -9, say), so that no worker runs
        on, unsupervised, on the shared port; also when it was gone before this worker
        started."""
        gone = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(self.alive_fd, gone.set)  # readable only at its end: nothing is written
        try:
            await gone.wait()
        finally:
            loop.remove_reader(self.alive_fd)
        log.warning("the supervisor (pid %d) is gone: stopping", self.supervisor)
        stop()


Serve = Callable[[Link], int]  # runs one worker until it is stopped; its exit code


def _work(serve: Serve, link: Link, parents: tuple[int, ...]) -> None:
    """A forked worker: the supervisor's descriptors and signal handlers are not its own."""
    for fd in parents:
        os.close(fd)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # its event loop handles both once it runs
    signal.signal(signal.SIGINT, signal.default_int_handler)
    raise SystemExit(serve(link))


class Supervisor:
    def __init__(self, serve: Serve, workers: int) -> None:
        self.serve = serve
        self.workers = workers
        self.procs: dict[int, BaseProcess] = {}
        self.stopping = False
        self.deaths: deque[float] = deque()
        # Both ends kept for this process's life: each worker gets the reading one.
        self.alive_r, self.alive_w = os.pipe()

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def spawn(self, index: int) -> int:
        """Start worker ``index``; the descriptor its readiness is read from."""
        r, w = os.pipe()
        link = Link(os.getpid(), w, self.alive_r)
        proc = multiprocessing.get_context("fork").Process(
            target=_work, args=(self.serve, link, (r, self.alive_w)),
            name=f"otklik worker {index}")
        try:
            proc.start()
        finally:
            os.close(w)
        self.procs[index] = proc
        return r

    def wait_ready(self, fds: dict[int, int], seconds: float) -> int | None:
        """Wait until each worker of ``fds`` serves; the exit code of one that ended
        instead (None: all serve)."""
        deadline = time.monotonic() + seconds
        try:
            while fds and not self.stopping:
                readable, _, _ = select.select(list(fds.values()), [], [], 0.2)
                for index, fd in list(fds.items()):
                    if fd in readable:
                        if os.read(fd, 64):
                            del fds[index]
                            os.close(fd)
                            continue
                        self.procs[index].join()
                        return self.procs[index].exitcode or 1
                if time.monotonic() > deadline:
                    print(f"otklik: a worker did not start serving in {seconds:g} s",
                          file=sys.stderr)
                    return 1
            return None
        finally:
            for fd in fds.values():
                os.close(fd)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM,
                                                                    signal.SIGINT)}
        try:
            code = self.wait_ready({1: self.spawn(1)}, START_WAIT)
            if code is None:
                code = self.wait_ready({i: self.spawn(i) for i in range(2, self.workers + 1)},
                                       START_WAIT)
            if code is None:
                log.info("%d workers serve (pids %s)", self.workers,
                         ", ".join(str(p.pid) for p in self.procs.values()))
                code = self.watch()
            return code
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def watch(self) -> int:
        """Start again the workers that end, until a stop; the exit code."""
        while not self.stopping:
            time.sleep(0.2)
            for index, proc in list(self.procs.items()):
                code = proc.exitcode
                if code is None or self.stopping:
                    continue
                if code in START_FAILURES:
                    print(f"otklik: worker {index} could not start again (exit {code}); "
                          "stopping", file=sys.stderr)
                    return code
                now = time.monotonic()
                self.deaths.append(now)
                while self.deaths and now - self.deaths[0] > RESTART_WINDOW:
                    self.deaths.popleft()
                if len(self.deaths) > MAX_RESTARTS:
                    print(f"otklik: workers died {len(self.deaths)} times in "
                          f"{RESTART_WINDOW:g} s (the last: worker {index}, exit {code}); "
                          "stopping", file=sys.stderr)
                    return 1
                log.warning("worker %d (pid %d) ended (exit %s); starting it again", index,
                            proc.pid, code)
                fd = self.spawn(index)
                os.close(fd)  # no need to wait: the others serve meanwhile
        return 0

    def stop_all(self) -> None:
        """SIGTERM to every worker still running; those not ended in :data:`STOP_WAIT`
        seconds are killed."""
        for proc in self.procs.values():
            if proc.exitcode is None:
                proc.terminate()  # SIGTERM
        deadline = time.monotonic() + STOP_WAIT
        for proc in self.procs.values():
            proc.join(max(deadline - time.monotonic(), 0.1))
            if proc.exitcode is None:
                proc.kill()
                proc.join()


def supervise(serve: Serve, workers: int) -> int:
    """``workers`` forked processes each running ``serve`` (whose code the caller has imported
    already), until SIGTERM or Ctrl-C; the exit code."""
    gc.freeze()  # what the workers inherit stays shared: their collections never write to it
    return Supervisor(serve, workers).run()
