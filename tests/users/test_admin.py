"""Admin user management: list, read, change the role, deactivate."""

import httpx
import pytest

from storefront.core.config import Settings
from storefront.core.db import Database
from tests.fixtures.accounts import Account, account, admin_account, bearer, log_in, new_email

pytestmark = pytest.mark.anyio

USERS = "/api/v1/users"


@pytest.fixture
async def admin(client: httpx.AsyncClient, database: Database, settings: Settings) -> Account:
    return await admin_account(client, database, settings)


async def test_admin_routes_are_401_for_anonymous_and_403_for_users(
    client: httpx.AsyncClient, admin: Account
) -> None:
    user = await account(client)
    requests = [
        ("GET", USERS, None),
        ("GET", f"{USERS}/{admin.id}", None),
        ("PATCH", f"{USERS}/{admin.id}", {"role": "user"}),
        ("GET", f"{USERS}/999999999", None),
    ]
    for method, path, body in requests:
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, path
        assert anonymous.headers["www-authenticate"] == "Bearer"
        forbidden = await client.request(method, path, json=body, headers=user.headers)
        assert forbidden.status_code == 403, path
        assert forbidden.json()["code"] == "FORBIDDEN"


async def test_admins_list_and_search_users(client: httpx.AsyncClient, admin: Account) -> None:
    tag = new_email("needle").split("@")[0]
    for name in ("Alan Turing", "Alonzo Church"):
        await client.post(
            USERS,
            json={"email": f"{tag}-{name[:3]}@example.com", "password": "p" * 8, "full_name": name},
        )
    found = await client.get(USERS, params={"q": tag.upper()}, headers=admin.headers)
    assert found.status_code == 200
    page = found.json()
    assert page["total"] == 2
    assert page["pages"] == 1
    assert [user["full_name"] for user in page["items"]] == ["Alan Turing", "Alonzo Church"]
    by_name = await client.get(USERS, params={"q": "alonzo church"}, headers=admin.headers)
    assert "Alonzo Church" in [user["full_name"] for user in by_name.json()["items"]]
    paged = await client.get(
        USERS, params={"q": tag, "per_page": 1, "page": 2}, headers=admin.headers
    )
    assert [user["full_name"] for user in paged.json()["items"]] == ["Alonzo Church"]
    assert paged.json()["pages"] == 2


async def test_search_text_is_literal(client: httpx.AsyncClient, admin: Account) -> None:
    await account(client)
    response = await client.get(USERS, params={"q": "%"}, headers=admin.headers)
    assert response.status_code == 200
    assert all("%" in user["email"] + user["full_name"] for user in response.json()["items"])


@pytest.mark.parametrize("params", [{"per_page": 101}, {"page": 0}, {"q": ""}])
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, admin: Account, params: dict[str, int | str]
) -> None:
    response = await client.get(USERS, params=params, headers=admin.headers)
    assert response.status_code == 422


async def test_admins_read_any_user(client: httpx.AsyncClient, admin: Account) -> None:
    user = await account(client)
    response = await client.get(f"{USERS}/{user.id}", headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["email"] == user.email
    missing = await client.get(f"{USERS}/999999999", headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"


async def test_promoting_a_user_gives_them_the_admin_routes(
    client: httpx.AsyncClient, admin: Account
) -> None:
    user = await account(client)
    assert (await client.get(USERS, headers=user.headers)).status_code == 403
    response = await client.patch(
        f"{USERS}/{user.id}", headers=admin.headers, json={"role": "admin"}
    )
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    # The role is read on each request: the same token is an admin's now.
    assert (await client.get(USERS, headers=user.headers)).status_code == 200


async def test_deactivation_stops_tokens_and_keys_at_once(
    client: httpx.AsyncClient, admin: Account
) -> None:
    user = await account(client)
    key = (
        await client.post("/api/v1/auth/api-keys", headers=user.headers, json={"name": "ci"})
    ).json()["key"]
    assert (await client.get(f"{USERS}/me", headers={"X-API-Key": key})).status_code == 200
    response = await client.patch(
        f"{USERS}/{user.id}", headers=admin.headers, json={"is_active": False}
    )
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert (await client.get(f"{USERS}/me", headers=user.headers)).status_code == 401
    assert (await client.get(f"{USERS}/me", headers={"X-API-Key": key})).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": user.refresh_token}
    )
    assert refreshed.status_code == 401
    assert (await log_in(client, user.email)).status_code == 401
    # Back in service: keys work again, but the sessions of before stay ended.
    await client.patch(f"{USERS}/{user.id}", headers=admin.headers, json={"is_active": True})
    assert (await client.get(f"{USERS}/me", headers={"X-API-Key": key})).status_code == 200
    assert (await client.get(f"{USERS}/me", headers=user.headers)).status_code == 401
    signed_in = await log_in(client, user.email)
    assert signed_in.status_code == 200
    me = await client.get(f"{USERS}/me", headers=bearer(signed_in.json()["access_token"]))
    assert me.status_code == 200


async def test_admins_cannot_lock_themselves_out(client: httpx.AsyncClient, admin: Account) -> None:
    for body in ({"role": "user"}, {"is_active": False}):
        response = await client.patch(f"{USERS}/{admin.id}", headers=admin.headers, json=body)
        assert response.status_code == 409
    assert (await client.get(USERS, headers=admin.headers)).status_code == 200
    harmless = await client.patch(
        f"{USERS}/{admin.id}", headers=admin.headers, json={"role": "admin", "is_active": True}
    )
    assert harmless.status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"role": "superuser"}, {"is_active": None}, {"email": "x@example.com"}, {"full_name": "X"}],
)
async def test_only_role_and_activity_are_changed_by_admins(
    client: httpx.AsyncClient, admin: Account, body: dict[str, object]
) -> None:
    user = await account(client)
    response = await client.patch(f"{USERS}/{user.id}", headers=admin.headers, json=body)
    assert response.status_code == 422


async def test_a_missing_user_is_404_for_admins(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.patch(
        f"{USERS}/999999999", headers=admin.headers, json={"role": "admin"}
    )
    assert response.status_code == 404
