"""/api/v1/users/me: one's own account, and changing one's password."""

import httpx
import pytest

from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.main import create_app
from tests.conftest import running_client
from tests.fixtures.accounts import PASSWORD, account, bearer, log_in, new_email, sign_up

pytestmark = pytest.mark.anyio

ME = "/api/v1/users/me"
NEW_PASSWORD = "a much better passphrase"


async def test_me_is_the_signed_in_user_and_nothing_secret(client: httpx.AsyncClient) -> None:
    user = await account(client)
    response = await client.get(ME, headers=user.headers)
    assert response.status_code == 200
    me = response.json()
    assert me["id"] == user.id
    assert me["email"] == user.email
    assert set(me) == {
        "id",
        "email",
        "full_name",
        "role",
        "is_active",
        "created_at",
        "updated_at",
        "last_login_at",
    }


async def test_me_needs_credentials(client: httpx.AsyncClient) -> None:
    for method in ("GET", "PATCH"):
        response = await client.request(method, ME, json={"full_name": "X"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_the_profile_can_be_changed(client: httpx.AsyncClient) -> None:
    user = await account(client)
    email = new_email("renamed")
    response = await client.patch(
        ME, headers=user.headers, json={"full_name": "Augusta Ada King", "email": email}
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "Augusta Ada King"
    assert response.json()["email"] == email
    assert (await client.get(ME, headers=user.headers)).json()["email"] == email
    assert (await log_in(client, email)).status_code == 200
    assert (await log_in(client, user.email)).status_code == 401


async def test_an_empty_change_changes_nothing(client: httpx.AsyncClient) -> None:
    user = await account(client)
    response = await client.patch(ME, headers=user.headers, json={})
    assert response.status_code == 200
    assert response.json()["email"] == user.email


async def test_changing_only_the_case_of_one_s_address(client: httpx.AsyncClient) -> None:
    user = await account(client)
    response = await client.patch(ME, headers=user.headers, json={"email": user.email.upper()})
    assert response.status_code == 200
    assert response.json()["email"] == user.email.upper()


async def test_another_account_s_address_is_409(client: httpx.AsyncClient) -> None:
    user = await account(client)
    taken = (await sign_up(client))["email"]
    response = await client.patch(ME, headers=user.headers, json={"email": taken.upper()})
    assert response.status_code == 409
    assert response.json()["code"] == "EMAIL_TAKEN"


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin"},
        {"is_active": True},
        {"id": 1},
        {"password": NEW_PASSWORD},
        {"token_version": 0},
        {"full_name": None},
        {"email": None},
        {"email": "not an address"},
        {"full_name": ""},
    ],
)
async def test_no_internal_field_can_be_changed(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    user = await account(client)
    response = await client.patch(ME, headers=user.headers, json=body)
    assert response.status_code == 422
    me = (await client.get(ME, headers=user.headers)).json()
    assert me["role"] == "user"
    assert me["email"] == user.email


async def test_changing_the_password_ends_every_session(client: httpx.AsyncClient) -> None:
    user = await account(client)
    other_device = (await log_in(client, user.email)).json()
    response = await client.post(
        f"{ME}/password",
        headers=user.headers,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 204
    for access_token in (user.access_token, other_device["access_token"]):
        assert (await client.get(ME, headers=bearer(access_token))).status_code == 401
    for refresh_token in (user.refresh_token, other_device["refresh_token"]):
        refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
        assert refreshed.status_code == 401
    assert (await log_in(client, user.email)).status_code == 401
    assert (await log_in(client, user.email, NEW_PASSWORD)).status_code == 200


async def test_a_wrong_current_password_changes_nothing(client: httpx.AsyncClient) -> None:
    user = await account(client)
    response = await client.post(
        f"{ME}/password",
        headers=user.headers,
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "WRONG_PASSWORD"
    assert (await client.get(ME, headers=user.headers)).status_code == 200
    assert (await log_in(client, user.email)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD},
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "role": "admin"},
    ],
)
async def test_bad_password_changes_are_422(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    user = await account(client)
    response = await client.post(f"{ME}/password", headers=user.headers, json=body)
    assert response.status_code == 422


async def test_password_guesses_with_a_token_are_limited(
    settings: Settings, database: Database
) -> None:
    limited = settings.model_copy(update={"rate_limit_login": "2/minute"})
    async with running_client(create_app(limited, database=database)) as client:
        user = await account(client)
        body = {"current_password": "guess", "new_password": NEW_PASSWORD}
        statuses = [
            (await client.post(f"{ME}/password", headers=user.headers, json=body)).status_code
            for _ in range(3)
        ]
    # The sign-in spent one attempt of the budget already.
    assert statuses == [400, 429, 429]
