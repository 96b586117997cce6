"""The chart process (``bot/chart.py``), kept warm between charts: matplotlib is
imported once per process, not once per chart, and never in the bot.

One process serves one chart at a time: a request (a line of JSON) goes to its stdin, the
answer (a line) comes back on its stdout. A worker thread writes and reads, holding a
``threading.Lock`` meanwhile, so the event loop never waits on the pipe and two reports at
once take turns; nothing here belongs to an event loop, so the process outlives the loop that
started it (each test has its own). The process ends by itself after ``idle`` seconds without
a request, or when its stdin closes (this process exited); the next chart then starts a new
one. So does a chart after the process died (killed, crashed): a process that served before
and dies without answering is replaced and the request sent again, once.

A chart that fails raises ``RuntimeError("the chart was not drawn …")`` with the tail of the
traceback (a bad description: the process lives on and serves the next chart) or of the
process's stderr with its exit status (it died on this chart).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

SCRIPT = Path(__file__).with_name("chart.py")
IDLE = 60.0  # seconds: what a serving process waits for the next chart before it ends
TAIL = 2000  # characters of a traceback or stderr in the error


class ChartNotDrawn(RuntimeError):
    pass


class _Died(Exception):
    """The process ended before it answered."""


class Drawer:
    """Draws charts in one warm process at a time (see the module's doc)."""

    def __init__(self, script: Path = SCRIPT, *, idle: float = IDLE,
                 timeout: float = 600.0) -> None:
        self.script, self.idle, self.timeout = script, idle, timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._unread = bytearray()  # of stdout, past the last answer (none, normally)
        self._answered = 0  # requests the current process has answered

    @property
    def pid(self) -> int | None:
        """The live process's id (None when there is none)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def draw(self, spec: dict[str, Any], path: Path) -> Path:
        """Draw ``spec`` into ``path``, blocking (call it from a worker thread)."""
        request = (json.dumps({"path": str(path), "spec": spec}) + "\n").encode()
        with self._lock:
            proc = self._running()
            try:
                answer = self._ask(proc, request)
            except _Died:
                if not self._answered:  # a new process died of this chart
                    raise ChartNotDrawn(self._death()) from None
                self._death()  # it had been serving (ended idle, was killed): once again
                try:
                    answer = self._ask(self._running(), request)
                except _Died:
                    raise ChartNotDrawn(self._death()) from None
            self._answered += 1
            if "error" in answer:
                raise ChartNotDrawn(f"the chart was not drawn: {answer['error'].strip()[-TAIL:]}")
            return path

    def close(self) -> None:
        """End the process (when there is one) and wait for it."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self._forget()

    def _running(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.returncode is not None:
            self._forget()  # ended since the last chart (idle, killed)
        if self._proc is None:
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _forget
            self._proc = subprocess.Popen(
                [sys.executable, "-I", str(self.script), "--idle", str(self.idle)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
            # Reaped as soon as it ends (no zombie for the rest of the week); its
            # ``returncode`` then tells the next chart to start another.
            threading.Thread(target=self._proc.wait, name="chart process", daemon=True).start()
            self._answered = 0
            self._unread.clear()
        return self._proc

    def _ask(self, proc: subprocess.Popen[bytes], request: bytes) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(request)
            proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise _Died from None
        out, deadline = proc.stdout.fileno(), time.monotonic() + self.timeout
        while b"\n" not in self._unread:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([out], [], [], max(left, 0))
            if not ready:
                proc.kill()
                self._death()
                raise ChartNotDrawn(f"the chart was not drawn in {self.timeout:g} s")
            chunk = os.read(out, 1 << 16)
            if not chunk:
                raise _Died
            self._unread += chunk
        end = self._unread.index(b"\n")
        line = bytes(self._unread[:end])
        del self._unread[:end + 1]
        return json.loads(line)

    def _death(self) -> str:
        """Why the process ended, for the error; it is forgotten (the next chart starts
        another)."""
        proc, stderr = self._proc, self._stderr
        assert proc is not None and stderr is not None
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        stderr.seek(0, os.SEEK_END)
        stderr.seek(max(0, stderr.tell() - 4 * TAIL))
        tail = stderr.read().decode(errors="replace").strip()[-TAIL:]
        self._forget()
        return f"the chart was not drawn (exit {code}): {tail}"

    def _forget(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:  # ended (and reaped)
            for pipe in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()  # type: ignore[union-attr]
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


drawer = Drawer()
atexit.register(drawer.close)
