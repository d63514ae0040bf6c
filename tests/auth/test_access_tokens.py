"""Access tokens: only our own, unexpired, untampered, for this audience, of the access
type, of a live session, are accepted."""

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr

from storefront.auth import service as auth_service
from storefront.auth.errors import InvalidAccessToken
from storefront.auth.identities import identities
from storefront.auth.tokens import ALGORITHM, token_codec
from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.main import create_app
from tests.conftest import running_client
from tests.fixtures.accounts import Account, account, bearer

pytestmark = pytest.mark.anyio

ME = "/api/v1/users/me"
Claims = dict[str, Any]


def claims_of(token: str) -> Claims:
    decoded: Claims = jwt.decode(token, options={"verify_signature": False})
    return decoded


def sign(claims: Claims, settings: Settings, **headers: Any) -> str:
    codec = token_codec(settings)
    return jwt.encode(
        claims, codec.key, algorithm=ALGORITHM, headers={"kid": codec.key_id, **headers}
    )


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def me_status(client: httpx.AsyncClient, token: str) -> int:
    response = await client.get(ME, headers=bearer(token))
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "INVALID_TOKEN"
    return response.status_code


async def test_the_claims_of_an_access_token(client: httpx.AsyncClient, settings: Settings) -> None:
    user = await account(client)
    header = jwt.get_unverified_header(user.access_token)
    claims = claims_of(user.access_token)
    assert header["alg"] == "HS256"
    assert header["kid"] == token_codec(settings).key_id
    assert set(claims) == {"iss", "aud", "sub", "sid", "iat", "exp", "jti", "type"}
    assert claims["sub"] == str(user.id)
    assert claims["type"] == "access"
    assert claims["iss"] == settings.jwt_issuer
    assert claims["aud"] == settings.jwt_audience
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds
    uuid.UUID(claims["sid"])


async def test_a_re_signed_copy_is_accepted(client: httpx.AsyncClient, settings: Settings) -> None:
    """The forging below is sound: unchanged claims, signed again, pass."""
    user = await account(client)
    assert await me_status(client, sign(claims_of(user.access_token), settings)) == 200


def _expired(claims: Claims) -> None:
    claims["iat"] = int(time.time()) - 3600
    claims["exp"] = int(time.time()) - 60


def _future(claims: Claims) -> None:
    claims["iat"] = int(time.time()) + 3600


CHANGES: dict[str, Callable[[Claims], None]] = {
    "expired": _expired,
    "issued in the future": _future,
    "wrong audience": lambda claims: claims.update(aud="another-api"),
    "audience list": lambda claims: claims.update(aud=[claims["aud"], "another-api"]),
    "wrong issuer": lambda claims: claims.update(iss="someone-else"),
    "refresh type": lambda claims: claims.update(type="refresh"),
    "no type": lambda claims: claims.pop("type"),
    "no expiry": lambda claims: claims.pop("exp"),
    "no session": lambda claims: claims.pop("sid"),
    "no jti": lambda claims: claims.pop("jti"),
    "numeric subject": lambda claims: claims.update(sub=int(claims["sub"])),
    "another session": lambda claims: claims.update(sid=str(uuid.uuid4())),
    "garbage session": lambda claims: claims.update(sid="not-a-uuid"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
async def test_tokens_with_bad_claims_are_refused(
    client: httpx.AsyncClient, settings: Settings, change: Callable[[Claims], None]
) -> None:
    user = await account(client)
    claims = claims_of(user.access_token)
    change(claims)
    assert await me_status(client, sign(claims, settings)) == 401


async def test_a_token_naming_another_user_of_the_session_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    first, second = await account(client), await account(client)
    claims = claims_of(first.access_token)
    claims["sub"] = str(second.id)
    assert await me_status(client, sign(claims, settings)) == 401


async def test_tampered_tokens_are_refused(client: httpx.AsyncClient) -> None:
    user = await account(client)
    header, payload, signature = user.access_token.split(".")
    claims = claims_of(user.access_token)
    claims["sub"] = "1"
    tampered_payload = f"{header}.{b64(claims)}.{signature}"
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for token in (tampered_payload, f"{header}.{payload}.{flipped}", f"{header}.{payload}."):
        assert await me_status(client, token) == 401


async def test_alg_none_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    user = await account(client)
    kid = token_codec(settings).key_id
    payload = b64(claims_of(user.access_token))
    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg, 'typ': 'JWT', 'kid': kid})}.{payload}."
        assert await me_status(client, token) == 401


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_another_algorithm_with_the_right_key_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await account(client)
    codec = token_codec(settings)
    token = jwt.encode(
        claims_of(user.access_token), codec.key, algorithm="HS512", headers={"kid": codec.key_id}
    )
    assert await me_status(client, token) == 401


async def test_an_unknown_or_missing_key_id_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await account(client)
    claims = claims_of(user.access_token)
    codec = token_codec(settings)
    unknown_kid = jwt.encode(claims, codec.key, algorithm=ALGORITHM, headers={"kid": "0" * 16})
    no_kid = jwt.encode(claims, codec.key, algorithm=ALGORITHM)
    assert await me_status(client, unknown_kid) == 401
    assert await me_status(client, no_kid) == 401


async def test_a_token_signed_with_another_secret_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await account(client)
    other = settings.model_copy(update={"secret_key": SecretStr("another secret " * 4)})
    assert await me_status(client, sign(claims_of(user.access_token), other)) == 401


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Token abc",
        "bearer not.a.jwt",
        "Bearer !!!.e30.c2ln",
        "Bearer W10.e30.c2ln",  # a header that is a JSON list
        "Bearer eyJraWQiOlsxXX0.e30.c2ln",  # a kid that is a list
    ],
)
async def test_malformed_authorization_headers_are_401(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await client.get(ME, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_no_credentials_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(ME)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "UNAUTHORIZED"


async def test_tokens_of_the_previous_key_work_while_it_rotates(
    settings: Settings, database: Database
) -> None:
    old_key, new_key = SecretStr("old secret " * 5), SecretStr("new secret " * 5)
    before = settings.model_copy(update={"secret_key": old_key})
    during = settings.model_copy(update={"secret_key": new_key, "previous_secret_key": old_key})
    after = settings.model_copy(update={"secret_key": new_key})
    async with running_client(create_app(before, database=database)) as client:
        old: Account = await account(client)
    async with running_client(create_app(during, database=database)) as client:
        assert await me_status(client, old.access_token) == 200
        new = await client.post("/api/v1/auth/refresh", json={"refresh_token": old.refresh_token})
        assert new.status_code == 200
        new_token = new.json()["access_token"]
        assert jwt.get_unverified_header(new_token)["kid"] == token_codec(during).key_id
        assert token_codec(during).key_id != token_codec(before).key_id
    async with running_client(create_app(after, database=database)) as client:
        assert await me_status(client, old.access_token) == 401
        assert await me_status(client, new_token) == 200


async def test_authenticate_token_serves_websockets_too(
    client: httpx.AsyncClient, settings: Settings, database: Database
) -> None:
    user = await account(client)
    known = identities(database.invalidations)
    found = await auth_service.authenticate_token(
        database.reads, known, settings=settings, token=user.access_token
    )
    assert found.id == user.id
    with pytest.raises(InvalidAccessToken):
        await auth_service.authenticate_token(
            database.reads, known, settings=settings, token="x.y.z"
        )
