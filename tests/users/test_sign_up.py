"""POST /api/v1/users: public sign-up, one account per address whatever its case."""

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.users.models import Role, User
from tests.fixtures.accounts import PASSWORD, log_in, mails_to, new_email, sign_up, text_of
from tests.fixtures.smtp import SmtpServer

pytestmark = pytest.mark.anyio

SECRET_FIELDS = {"password", "password_hash", "token_version", "access_token", "refresh_token"}


async def test_sign_up_returns_the_user_and_sends_a_welcome_mail(
    client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = new_email()
    response = await client.post(
        "/api/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Ada Lovelace"}
    )
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == email
    assert user["full_name"] == "Ada Lovelace"
    assert user["role"] == "user"
    assert user["is_active"] is True
    assert user["last_login_at"] is None
    assert isinstance(user["id"], int)
    assert not SECRET_FIELDS & user.keys()
    assert PASSWORD not in response.text
    [welcome] = mails_to(smtp_server, email)
    assert "Welcome" in str(welcome["Subject"])
    assert "Ada Lovelace" in text_of(welcome)


async def test_the_password_is_stored_as_an_argon2_hash(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await sign_up(client)
    stored = await session.scalar(select(User).where(User.id == user["id"]))
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


@pytest.mark.parametrize("variant", [str.upper, str.title, lambda email: f"  {email}  "])
async def test_an_address_is_taken_whatever_its_case(
    client: httpx.AsyncClient, variant: object
) -> None:
    email = new_email()
    await sign_up(client, email=email)
    assert callable(variant)
    response = await client.post(
        "/api/v1/users",
        json={"email": variant(email), "password": PASSWORD, "full_name": "Someone Else"},
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "EMAIL_TAKEN"


async def test_one_can_sign_in_with_the_address_in_another_case(client: httpx.AsyncClient) -> None:
    email = "Mixed.Case-" + new_email()
    user = await sign_up(client, email=email)
    assert user["email"] == email
    assert (await log_in(client, email.upper())).status_code == 200


@pytest.mark.parametrize(
    "extra",
    [
        {"role": "admin"},
        {"is_active": False},
        {"id": 1},
        {"token_version": 5},
        {"password_hash": "$argon2id$x"},
        {"created_at": "2020-01-01T00:00:00Z"},
    ],
)
async def test_no_internal_field_can_be_set_at_sign_up(
    client: httpx.AsyncClient, session: AsyncSession, extra: dict[str, object]
) -> None:
    email = new_email()
    body = {"email": email, "password": PASSWORD, "full_name": "Mallory", **extra}
    response = await client.post("/api/v1/users", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "VALIDATION_ERROR"
    assert [error["loc"] for error in problem["errors"]] == [["body", next(iter(extra))]]
    assert await session.scalar(select(User).where(User.email == email)) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("password", "x" * 7),
        ("password", "x" * 129),
        ("email", "not-an-address"),
        ("email", "ada@localhost"),
        ("email", "ada @example.com"),
        ("email", "ada@example.com\r\nBcc: victim@example.com"),
        ("full_name", ""),
        ("full_name", "x" * 201),
        ("full_name", "Ada\nLovelace"),
        ("full_name", "   "),
    ],
)
async def test_bad_sign_ups_are_refused(client: httpx.AsyncClient, field: str, value: str) -> None:
    body = {"email": new_email(), "password": PASSWORD, "full_name": "Ada", field: value}
    response = await client.post("/api/v1/users", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", field]


@pytest.mark.parametrize("password", ["x" * 8, "x" * 128, "  spaces around  "])
async def test_passwords_from_8_to_128_characters_are_kept_exactly(
    client: httpx.AsyncClient, password: str
) -> None:
    user = await sign_up(client, password=password)
    assert (await log_in(client, user["email"], password)).status_code == 200
    if password != password.strip():
        assert (await log_in(client, user["email"], password.strip())).status_code == 401


async def test_sign_up_makes_a_user_never_an_admin(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await sign_up(client)
    stored = await session.get(User, user["id"])
    assert stored is not None
    assert stored.role == Role.USER
