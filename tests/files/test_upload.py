"""POST /files: the bytes are sniffed, hashed and stored under a generated key; the
client's name and Content-Type are metadata at most."""

import hashlib
import uuid
from pathlib import Path

import httpx
import pytest

from tests.files.conftest import upload, uploaded
from tests.fixtures.storage import partials, stored_keys
from tests.fixtures.uploads import BOUNDARY, CONTENT_TYPE, PDF, form, headers, part_head, png

pytestmark = pytest.mark.anyio


async def test_an_upload_is_stored_and_described(
    client: httpx.AsyncClient, owner: dict[str, str], storage_dir: Path
) -> None:
    response = await upload(client, owner, PDF, filename=b"Q3 report.pdf")

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "filename", "content_type", "size", "sha256", "created_at"}
    assert body["filename"] == "Q3 report.pdf"
    assert body["content_type"] == "application/pdf"
    assert body["size"] == len(PDF)
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert response.headers["location"] == f"/api/v1/files/{body['id']}"
    uuid.UUID(body["id"])
    (key,) = stored_keys(storage_dir)
    assert (storage_dir / key).read_bytes() == PDF
    assert partials(storage_dir) == []

    read = await client.get(f"/api/v1/files/{body['id']}", headers=owner)
    assert read.status_code == 200
    assert read.json() == body


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00rest-of-a-jpeg", "image/jpeg"),
        (png(), "image/png"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 rest-of-a-webp", "image/webp"),
        (PDF, "application/pdf"),
    ],
)
async def test_the_type_comes_from_the_content_not_the_name_or_the_header(
    client: httpx.AsyncClient, owner: dict[str, str], content: bytes, expected: str
) -> None:
    body = await uploaded(
        client, owner, content=content, filename=b"misleading.txt", content_type=b"text/plain"
    )

    assert body["content_type"] == expected
    assert body["filename"] == "misleading.txt"


@pytest.mark.parametrize(
    "content",
    [
        b"just some text, not an image",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"GIF89a\x01\x00\x01\x00",
        b"MZ\x90\x00 an executable",
        b"\x89PNG\r\n",  # a PNG signature cut short
        b"",
    ],
)
async def test_content_outside_the_allow_list_is_refused_with_415(
    client: httpx.AsyncClient, owner: dict[str, str], storage_dir: Path, content: bytes
) -> None:
    response = await upload(client, owner, content, filename=b"x.png", content_type=b"image/png")

    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "UNSUPPORTED_FILE_TYPE"
    assert stored_keys(storage_dir) == set()
    assert partials(storage_dir) == []


async def test_a_body_that_is_not_multipart_is_refused_with_415(
    client: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    response = await client.post("/api/v1/files", json={"file": "x"}, headers=owner)

    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_a_form_without_a_file_field_is_a_validation_error(
    client: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/files", content=form(PDF, field=b"document"), headers=headers(owner)
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"loc": ["body", "file"], "msg": "Field required", "type": "missing"}
    ]


async def test_other_fields_are_skipped_and_the_file_field_is_taken(
    client: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    body = (
        part_head(field=b"note", filename=b"note.txt")
        + b"ignored text\r\n"
        + form(PDF, filename=b"the.pdf")
    )

    response = await client.post("/api/v1/files", content=body, headers=headers(owner))

    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "the.pdf"
    assert response.json()["size"] == len(PDF)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (part_head() + PDF, CONTENT_TYPE),  # no closing boundary: the body was cut short
        (b"not multipart at all", CONTENT_TYPE),
        (form(PDF), "multipart/form-data"),  # no boundary parameter
        (form(PDF), "multipart/form-data; boundary=" + "b" * 300),
    ],
)
async def test_a_malformed_body_is_refused_with_400_and_leaves_nothing(
    client: httpx.AsyncClient,
    owner: dict[str, str],
    storage_dir: Path,
    body: bytes,
    content_type: str,
) -> None:
    response = await client.post(
        "/api/v1/files", content=body, headers={**owner, "Content-Type": content_type}
    )

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "MALFORMED_MULTIPART"
    assert response.headers["content-type"] == "application/problem+json"
    assert stored_keys(storage_dir) == set()
    assert partials(storage_dir) == []


async def test_an_anonymous_upload_is_refused_before_the_body_is_read(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    response = await client.post(
        "/api/v1/files", content=form(PDF), headers={"Content-Type": CONTENT_TYPE}
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert stored_keys(storage_dir) == set()


async def test_the_boundary_may_be_quoted(client: httpx.AsyncClient, owner: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/files",
        content=form(PDF),
        headers={**owner, "Content-Type": f'multipart/form-data; boundary="{BOUNDARY}"'},
    )

    assert response.status_code == 201, response.text


async def test_httpx_multipart_files_work_as_a_browser_would_send_them(
    client: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/files", files={"file": ("photo.png", png(), "image/png")}, headers=owner
    )

    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/png"
