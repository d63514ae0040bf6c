"""Failing open: how often the storage is probed and the outage is told, on a fake clock."""

import logging

import pytest

from storefront.core.ratelimit.outage import StorageOutage


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outage(clock: FakeClock) -> StorageOutage:
    return StorageOutage(retry_seconds=1.0, warning_interval_seconds=60.0, clock=clock)


def ratelimit_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "storefront.ratelimit"]


def test_a_healthy_storage_is_always_used(outage: StorageOutage) -> None:
    outage.record_success()
    assert not outage.should_skip_storage()
    assert not outage.failing


def test_after_a_failure_one_caller_probes_once_a_pause_has_passed(
    outage: StorageOutage, clock: FakeClock
) -> None:
    outage.record_failure(ConnectionError())
    assert outage.should_skip_storage()
    clock.now += 1.0
    assert not outage.should_skip_storage()  # this caller probes
    assert outage.should_skip_storage()  # the others go through while it does
    outage.record_success()
    assert not outage.should_skip_storage()


def test_an_outage_is_told_once_a_minute_and_its_end_once(
    outage: StorageOutage, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="storefront.ratelimit"):
        for _ in range(30):
            outage.record_failure(TimeoutError("redis://:hunter2@db:6379"))
            clock.now += 1.0
        assert [r.levelno for r in ratelimit_records(caplog)] == [logging.WARNING]
        clock.now += 30.0
        outage.record_failure(TimeoutError())
        outage.record_success()
        outage.record_success()
    records = ratelimit_records(caplog)
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING, logging.INFO]
    assert "29 more failures" in records[1].getMessage()
    assert "hunter2" not in caplog.text


def test_a_flapping_storage_does_not_flood_the_log(
    outage: StorageOutage, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="storefront.ratelimit"):
        for _ in range(20):
            outage.record_failure(ConnectionError())
            clock.now += 1.0
            outage.record_success()
    assert [r.levelno for r in ratelimit_records(caplog)] == [logging.WARNING, logging.INFO]
