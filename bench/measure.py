"""One measurement: a fresh server, a status check, a warm-up, the wrk run (with a flood
alongside for the flood rows), the server's RSS and log; and the same-core pairing."""

import os
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import lua
from bench.endpoints import PLACEHOLDER, REFERENCE, AppName, Endpoint, Flood, Request
from bench.options import Options
from bench.preparation import Prepared
from bench.server_logs import LogSummary, summarize_log
from bench.servers import Server, running_server, wait_idle
from bench.wrk import Load, Wrk, WrkResult

# The flood outlasts the measurement it surrounds by this much.
FLOOD_TAIL_SECONDS = 1


@dataclass(frozen=True)
class Run:
    """What wrk measured on one server: a warm-up, a pause, the measurement."""

    warmup_requests: int
    # Seconds the server took to finish the warm-up's requests; None: it never did.
    idle_after_warmup: float | None
    wrk: WrkResult
    # Flood rows: what the flood's own wrk measured, and the status its check got.
    flood: WrkResult | None = None
    flood_observed_status: int | None = None


@dataclass(frozen=True)
class Measurement:
    round: int
    expected_status: int
    observed_status: int
    log: LogSummary
    rss_bytes: int | None
    run: Run

    @property
    def wrk(self) -> WrkResult:
        return self.run.wrk


@dataclass(frozen=True)
class SameCore:
    """Both servers on CPU 0 at once, each loaded by its own wrk on CPU 1: the scheduler
    splits the core between them, so the ratio of their req/s is the inverse ratio of
    their cost per request, with the machine's drift acting on both at the same moment."""

    round: int
    reference: WrkResult
    endpoint: WrkResult
    idle_after_warmup: float | None = 0.0

    @property
    def ratio(self) -> float:
        return self.endpoint.requests_per_second / self.reference.requests_per_second


class Harness:
    def __init__(self, options: Options, wrk: Wrk, workdir: Path, prepared: Prepared) -> None:
        self.options = options
        self.wrk = wrk
        self.workdir = workdir
        self.prepared = prepared
        self._scripts: dict[str, Path] = {}
        self._rng = random.Random()

    def headers(self, request: Request) -> dict[str, str]:
        bearer = {"Authorization": f"Bearer {self.prepared.access_token}"}
        return {**request.headers, **(bearer if request.bearer else {})}

    def load(self, name: str, request: Request, base_url: str, connections: int) -> Load:
        script = self._scripts.get(name)
        if script is None:
            script = self.workdir / f"{name}.lua"
            script.write_text(lua.script(request, self.headers(request)))
            self._scripts[name] = script
        # A static request's path is the URL's; a dynamic one's comes from the script.
        url = base_url + (request.path if request.is_static else "/")
        return Load(url, script, connections)

    def env(self, app: AppName) -> Mapping[str, str]:
        return self.prepared.server_env if app == "storefront" else os.environ

    def check_status(self, base_url: str, request: Request) -> int:
        """One request like those of the wrk script, its placeholders filled here."""
        with httpx.Client(timeout=10.0) as client:
            response = client.request(
                request.method,
                base_url + self._fill(request.path),
                headers={k: self._fill(v) for k, v in self.headers(request).items()},
                content=None if request.body is None else self._fill(request.body),
            )
        return response.status_code

    def _fill(self, template: str) -> str:
        catalog = self.prepared.catalog

        def value(kind: str) -> str:
            if kind == "item":
                return str(self._rng.randint(catalog.first_id, catalog.last_id))
            if kind == "page":
                return str(self._rng.randint(1, catalog.pages))
            return f"check-{uuid.uuid4().hex}"

        return PLACEHOLDER.sub(lambda match: value(match.group(1)), template)

    def measure(self, endpoint: Endpoint, number: int) -> Measurement:
        log = self.workdir / f"{endpoint.name}-round{number}.log"
        with running_server(endpoint.app, self.env(endpoint.app), self.workdir, log) as server:
            observed = self.check_status(server.base_url, endpoint.request)
            load = self.load(
                endpoint.name,
                endpoint.request,
                server.base_url,
                endpoint.connections_or(self.options.connections),
            )
            if endpoint.flood is None:
                warmup = self.wrk.run(load, self.options.warmup)
                run = Run(
                    warmup.requests, wait_idle([server]), self.wrk.run(load, self.options.duration)
                )
            else:
                run = self._flooded(endpoint.name, endpoint.flood, server, load)
            # The RSS is the worker's after the run: once it has answered what wrk left it
            # (a flood leaves sign-ins waiting their turn to hash, each holding Argon2's
            # memory while it runs).
            wait_idle([server])
        summary = summarize_log(log, structured=endpoint.app == "storefront")
        log.unlink()  # tens of MB per run: the summary is what we keep
        expected = endpoint.request.expected_status
        return Measurement(number, expected, observed, summary, server.rss_bytes, run)

    def _flooded(self, name: str, flood: Flood, server: Server, load: Load) -> "Run":
        """The measurement amid the flood, which starts with the warm-up and goes on, with
        no pause, until just after the measurement."""
        flood_status = self.check_status(server.base_url, flood.request)
        flood_load = self.load(f"{name}-flood", flood.request, server.base_url, flood.connections)
        seconds = self.options.warmup + self.options.duration + FLOOD_TAIL_SECONDS
        with self.wrk.start(flood_load, seconds) as flooding:
            warmup = self.wrk.run(load, self.options.warmup)
            result = self.wrk.run(load, self.options.duration)
            return Run(warmup.requests, 0.0, result, flooding.result(), flood_status)

    def measure_same_core(self, endpoint: Endpoint, number: int) -> SameCore:
        reference = next(e for e in self.options.endpoints if e.name == REFERENCE)
        pair = (reference, endpoint)
        logs = [self.workdir / f"same-core-{e.name}-{number}.log" for e in pair]
        servers = [
            running_server(e.app, self.env(e.app), self.workdir, log)
            for e, log in zip(pair, logs, strict=True)
        ]
        connections = self.options.connections
        with servers[0] as reference_server, servers[1] as endpoint_server:
            loads = [
                self.load(e.name, e.request, server.base_url, connections)
                for e, server in zip(pair, (reference_server, endpoint_server), strict=True)
            ]
            self._both(loads, self.options.warmup)
            idle = wait_idle([reference_server, endpoint_server])
            reference_run, endpoint_run = self._both(loads, self.options.same_core_seconds)
        for log in logs:
            log.unlink()
        return SameCore(number, reference_run, endpoint_run, idle)

    def _both(self, loads: list[Load], seconds: int) -> list[WrkResult]:
        with (
            self.wrk.start(loads[0], seconds) as first,
            self.wrk.start(loads[1], seconds) as second,
        ):
            return [first.result(), second.result()]
