"""GET /files/{id}/content: streamed from disk, with a safe Content-Disposition, an ETag
(the SHA-256), If-None-Match, and single byte ranges."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.files.conftest import uploaded
from tests.fixtures.storage import stored_keys

pytestmark = pytest.mark.anyio

CONTENT = b"%PDF-1.4\n" + bytes(range(256)) * 40  # 10,249 bytes
SIZE = len(CONTENT)


@pytest.fixture
async def file(client: httpx.AsyncClient, owner: dict[str, str]) -> Any:
    return await uploaded(client, owner, content=CONTENT, filename="Résumé 報告.pdf".encode())


def content_url(file: Any) -> str:
    return f"/api/v1/files/{file['id']}/content"


async def test_the_content_is_streamed_as_an_attachment(
    client: httpx.AsyncClient, owner: dict[str, str], file: Any
) -> None:
    response = await client.get(content_url(file), headers=owner)

    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == f'"{file["sha256"]}"'
    assert response.headers["content-disposition"] == (
        'attachment; filename="Resume.pdf"; '
        "filename*=UTF-8''R%C3%A9sum%C3%A9%20%E5%A0%B1%E5%91%8A.pdf"
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "private, no-cache"


async def test_a_name_with_quotes_and_semicolons_cannot_break_the_header(
    client: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    # A quoted-string with an escaped quote: the parsed name is `evil"; filename=…`.
    file = await uploaded(client, owner, filename=b'evil\\"; filename=x.exe; a=.pdf')

    disposition = (await client.get(content_url(file), headers=owner)).headers[
        "content-disposition"
    ]

    assert disposition == (
        'attachment; filename="evil_ filename=x.exe_ a=.pdf"; '
        "filename*=UTF-8''evil%22%3B%20filename%3Dx.exe%3B%20a%3D.pdf"
    )


async def test_if_none_match_with_the_etag_gives_304(
    client: httpx.AsyncClient, owner: dict[str, str], file: Any
) -> None:
    etag = f'"{file["sha256"]}"'

    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(content_url(file), headers={**owner, "If-None-Match": value})
        assert response.status_code == 304, value
        assert response.content == b""
        assert response.headers["etag"] == etag

    changed = await client.get(content_url(file), headers={**owner, "If-None-Match": '"other"'})
    assert changed.status_code == 200
    assert changed.content == CONTENT


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=100-199", 100, 200),
        ("bytes=10000-", 10000, SIZE),
        ("bytes=-49", SIZE - 49, SIZE),
        ("bytes=-100000", 0, SIZE),  # a suffix longer than the file: all of it
        ("bytes=10240-99999", 10240, SIZE),  # an end past the file is clamped
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE),
        ("BYTES = 5-9", 5, 10),
        ("bytes=5-9,", 5, 10),  # an empty list element is no second range
    ],
)
async def test_one_range_gives_206_with_its_content_range(
    client: httpx.AsyncClient, owner: dict[str, str], file: Any, header: str, start: int, end: int
) -> None:
    response = await client.get(content_url(file), headers={**owner, "Range": header})

    assert response.status_code == 206, response.text
    assert response.content == CONTENT[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert response.headers["content-length"] == str(end - start)
    assert response.headers["etag"] == f'"{file["sha256"]}"'


@pytest.mark.parametrize(
    "header",
    [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0", "bytes=" + "9" * 30 + "-"],
)
async def test_a_range_outside_the_file_gives_416(
    client: httpx.AsyncClient, owner: dict[str, str], file: Any, header: str
) -> None:
    response = await client.get(content_url(file), headers={**owner, "Range": header})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "RANGE_NOT_SATISFIABLE"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-9",  # several ranges: the whole file (documented)
        "bytes=5-1",  # last before first: invalid, ignored
        "bytes=abc",
        "bytes=-",
        "bytes=1-2-3",
        "items=0-5",  # an unknown unit
        "bytes=\u0661-\u0662".encode(),  # Arabic-Indic digits are not digits here
        "",
    ],
)
async def test_a_range_the_server_does_not_serve_gives_the_whole_file(
    client: httpx.AsyncClient, owner: dict[str, str], file: Any, header: str | bytes
) -> None:
    raw = header if isinstance(header, bytes) else header.encode()
    sent = {name.encode(): value.encode() for name, value in owner.items()}
    response = await client.get(content_url(file), headers={**sent, b"Range": raw})

    assert response.status_code == 200
    assert response.content == CONTENT
    assert "content-range" not in response.headers


async def test_if_range_serves_the_range_only_for_the_current_etag(
    client: httpx.AsyncClient, owner: dict[str, str], file: Any
) -> None:
    etag = f'"{file["sha256"]}"'
    current = await client.get(
        content_url(file), headers={**owner, "Range": "bytes=0-9", "If-Range": etag}
    )
    stale = await client.get(
        content_url(file), headers={**owner, "Range": "bytes=0-9", "If-Range": '"old"'}
    )
    weak = await client.get(
        content_url(file), headers={**owner, "Range": "bytes=0-9", "If-Range": f"W/{etag}"}
    )

    assert current.status_code == 206 and current.content == CONTENT[:10]
    assert stale.status_code == 200 and stale.content == CONTENT
    assert weak.status_code == 200


async def test_the_owner_and_admins_may_read_a_file_and_nobody_else(
    client: httpx.AsyncClient,
    owner: dict[str, str],
    stranger: dict[str, str],
    admin: dict[str, str],
    file: Any,
) -> None:
    for path in (f"/api/v1/files/{file['id']}", content_url(file)):
        assert (await client.get(path, headers=owner)).status_code == 200
        assert (await client.get(path, headers=admin)).status_code == 200
        hidden = await client.get(path, headers=stranger)
        missing = await client.get(path.replace(file["id"][:8], "00000000"), headers=stranger)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["detail"] == missing.json()["detail"]
        assert (await client.get(path)).status_code == 401


async def test_a_file_id_that_is_not_a_uuid_is_a_validation_error(
    client: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    response = await client.get("/api/v1/files/42/content", headers=owner)

    assert response.status_code == 422


async def test_the_list_shows_your_files_and_admins_see_all(
    client: httpx.AsyncClient,
    owner: dict[str, str],
    stranger: dict[str, str],
    admin: dict[str, str],
    file: Any,
) -> None:
    theirs = await uploaded(client, stranger)

    mine = (await client.get("/api/v1/files", headers=owner)).json()
    everyone = (await client.get("/api/v1/files?per_page=100", headers=admin)).json()

    assert [row["id"] for row in mine["items"]] == [file["id"]]
    assert mine["total"] == 1
    assert {file["id"], theirs["id"]} <= {row["id"] for row in everyone["items"]}


async def test_delete_removes_the_row_and_then_the_bytes(
    client: httpx.AsyncClient,
    owner: dict[str, str],
    stranger: dict[str, str],
    file: Any,
    storage_dir: Path,
) -> None:
    path = f"/api/v1/files/{file['id']}"
    assert (await client.delete(path, headers=stranger)).status_code == 404
    assert len(stored_keys(storage_dir)) == 1

    response = await client.delete(path, headers=owner)

    assert response.status_code == 204
    assert response.content == b""
    assert stored_keys(storage_dir) == set()
    assert (await client.get(path, headers=owner)).status_code == 404
    assert (await client.get(content_url(file), headers=owner)).status_code == 404
    assert (await client.delete(path, headers=owner)).status_code == 404


async def test_an_admin_may_delete_anybodys_file(
    client: httpx.AsyncClient, admin: dict[str, str], file: Any, storage_dir: Path
) -> None:
    response = await client.delete(f"/api/v1/files/{file['id']}", headers=admin)

    assert response.status_code == 204
    assert stored_keys(storage_dir) == set()


async def test_content_missing_from_storage_is_a_404_not_a_500(
    client: httpx.AsyncClient, owner: dict[str, str], file: Any, storage_dir: Path
) -> None:
    (key,) = stored_keys(storage_dir)
    (storage_dir / key).unlink()

    response = await client.get(content_url(file), headers=owner)

    assert response.status_code == 404
    assert str(storage_dir) not in response.text
