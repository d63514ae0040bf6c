"""Real API processes for the live-update tests."""

import pytest

from tests.fixtures.live import live_cleanup
from tests.fixtures.servers import StartServers, admin_email, start_servers, wait_until_live

__all__ = ["admin_email", "live_cleanup", "start_servers"]


@pytest.fixture
async def servers(start_servers: StartServers) -> list[str]:
    """Two API processes on the shared Redis."""
    urls = start_servers(2)
    await wait_until_live(*urls)
    return urls
