"""Item images: PUT stores the original and a job renders it (upright, stripped, at most
1200 px and a 200 px thumbnail); the item's URLs then serve the renditions."""

import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageCms
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.jobs.models import Job, JobStatus
from storefront.main import create_app
from tests.conftest import running_client
from tests.fixtures.identity import user_headers
from tests.fixtures.storage import partials, stored_keys
from tests.fixtures.uploads import PDF, form, headers

pytestmark = pytest.mark.anyio

RED = (255, 0, 0)
BLUE = (0, 0, 255)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Rate limits off: on the real Redis, budgets outlive a test (see tests/files)."""
    return settings.model_copy(update={"rate_limit_enabled": False})


@pytest.fixture
async def admin(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    return (await user_headers(client, session, admin=True))[1]


@pytest.fixture
async def item(client: httpx.AsyncClient, admin: dict[str, str]) -> Any:
    response = await client.post(
        "/api/v1/items",
        json={"sku": f"IMG-{uuid.uuid4().hex[:8]}", "name": "Lamp", "category": "home", "price": 5},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def storage_dir(settings: Settings) -> Path:
    return settings.storage_dir


def sideways_photo() -> bytes:
    """2400 x 1200 as stored, red top-left quadrant, EXIF orientation 6: shown upright it
    is 1200 x 2400 with the red quadrant top right. Plus metadata that must not survive."""
    image = Image.new("RGB", (2400, 1200), BLUE)
    image.paste(RED, (0, 0, 1200, 600))
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "Camera Maker"
    exif[0x013B] = "Photographer Name"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, comment=b"secret comment", quality=90)
    return buffer.getvalue()


def encoded(image: Image.Image, format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


async def put_image(
    client: httpx.AsyncClient, auth: dict[str, str], item_id: int, content: bytes
) -> httpx.Response:
    return await client.put(
        f"/api/v1/items/{item_id}/image",
        content=form(content, filename=b"photo.jpg", content_type=b"image/jpeg"),
        headers=headers(auth),
    )


async def job_of(session: AsyncSession, response: httpx.Response) -> Job:
    assert response.status_code == 202, response.text
    job = await session.get(Job, uuid.UUID(response.json()["job_id"]), populate_existing=True)
    assert job is not None
    return job


async def fetched(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, Image.Image]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return response, Image.open(io.BytesIO(response.content))


async def test_a_photo_is_turned_upright_resized_and_stripped_of_metadata(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    item: Any,
    session: AsyncSession,
    storage_dir: Path,
) -> None:
    response = await put_image(client, admin, item["id"], sideways_photo())

    assert response.json() == {
        "item_id": item["id"],
        "job_id": response.json()["job_id"],
        "status": "queued",
    }
    assert (await job_of(session, response)).status == JobStatus.SUCCEEDED
    read = (await client.get(f"/api/v2/items/{item['id']}")).json()
    assert read["image_url"] == f"/api/v1/items/{item['id']}/image"
    assert read["thumbnail_url"] == f"/api/v1/items/{item['id']}/thumbnail"

    served, image = await fetched(client, read["image_url"])
    assert served.headers["content-type"] == "image/jpeg"
    assert image.format == "JPEG"
    assert image.size == (600, 1200)
    rgb = image.convert("RGB")
    assert _near(rgb.getpixel((550, 50)), RED)  # the red quadrant is now top right
    assert _near(rgb.getpixel((50, 50)), BLUE)
    assert _near(rgb.getpixel((550, 1150)), BLUE)
    assert len(image.getexif()) == 0
    assert not {"exif", "comment", "xmp", "icc_profile"} & set(image.info)

    _, thumbnail = await fetched(client, read["thumbnail_url"])
    assert thumbnail.size == (100, 200)
    assert len(thumbnail.getexif()) == 0
    # The original is kept; the renditions are the two others.
    assert len(stored_keys(storage_dir)) == 3
    assert partials(storage_dir) == []


async def test_a_transparent_png_stays_a_png_with_alpha_and_is_never_enlarged(
    client: httpx.AsyncClient, admin: dict[str, str], item: Any, session: AsyncSession
) -> None:
    image = Image.new("RGBA", (300, 100), (0, 255, 0, 0))
    image.paste((0, 255, 0, 255), (0, 0, 150, 100))

    response = await put_image(client, admin, item["id"], encoded(image, "PNG"))

    assert (await job_of(session, response)).status == JobStatus.SUCCEEDED
    served, rendition = await fetched(client, f"/api/v1/items/{item['id']}/image")
    assert served.headers["content-type"] == "image/png"
    assert rendition.mode == "RGBA"
    assert rendition.size == (300, 100)
    assert rendition.getchannel("A").getpixel((10, 10)) == 255
    assert rendition.getchannel("A").getpixel((290, 10)) == 0
    _, thumbnail = await fetched(client, f"/api/v1/items/{item['id']}/thumbnail")
    assert thumbnail.size == (200, 67)


async def test_webp_is_accepted_and_an_icc_profile_is_applied_then_dropped(
    client: httpx.AsyncClient, admin: dict[str, str], item: Any, session: AsyncSession
) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.new("RGB", (1600, 800), RED)
    content = encoded(image, "WEBP", icc_profile=profile, quality=90)

    response = await put_image(client, admin, item["id"], content)

    assert (await job_of(session, response)).status == JobStatus.SUCCEEDED
    _, rendition = await fetched(client, f"/api/v1/items/{item['id']}/image")
    assert rendition.size == (1200, 600)
    assert "icc_profile" not in rendition.info
    assert _near(rendition.convert("RGB").getpixel((600, 300)), RED)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff\xd8\xff\xe0" + b"\x00garbage that is no JPEG" * 20, "not a readable"),
        (sideways_photo()[:2000], "corrupt"),  # a real JPEG, cut short
        # A few kilobytes that would decode to 90 MP: Pillow's own limit refuses it.
        (encoded(Image.new("1", (10_000, 9_000)), "PNG"), "pixels"),
    ],
    ids=["garbage", "truncated", "bomb"],
)
async def test_an_unusable_image_fails_its_job_with_the_reason(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    item: Any,
    session: AsyncSession,
    storage_dir: Path,
    content: bytes,
    reason: str,
) -> None:
    response = await put_image(client, admin, item["id"], content)

    job = await job_of(session, response)
    assert job.status == JobStatus.FAILED
    assert job.attempts == 1  # retrying cannot help
    assert job.error is not None and reason in job.error
    assert str(storage_dir) not in job.error
    read = (await client.get(f"/api/v2/items/{item['id']}")).json()
    assert read["image_url"] is None and read["thumbnail_url"] is None
    assert (await client.get(f"/api/v1/items/{item['id']}/image")).status_code == 404
    assert stored_keys(storage_dir) == set()  # the unusable original is gone too


async def test_an_image_over_the_pixel_limit_is_refused_before_it_is_decoded(
    client: httpx.AsyncClient, admin: dict[str, str], item: Any, session: AsyncSession
) -> None:
    content = encoded(Image.new("1", (8_000, 6_000)), "PNG")  # 48 MP in a small file

    with pytest.warns(Image.DecompressionBombWarning):
        response = await put_image(client, admin, item["id"], content)

    job = await job_of(session, response)
    assert job.status == JobStatus.FAILED
    assert job.error == "PermanentJobError: The image has 48000000 pixels; at most 40000000."


async def test_a_new_image_replaces_the_old_one_and_its_files(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    item: Any,
    session: AsyncSession,
    storage_dir: Path,
) -> None:
    first = await put_image(client, admin, item["id"], encoded(Image.new("RGB", (50, 50)), "PNG"))
    assert (await job_of(session, first)).status == JobStatus.SUCCEEDED
    before = stored_keys(storage_dir)
    old_etag = (await client.get(f"/api/v1/items/{item['id']}/image")).headers["etag"]

    second = await put_image(client, admin, item["id"], sideways_photo())

    assert (await job_of(session, second)).status == JobStatus.SUCCEEDED
    after = stored_keys(storage_dir)
    assert len(after) == 3 and not after & before
    _, image = await fetched(client, f"/api/v1/items/{item['id']}/image")
    assert image.size == (600, 1200)
    new = await client.get(f"/api/v1/items/{item['id']}/image", headers={"If-None-Match": old_etag})
    assert new.status_code == 200


async def test_a_failed_replacement_keeps_serving_the_current_image(
    client: httpx.AsyncClient, admin: dict[str, str], item: Any, session: AsyncSession
) -> None:
    good = await put_image(client, admin, item["id"], sideways_photo())
    assert (await job_of(session, good)).status == JobStatus.SUCCEEDED

    bad = await put_image(client, admin, item["id"], b"\xff\xd8\xff" + b"broken" * 10)

    assert (await job_of(session, bad)).status == JobStatus.FAILED
    _, image = await fetched(client, f"/api/v1/items/{item['id']}/image")
    assert image.size == (600, 1200)


async def test_renditions_have_an_etag_and_are_cacheable(
    client: httpx.AsyncClient, admin: dict[str, str], item: Any, session: AsyncSession
) -> None:
    await job_of(session, await put_image(client, admin, item["id"], sideways_photo()))
    url = f"/api/v1/items/{item['id']}/thumbnail"

    first = await client.get(url)
    again = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
    part = await client.get(url, headers={"Range": "bytes=0-2"})

    assert first.headers["cache-control"] == "public, max-age=300"
    assert again.status_code == 304
    assert part.status_code == 206 and part.content == b"\xff\xd8\xff"


async def test_no_image_yet_is_a_404(client: httpx.AsyncClient, item: Any) -> None:
    for kind in ("image", "thumbnail"):
        response = await client.get(f"/api/v1/items/{item['id']}/{kind}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/items/999999999/image")).status_code == 404


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"plain text named photo.jpg", "UNSUPPORTED_FILE_TYPE"), (PDF, "UNSUPPORTED_FILE_TYPE")],
)
async def test_anything_but_jpeg_png_or_webp_is_refused_with_415(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    item: Any,
    storage_dir: Path,
    content: bytes,
    code: str,
) -> None:
    response = await put_image(client, admin, item["id"], content)

    assert response.status_code == 415
    assert response.json()["code"] == code
    assert stored_keys(storage_dir) == set()


async def test_only_admins_upload_and_only_to_an_existing_item(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: dict[str, str],
    item: Any,
    storage_dir: Path,
) -> None:
    _, user = await user_headers(client, session)
    photo = sideways_photo()

    assert (await put_image(client, {}, item["id"], photo)).status_code == 401
    assert (await put_image(client, user, item["id"], photo)).status_code == 403
    assert (await put_image(client, admin, 999_999_999, photo)).status_code == 404
    assert stored_keys(storage_dir) == set()


@pytest.fixture
async def capped_client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"upload_max_bytes": 5000}), database=database)
    async with running_client(app) as client:
        yield client


async def test_an_image_over_the_upload_cap_is_refused_with_413(
    capped_client: httpx.AsyncClient, admin: dict[str, str], item: Any, storage_dir: Path
) -> None:
    response = await put_image(capped_client, admin, item["id"], sideways_photo())

    assert response.status_code == 413
    assert response.json()["detail"] == "The file is larger than 5000 bytes."
    assert stored_keys(storage_dir) == set()
    assert partials(storage_dir) == []


def _near(pixel: Any, colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 40 for a, b in zip(pixel[:3], colour, strict=True))


async def test_deleting_an_item_deletes_its_image_objects(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: dict[str, str],
    item: Any,
    storage_dir: Path,
) -> None:
    job = await job_of(session, await put_image(client, admin, item["id"], sideways_photo()))
    assert job.status == JobStatus.SUCCEEDED
    assert len(stored_keys(storage_dir)) == 3  # the original and two renditions

    deleted = await client.delete(f"/api/v1/items/{item['id']}", headers=admin)

    assert deleted.status_code == 204
    assert stored_keys(storage_dir) == set()
