"""Batched writes for the JSON log lines of the event loop.

structlog writes and flushes once per line: one write(2) per request, which cost about a
tenth of a bare endpoint's throughput on one core. Here the event loop only appends the
line to a queue (no lock, no copy, no system call); a thread writes the lines out as soon
as `batch_lines` have gathered, else every `interval` seconds, and at exit. Small batches
matter as much as batching: lines waiting for a 0.2 s tick (1,500 under load, 450 kB)
evicted the interpreter's working set from the CPU caches and cost 6 % of the
throughput; batches of 128 cost nothing measurable. A SIGKILL can lose at most one
interval of lines.

If the stream stops taking lines (a stalled pipe), the queue is capped at `max_lines`:
further lines are counted and dropped, and the count is written once the stream moves
again, rather than stalling every request behind the log.
"""

import atexit
import threading
from collections import deque
from datetime import UTC, datetime
from typing import BinaryIO

import orjson


class BatchingWriter:
    def __init__(
        self,
        out: BinaryIO,
        *,
        interval: float = 0.2,
        batch_lines: int = 128,
        max_lines: int = 200_000,
    ) -> None:
        self._out = out
        self._interval = interval
        self._batch_lines = batch_lines
        self._max_lines = max_lines
        self._wake = threading.Event()
        # deque.append and popleft are atomic: the loop never waits for the writer thread.
        self._lines: deque[bytes] = deque()
        self._dropped = 0
        self._draining = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._flush_periodically, daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def write(self, data: bytes) -> None:
        queued = len(self._lines)
        if queued < self._max_lines:
            self._lines.append(data)
            if queued + 1 == self._batch_lines:  # once per batch, not once per line
                self._wake.set()
        else:
            self._dropped += 1

    def flush(self) -> None:
        """Called by structlog after every line: batches are written by the thread."""

    def drain(self) -> None:
        with self._draining:
            chunks: list[bytes] = []
            pop = self._lines.popleft
            try:
                while True:
                    chunks.append(pop())
            except IndexError:
                pass
            lines = len(chunks)
            dropped, self._dropped = self._dropped, 0
            if dropped:
                chunks.append(_dropped_line(dropped))
            if not chunks:
                return
            try:
                self._out.write(b"".join(chunks))
                self._out.flush()
            except (OSError, ValueError):  # a broken or closed stream: tell when it heals
                self._dropped += dropped + lines

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        self.drain()
        atexit.unregister(self.close)

    def _flush_periodically(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self.drain()


def _dropped_line(count: int) -> bytes:
    line = {
        "event": "log lines dropped",
        "count": count,  # approximate: counted without a lock
        "level": "warning",
        "logger": "storefront.logging",
        "timestamp": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }
    return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
