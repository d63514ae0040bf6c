"""Download building blocks on their own: ranges, entity tags, Content-Disposition."""

import pytest

from storefront.core.downloads.disposition import ascii_fallback, content_disposition
from storefront.core.downloads.ranges import ByteRange, RangeNotSatisfiable, requested_range
from storefront.core.downloads.validators import none_match, strong_match


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("report.pdf", "report.pdf"),
        ("Résumé.pdf", "Resume.pdf"),
        ("報告.pdf", "download.pdf"),
        ("報告", "download"),
        ('a"b\\c;d.pdf', "a_b_c_d.pdf"),
        ("x.p%df", "x"),  # an extension that is not plain letters and digits is dropped
        ("...", "download"),
        ("", "download"),
        ("naïve café.tar.gz", "naive cafe.tar.gz"),
    ],
)
def test_the_ascii_fallback_is_plain_and_safe(name: str, fallback: str) -> None:
    assert ascii_fallback(name) == fallback


def test_the_exact_name_travels_percent_encoded_in_filename_star() -> None:
    assert content_disposition("a b/ü.pdf", disposition="inline") == (
        "inline; filename=\"a b_u.pdf\"; filename*=UTF-8''a%20b%2F%C3%BC.pdf"
    )


def test_an_empty_file_has_no_satisfiable_range() -> None:
    with pytest.raises(RangeNotSatisfiable) as refused:
        requested_range("bytes=0-", None, size=0, etag="e")

    assert refused.value.headers == {"Content-Range": "bytes */0"}
    assert requested_range(None, None, size=0, etag="e") is None


def test_a_range_is_exclusive_at_its_end() -> None:
    window = requested_range("bytes=2-4", None, size=10, etag="e")

    assert window == ByteRange(2, 5)
    assert window.length == 3
    assert window.content_range(10) == "bytes 2-4/10"


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"e"', True),
        ('W/"e"', True),
        ('"x" , "e"', True),
        ("*", True),
        ('"x"', False),
        ("e", False),
    ],
)
def test_if_none_match_compares_weakly(header: str, matches: bool) -> None:
    assert none_match(header, "e") is matches


@pytest.mark.parametrize(("header", "matches"), [('"e"', True), ('W/"e"', False), ("e", False)])
def test_if_range_compares_strongly(header: str, matches: bool) -> None:
    assert strong_match(header, "e") is matches
