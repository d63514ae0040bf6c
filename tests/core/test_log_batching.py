"""The batched log writer: every line out, in order, from many threads; never a stall."""

import io
import json
import threading
import time

from storefront.core.log_batching import BatchingWriter


def test_lines_from_many_threads_all_arrive_whole_and_in_order_per_thread() -> None:
    out = io.BytesIO()
    writer = BatchingWriter(out, interval=0.001)

    def produce(thread: int) -> None:
        for number in range(2_000):
            writer.write(json.dumps({"thread": thread, "n": number}).encode() + b"\n")

    producers = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    writer.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 8_000
    for thread in range(4):
        assert [line["n"] for line in lines if line["thread"] == thread] == list(range(2_000))


class StalledStream(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.entered.set()
        self.release.wait(10)
        return super().write(data)


def test_a_stalled_stream_caps_the_queue_and_reports_the_dropped_lines() -> None:
    out = StalledStream()
    writer = BatchingWriter(out, interval=0.001, max_lines=100)
    writer.write(b'{"first":1}\n')
    assert out.entered.wait(10)  # the thread took the first line and hangs in write()
    started = time.perf_counter()
    for number in range(1_000):
        writer.write(b'{"n":%d}\n' % number)
    # The stream stays stalled until released below: a caller that waited for it would
    # never get here. The time is only a generous bound.
    assert time.perf_counter() - started < 5
    out.release.set()
    writer.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0] == {"first": 1}
    assert [line["n"] for line in lines if "n" in line] == list(range(100))
    [dropped] = [line for line in lines if line.get("event") == "log lines dropped"]
    assert dropped["count"] == 900 and dropped["level"] == "warning"


def test_a_full_batch_is_written_at_once_not_at_the_next_tick() -> None:
    out = io.BytesIO()
    writer = BatchingWriter(out, interval=30.0, batch_lines=50)
    try:
        for number in range(49):
            writer.write(b"%d\n" % number)
        time.sleep(0.1)
        assert out.getvalue() == b""  # below a batch: waits for the tick
        writer.write(b"49\n")
        deadline = time.monotonic() + 5
        while out.getvalue().count(b"\n") < 50 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert out.getvalue().splitlines() == [b"%d" % n for n in range(50)]
    finally:
        writer.close()


class FailingOnce(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if not self.failed:
            self.failed = True
            raise BrokenPipeError("reader gone")
        return super().write(data)


def test_lines_lost_to_a_broken_stream_are_counted_when_it_works_again() -> None:
    out = FailingOnce()
    writer = BatchingWriter(out, interval=30.0)
    for number in range(3):
        writer.write(b"%d\n" % number)
    writer.drain()  # the stream refuses these three
    writer.write(b"3\n")
    writer.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == b"3"
    assert json.loads(lines[1])["count"] == 3
