"""The dependencies other domains build on: OptionalUser, and the gate of /api routes that
identifies the caller before the rate limiter, so that a signed-in caller has a budget of
their own."""

import httpx
import pytest
from fastapi import FastAPI

from storefront.auth.dependencies import OptionalUser
from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.kit.routing import add_routes, domain_router
from storefront.main import create_app
from tests.conftest import running_client
from tests.fixtures.accounts import account, bearer

pytestmark = pytest.mark.anyio


def with_probe(app: FastAPI) -> FastAPI:
    router = domain_router(prefix="/api/_probe", tags=["probe"])

    @router.get("/whoami")
    async def probe_whoami(user: OptionalUser) -> dict[str, int | None]:
        return {"user_id": user.id if user else None}

    add_routes(app, router)
    return app


async def test_optional_user_is_anonymous_without_credentials_and_401_with_bad_ones(
    settings: Settings, database: Database
) -> None:
    async with running_client(with_probe(create_app(settings, database=database))) as client:
        user = await account(client)
        assert (await client.get("/api/_probe/whoami")).json() == {"user_id": None}
        signed_in = await client.get("/api/_probe/whoami", headers=user.headers)
        assert signed_in.json() == {"user_id": user.id}
        refused = await client.get("/api/_probe/whoami", headers=bearer("not-a-token"))
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"


async def test_signed_in_callers_have_their_own_budget(
    settings: Settings, database: Database
) -> None:
    async with running_client(create_app(settings, database=database)) as client:
        first, second = await account(client), await account(client)
    # One address for both: keyed by IP, the second would find the budget spent.
    limited = settings.model_copy(update={"rate_limit_default": "3/minute"})
    async with running_client(with_probe(create_app(limited, database=database))) as client:
        for _ in range(3):
            response = await client.get("/api/_probe/whoami", headers=first.headers)
            assert response.status_code == 200
            assert response.headers["ratelimit-limit"] == "3"
        assert (await client.get("/api/_probe/whoami", headers=first.headers)).status_code == 429
        assert (await client.get("/api/_probe/whoami", headers=second.headers)).status_code == 200


async def test_a_stale_token_does_not_block_signing_in_again(client: httpx.AsyncClient) -> None:
    """Clients that always send their last token must still reach the public auth routes."""
    user = await account(client)
    await client.post("/api/v1/auth/logout", json={"refresh_token": user.refresh_token})
    response = await client.post(
        "/api/v1/auth/token",
        data={"username": user.email, "password": user.password},
        headers=user.headers,
    )
    assert response.status_code == 200
