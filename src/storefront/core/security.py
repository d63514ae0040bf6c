"""Password hashing off the event loop, bounded, and the opaque secrets of tokens and keys."""

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from functools import cache
from typing import Annotated, TypeVar

from fastapi import Depends
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher
from starlette.requests import HTTPConnection

from storefront.core.config import Settings
from storefront.core.errors import RateLimited, ServiceUnavailable

T = TypeVar("T")

# Who is asking for a hash: the rate limiter's client (core/ratelimit sets it per request).
hashing_for: ContextVar[str] = ContextVar("storefront.hashing_for", default="")
# The hashing threads' niceness: under load the event loop (every other request) comes
# first, and hashes use what the loop leaves; an idle process hashes at full speed.
HASHING_NICENESS = 19
# How long a client's sign-in waits for one of its own earlier ones to finish: then a 503.
TURN_WAIT_SECONDS = 10.0


class PasswordHashingBusy(ServiceUnavailable):
    default_detail = "Too many sign-ins at once; retry shortly."


class TooManyHashesOfOneClient(RateLimited):
    default_detail = "Too many sign-ins of yours at once; retry shortly."

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


def _lower_priority() -> None:
    # On Linux a thread has a niceness of its own, set through its thread id.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


class PasswordHasher:
    """Argon2id in a small thread pool of its own.

    Hashing is CPU-bound and slow on purpose: on the event loop it would stall every other
    request, and in the shared thread pool a login flood would crowd out the rest. So at
    most `concurrency` hashes run at once (argon2-cffi releases the GIL while it works), in
    threads of the lowest priority (measured: a flood of sign-ins for unknown accounts cut
    item reads to 7 % of their rate on one core), and when `max_waiting` more are already
    queued for those threads the caller gets a 503 at once.

    One client (`hashing_for`) has at most `concurrency` hashes queued or running, so that
    one flood cannot take every place from everybody else's sign-ins; its further requests
    wait their turn (up to `max_waiting` of them, for at most `TURN_WAIT_SECONDS`), which
    costs nothing while they wait. Refused at once instead, a flood's requests would come
    back as fast as they are answered, and answering them took the CPU from every other
    request (measured: item reads at 40 % of their rate during a 50-connection flood, 2,700
    refusals a second). Beyond that, a 429 at once.
    """

    def __init__(
        self,
        *,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        concurrency: int,
        max_waiting: int,
    ) -> None:
        hasher = Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._hash = PasswordHash((hasher,))
        self._executor = ThreadPoolExecutor(
            concurrency, thread_name_prefix="password-hash", initializer=_lower_priority
        )
        self._capacity = concurrency + max_waiting
        self._per_client = concurrency
        self._max_waiting = max_waiting
        self._in_flight = 0
        # Per client: its requests queued, running or waiting their turn, and the turns.
        self._of_client: dict[str, int] = {}
        self._turns: dict[str, asyncio.Semaphore] = {}
        self._decoy: str | None = None

    def admit(self) -> str:
        """The client asking, if a hash of theirs may start or wait now; else the refusal."""
        client = hashing_for.get()
        if self._of_client.get(client, 0) >= self._per_client + self._max_waiting:
            raise TooManyHashesOfOneClient()
        if self._in_flight >= self._capacity:
            raise PasswordHashingBusy()
        return client

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        client = self.admit()
        self._of_client[client] = self._of_client.get(client, 0) + 1
        turn = self._turns.setdefault(client, asyncio.Semaphore(self._per_client))
        try:
            try:
                async with asyncio.timeout(TURN_WAIT_SECONDS):
                    await turn.acquire()
            except TimeoutError:
                raise PasswordHashingBusy() from None
            try:
                if self._in_flight >= self._capacity:
                    raise PasswordHashingBusy()
                self._in_flight += 1
                try:
                    loop = asyncio.get_running_loop()
                    return await loop.run_in_executor(self._executor, function, *args)
                finally:
                    self._in_flight -= 1
            finally:
                turn.release()
        finally:
            if (left := self._of_client[client] - 1) > 0:
                self._of_client[client] = left
            else:
                del self._of_client[client], self._turns[client]

    async def hash(self, password: str) -> str:
        return await self._run(self._hash.hash, password)

    async def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """Whether `password` matches, and a new hash to store when the parameters changed.
        A hash in no format we know matches nothing."""
        return await self._run(self._verify_and_update, password, hashed)

    def _verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
        try:
            return self._hash.verify_and_update(password, hashed)
        except UnknownHashError:
            return False, None

    async def verify_decoy(self, password: str) -> None:
        """As slow as checking a real password: for an account that does not exist, so
        that the answer's timing cannot tell which accounts do."""
        if self._decoy is None:
            self._decoy = await self.hash(secrets.token_urlsafe(16))
        await self._run(self._hash.verify, password, self._decoy)


@cache
def _hasher(
    time_cost: int, memory_kib: int, parallelism: int, concurrency: int, max_waiting: int
) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost,
        memory_kib=memory_kib,
        parallelism=parallelism,
        concurrency=concurrency,
        max_waiting=max_waiting,
    )


def password_hasher(settings: Settings) -> PasswordHasher:
    """One hasher (and one bound on concurrent hashing) per process and configuration."""
    return _hasher(
        settings.password_hash_time_cost,
        settings.password_hash_memory_kib,
        settings.password_hash_parallelism,
        settings.password_hash_concurrency,
        settings.password_hash_max_waiting,
    )


async def get_password_hasher(connection: HTTPConnection) -> PasswordHasher:
    """Every route that asks for the hasher hashes: one that could not hash now is refused
    before it costs anything else (a flood's sign-ins then cost less than a read; declare
    it before the route's other dependencies)."""
    hasher = password_hasher(connection.state.settings)
    hasher.admit()
    return hasher


Passwords = Annotated[PasswordHasher, Depends(get_password_hasher)]


def new_secret(nbytes: int = 32) -> str:
    """A random URL-safe secret: refresh tokens, reset tokens, API keys."""
    return secrets.token_urlsafe(nbytes)


def secret_digest(secret: str) -> str:
    """What is stored of a high-entropy secret. A fast hash suffices: there is nothing to
    guess, unlike a password."""
    return hashlib.sha256(secret.encode()).hexdigest()


def digests_match(secret: str, digest: str) -> bool:
    return hmac.compare_digest(secret_digest(secret), digest)
