"""Concurrent sign-ups with one address, each request committing for real: one account."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from storefront.core.db import Database, unit_of_work
from storefront.users.models import User, email_key
from tests.conftest import client_from, running_client
from tests.fixtures.accounts import PASSWORD, new_email

pytestmark = pytest.mark.anyio

CONCURRENT = 20


async def test_twenty_concurrent_sign_ups_make_one_account(
    committed_app: FastAPI, committed_database: Database
) -> None:
    email = new_email("race")
    variants = [email.upper() if i % 2 else email for i in range(CONCURRENT)]

    async def sign_up(client: httpx.AsyncClient, address: str) -> httpx.Response:
        body = {"email": address, "password": PASSWORD, "full_name": "Racer"}
        return await client.post("/api/v1/users", json=body)

    async with running_client(committed_app) as client:
        # From as many clients: one client may hash only a couple of passwords at once.
        others = [client_from(client, f"198.51.100.{n}") for n in range(1, CONCURRENT + 1)]
        responses = await asyncio.gather(
            *(sign_up(other, address) for other, address in zip(others, variants, strict=True))
        )
        for other in others:
            await other.aclose()
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201] + [409] * (CONCURRENT - 1), [r.text for r in responses]
        assert all(r.json()["code"] == "EMAIL_TAKEN" for r in responses if r.status_code == 409)
    async with unit_of_work(committed_database.sessionmaker) as session:
        count = await session.scalar(
            select(func.count()).select_from(User).where(User.email_key == email_key(email))
        )
    assert count == 1
