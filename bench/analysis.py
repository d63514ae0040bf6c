"""From raw rounds to one row per endpoint: medians, ratios, answers, targets, problems.

A problem means the measurement cannot be trusted (the harness exits 1); a missed target
is a result.
"""

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bench.endpoints import PING, REFERENCE, Endpoint, Mode, Request
from bench.measure import Measurement, SameCore
from bench.servers import IDLE_TIMEOUT_SECONDS
from bench.wrk import SocketErrors, WrkResult

MB = 1_000_000
# wrk leaves answers slower than its timeout out of the latency percentiles: from this
# share of such answers on, its p99 says nothing.
CENSORED_SHARE = 0.01

Results = dict[str, list[Measurement]]
SameCoreResults = dict[str, list[SameCore]]


@dataclass(frozen=True)
class TargetCheck:
    label: str
    # What was compared with the target: a ratio, milliseconds, MB or a count of errors.
    measured: float
    met: bool


@dataclass(frozen=True)
class FloodRow:
    baseline: str
    # Median over rounds of (req/s during the flood) / (baseline req/s, same round).
    ratio: float
    requests_per_second: float
    statuses: dict[int, int]
    socket_errors: SocketErrors


@dataclass(frozen=True)
class Row:
    endpoint: Endpoint
    connections: int
    # Answers with the expected status per second.
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    # Too many answers slower than wrk's timeout: the true p99 is above it.
    p99_censored: bool
    ratio: float
    same_core_ratio: float | None
    spread: float
    rss_mb: float | None
    log_bytes_per_request: float
    statuses: dict[int, int]
    socket_errors: SocketErrors
    log_notable: dict[str, int]
    flood: FloodRow | None
    targets: list[TargetCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def total_statuses(results: Iterable[WrkResult]) -> dict[int, int]:
    counts: Counter[int] = Counter()
    for result in results:
        counts.update(result.statuses)
    return dict(sorted(counts.items()))


def total_errors(results: Iterable[WrkResult]) -> SocketErrors:
    return sum((r.socket_errors for r in results), SocketErrors())


def p99_censored(results: Iterable[WrkResult]) -> bool:
    runs = list(results)
    slow = sum(r.socket_errors.timeout for r in runs)
    return slow > 0 and slow >= CENSORED_SHARE * sum(r.requests for r in runs)


def served_rate(m: Measurement) -> float:
    """Answers per second with the expected status: a 503 under overload serves nothing."""
    result = m.wrk
    expected = result.statuses.get(m.expected_status, 0)
    return result.requests_per_second * expected / result.requests if result.requests else 0.0


def paired_ratio(rounds: Sequence[Measurement], reference: Sequence[Measurement]) -> float:
    # Paired within each round, so drift of the shared machine between rounds cancels. A
    # reference without answers is a problem of its own row.
    by_round = {m.round: served_rate(m) for m in reference}
    return statistics.median(
        served_rate(m) / by_round[m.round] if by_round[m.round] else 0.0 for m in rounds
    )


def summarize(
    endpoints: Sequence[Endpoint],
    mode: Mode,
    default_connections: int,
    results: Results,
    same_core: SameCoreResults,
) -> list[Row]:
    return [
        _row(e, mode, default_connections, results, same_core.get(e.name, [])) for e in endpoints
    ]


def _row(
    endpoint: Endpoint,
    mode: Mode,
    default_connections: int,
    results: Results,
    same_core: Sequence[SameCore],
) -> Row:
    rounds = results[endpoint.name]
    runs = [m.wrk for m in rounds]
    rates = [served_rate(m) for m in rounds]
    rss = [m.rss_bytes for m in rounds if m.rss_bytes is not None]
    notable: Counter[str] = Counter()
    for m in rounds:
        notable.update(m.log.notable)
    row = Row(
        endpoint=endpoint,
        connections=endpoint.connections_or(default_connections),
        requests_per_second=statistics.median(rates),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        p99_censored=p99_censored(runs),
        ratio=paired_ratio(rounds, results[REFERENCE]),
        same_core_ratio=statistics.median(m.ratio for m in same_core) if same_core else None,
        spread=_spread(rates),
        rss_mb=max(rss) / MB if rss else None,
        log_bytes_per_request=statistics.median(
            m.log.bytes / (m.run.warmup_requests + m.wrk.requests) for m in rounds
        ),
        statuses=total_statuses(runs),
        socket_errors=total_errors(runs),
        log_notable=dict(notable.most_common()),
        flood=_flood_row(endpoint, rounds, results),
    )
    row.targets.extend(_targets(row, mode))
    row.problems.extend(_problems(endpoint, rounds, same_core))
    return row


def _spread(values: Sequence[float]) -> float:
    median = statistics.median(values)
    return (max(values) - min(values)) / median if median else 0.0


def _flood_row(
    endpoint: Endpoint, rounds: Sequence[Measurement], results: Results
) -> FloodRow | None:
    if endpoint.flood is None:
        return None
    floods = [m.run.flood for m in rounds if m.run.flood is not None]
    return FloodRow(
        baseline=endpoint.flood.baseline,
        ratio=paired_ratio(rounds, results[endpoint.flood.baseline]),
        requests_per_second=statistics.median(f.requests_per_second for f in floods),
        statuses=total_statuses(floods),
        socket_errors=total_errors(floods),
    )


def _targets(row: Row, mode: Mode) -> Iterable[TargetCheck]:
    endpoint = row.endpoint
    target = endpoint.ratio_targets.get(mode)
    if target is not None:
        goal = f" (goal {endpoint.ratio_goal:.2f})" if endpoint.ratio_goal else ""
        yield TargetCheck(f"≥ {target:.2f}{goal}", row.ratio, row.ratio >= target)
    if endpoint.p99_target_ms is not None and mode in endpoint.modes:
        yield TargetCheck(
            f"p99 < {endpoint.p99_target_ms:.0f} ms",
            row.p99_ms,
            row.p99_ms < endpoint.p99_target_ms and not row.p99_censored,
        )
    if endpoint.error_free_target:
        allowed = {endpoint.request.expected_status, *endpoint.tolerated_statuses}
        errors = row.socket_errors.total + sum(
            n for status, n in row.statuses.items() if status not in allowed
        )
        served = bool(row.statuses)
        tolerated = ", ".join(map(str, sorted(endpoint.tolerated_statuses)))
        yield TargetCheck(f"no error but {tolerated}", errors, served and errors == 0)
    if endpoint.flood is not None and row.flood is not None:
        yield TargetCheck(
            f"≥ {endpoint.flood.ratio_target:.2f} of {row.flood.baseline}",
            row.flood.ratio,
            row.flood.ratio >= endpoint.flood.ratio_target,
        )


def _problems(
    endpoint: Endpoint, rounds: Sequence[Measurement], same_core: Sequence[SameCore]
) -> Iterable[str]:
    for m in rounds:
        yield from (f"round {m.round}: {p}" for p in _round_problems(endpoint, m))
    for pair in same_core:
        if pair.idle_after_warmup is None:
            yield f"round {pair.round} (same core): a server was still busy after the warm-up"
        for request, result in ((PING, pair.reference), (endpoint.request, pair.endpoint)):
            yield from (
                f"round {pair.round} (same core, {request.path}): {p}"
                for p in wrk_problems(request, result, frozenset(), errors_are_results=False)
            )


def _round_problems(endpoint: Endpoint, m: Measurement) -> Iterable[str]:
    if m.observed_status != endpoint.request.expected_status:
        yield f"the check got {m.observed_status}"
    if m.run.idle_after_warmup is None:
        yield f"the server was still busy {IDLE_TIMEOUT_SECONDS:.0f} s after the warm-up"
    # Under overload (tolerated answers) or a flood, slow answers are the result.
    errors_are_results = bool(endpoint.tolerated_statuses) or endpoint.flood is not None
    yield from wrk_problems(
        endpoint.request, m.wrk, endpoint.tolerated_statuses, errors_are_results=errors_are_results
    )
    flood = endpoint.flood
    if flood is not None and m.run.flood is not None:
        if m.run.flood_observed_status not in flood.accepted_statuses:
            yield f"the flood's check got {m.run.flood_observed_status}"
        flood_statuses = m.run.flood.statuses
        unexpected = {s: n for s, n in flood_statuses.items() if s not in flood.accepted_statuses}
        if unexpected:
            yield f"the flood got {_statuses(unexpected)}"


def wrk_problems(
    request: Request, result: WrkResult, tolerated: frozenset[int], *, errors_are_results: bool
) -> list[str]:
    """Why a wrk run did not measure the request's expected answer, if it did not."""
    problems: list[str] = []
    allowed = {request.expected_status, *tolerated}
    unexpected = {s: n for s, n in result.statuses.items() if s not in allowed}
    if unexpected:
        problems.append(f"{_statuses(unexpected)} (of {result.requests} answers)")
    # Answers slower than wrk's timeout are a result (p99 then shows as unknown).
    errors = result.socket_errors
    broken = errors.connect + errors.read + errors.write
    if broken and not errors_are_results:
        problems.append(f"{broken} socket errors (connect, read or write)")
    if not result.requests:
        problems.append("no answer at all")
    return problems


def _statuses(counts: dict[int, int]) -> str:
    return ", ".join(f"status {status}: {n}" for status, n in sorted(counts.items()))
