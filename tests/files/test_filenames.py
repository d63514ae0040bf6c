"""A client's file name is display metadata: whatever it sends, nothing is written
outside STORAGE_DIR, nothing under its name, and what comes back is safe to show."""

from pathlib import Path

import httpx
import pytest

from tests.files.conftest import upload, uploaded
from tests.fixtures.storage import files_under, partials, stored_keys

pytestmark = pytest.mark.anyio

LONG = b"a" * 4000 + b".pdf"

HOSTILE_NAMES = [
    (b"../../etc/passwd", "passwd"),
    (b"..\\x", "x"),
    (b"..\\..\\windows\\system32\\drivers\\etc\\hosts", "hosts"),
    (b"/absolute/path/report.pdf", "report.pdf"),
    (b"C:\\Users\\me\\report.pdf", "report.pdf"),
    (b"nul\x00byte.pdf", "nulbyte.pdf"),
    (b"line\r\nbreak.pdf", None),  # CR LF end the part header: the body is malformed
    (b"tab\tand\x1fcontrols\x7f.pdf", "tab and controls.pdf"),
    ("\u202egpj.exe".encode(), "gpj.exe"),  # a right-to-left override, dropped
    ("zero\u200bwidth.pdf".encode(), "zerowidth.pdf"),
    (b"caf\xe9 latin-1.pdf", "caf\ufffd latin-1.pdf"),  # not UTF-8: marked, not guessed
    (b"\xff\xfe\xfd", "\ufffd\ufffd\ufffd"),
    ("報告 2026.pdf".encode(), "報告 2026.pdf"),
    (b"..", "upload.pdf"),
    (b".", "upload.pdf"),
    (b"", "upload.pdf"),
    (b"   ", "upload.pdf"),
    (b"trailing dots...", "trailing dots"),
    (LONG, "a" * 251 + ".pdf"),
]


@pytest.mark.parametrize(("raw", "shown"), HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
async def test_a_hostile_name_never_becomes_a_path(
    client: httpx.AsyncClient,
    owner: dict[str, str],
    storage_dir: Path,
    tmp_path: Path,
    raw: bytes,
    shown: str | None,
) -> None:
    response = await upload(client, owner, filename=raw)

    if shown is None:
        assert response.status_code == 400, response.text
        assert stored_keys(storage_dir) == set()
    else:
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["filename"] == shown
        assert len(body["filename"].encode()) <= 255
        assert len(stored_keys(storage_dir)) == 1
        download = await client.get(f"/api/v1/files/{body['id']}/content", headers=owner)
        assert download.status_code == 200
        disposition = download.headers["content-disposition"]
        assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
    # The whole test directory: the sqlite database lives elsewhere, so anything here
    # besides stored objects would have been written under a client's name.
    assert {name for name in files_under(tmp_path) if not name.startswith("files/")} == set()
    assert partials(storage_dir) == []
    assert not (storage_dir.parent.parent / "etc").exists()


async def test_one_storage_object_per_upload_however_alike_the_names(
    client: httpx.AsyncClient, owner: dict[str, str], storage_dir: Path
) -> None:
    names = [b"same.pdf", b"same.pdf", b"./same.pdf", b"../files/same.pdf"]
    ids = {(await uploaded(client, owner, filename=name))["id"] for name in names}

    assert len(ids) == 4
    assert len(stored_keys(storage_dir)) == 4
