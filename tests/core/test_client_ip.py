"""Which address a request is counted against, with and without trusted proxies."""

import pytest
from starlette.types import Scope

from storefront.core.ratelimit.client_ip import (
    client_ip,
    ip_bucket,
    parse_address,
    parse_trusted_networks,
)

TRUSTED = parse_trusted_networks(["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.1"])


def scope_from(peer: str | None, *forwarded_for: str) -> Scope:
    headers = [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded_for]
    return {
        "type": "http",
        "client": (peer, 4321) if peer is not None else None,
        "headers": [(b"host", b"test"), *headers],
    }


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # An untrusted peer is the client, whatever it claims.
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        # A trusted proxy without the header is itself the client.
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        # Right to left past every trusted hop; what the client wrote on the left is ignored.
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.3.3.3, 192.0.2.1"], "198.51.100.1"),
        # Several headers are one list, in order.
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1", "10.3.3.3"], "198.51.100.1"),
        # Nothing but trusted hops: the leftmost one.
        ("10.0.0.2", ["10.4.4.4, 10.3.3.3"], "10.4.4.4"),
        # A malformed hop stops the walk at the last address a trusted proxy vouched for.
        ("10.0.0.2", ["198.51.100.1, garbage, 10.3.3.3"], "10.3.3.3"),
        ("10.0.0.2", ["198.51.100.1, "], "10.0.0.2"),
        ("10.0.0.2", ["unknown"], "10.0.0.2"),
        # Ports and brackets, as some proxies write them.
        ("10.0.0.2", ["198.51.100.1:8443"], "198.51.100.1"),
        ("10.0.0.2", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("2001:db8:ffff::1", ["2001:db8:1::9"], "2001:db8:1::9"),
        # An IPv4 peer seen through an IPv6 socket is still that IPv4 address.
        ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
    ],
)
def test_client_ip(peer: str, forwarded_for: list[str], expected: str) -> None:
    assert client_ip(scope_from(peer, *forwarded_for), TRUSTED) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip(scope_from("10.0.0.2", "198.51.100.1"), ()) == "10.0.0.2"


def test_without_a_peer_there_is_no_address() -> None:
    assert client_ip(scope_from(None, "198.51.100.1"), TRUSTED) is None


@pytest.mark.parametrize(
    "text",
    ["", "nope", "1.2.3", "1.2.3.4.5", "[::1", "[::1]x", "1.2.3.4:", "1.2.3.4:ab", "300.1.1.1"],
)
def test_malformed_addresses_are_refused(text: str) -> None:
    assert parse_address(text) is None


@pytest.mark.parametrize(
    ("ip", "bucket"),
    [
        ("198.51.100.1", "198.51.100.1"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64_network(ip: str, bucket: str) -> None:
    assert ip_bucket(ip) == bucket
