"""/docs and /redoc work offline: pinned, checksummed assets served by the app itself."""

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from storefront.core.config import Settings
from storefront.core.docs import ASSETS_DIR, ASSETS_URL
from storefront.main import create_app

REPO_ROOT = Path(__file__).resolve().parents[2]
REFRESH_SCRIPT = REPO_ROOT / "scripts" / "refresh-docs-assets.sh"
CHECKSUMS = ASSETS_DIR / "SHA256SUMS"
URL_ATTRIBUTE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
SOURCE_MAP_LINE = re.compile(rb"^(?://|/\*)# sourceMappingURL=", re.MULTILINE)
PLAUSIBLE_TYPES = {
    ".js": {"text/javascript", "application/javascript"},
    ".css": {"text/css"},
    ".png": {"image/png"},
}


def read_checksums() -> dict[str, str]:
    checksums: dict[str, str] = {}
    for line in CHECKSUMS.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        checksums[name.removeprefix("*")] = digest
    return checksums


def test_every_listed_asset_matches_its_checksum() -> None:
    checksums = read_checksums()
    assert checksums
    for name, digest in checksums.items():
        path = ASSETS_DIR / name
        assert path.parent == ASSETS_DIR, name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, name


def test_every_asset_is_listed() -> None:
    on_disk = {path.name for path in ASSETS_DIR.iterdir()} - {CHECKSUMS.name}
    assert on_disk == set(read_checksums())


def test_versions_match_the_refresh_script_pins() -> None:
    pins = dict(re.findall(r'^([A-Z_]+)_VERSION="([^"]+)"$', REFRESH_SCRIPT.read_text(), re.M))

    assert set((ASSETS_DIR / "VERSIONS").read_text().split()) == {
        f"swagger-ui-dist@{pins['SWAGGER_UI_DIST']}",
        f"redoc@{pins['REDOC']}",
    }


def test_assets_reference_no_missing_source_map() -> None:
    for path in [*ASSETS_DIR.glob("*.js"), *ASSETS_DIR.glob("*.css")]:
        assert not SOURCE_MAP_LINE.search(path.read_bytes()), path.name


@pytest.fixture
async def docs_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # A file database: the engine options do not fit SQLite's in-memory pool.
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'docs.db'}",
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_loads_only_local_assets(docs_client: httpx.AsyncClient, page: str) -> None:
    response = await docs_client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = URL_ATTRIBUTE.findall(response.text)
    assert any(url.endswith(".js") for url in urls)
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = await docs_client.get(url)
        assert asset.status_code == 200, url
        content_type = asset.headers["content-type"].split(";")[0]
        assert content_type in PLAUSIBLE_TYPES[Path(url).suffix], url
        assert asset.content == (ASSETS_DIR / Path(url).name).read_bytes(), url
    assert not re.search(r"https?://", response.text)


@pytest.mark.anyio
async def test_docs_pages_allow_what_swagger_ui_and_redoc_need(
    docs_client: httpx.AsyncClient,
) -> None:
    # Swagger UI starts from an inline script; ReDoc runs its search in a worker made from a blob.
    response = await docs_client.get("/docs")
    policy = response.headers["content-security-policy"]
    directives = {name: values for name, *values in map(str.split, policy.split(";"))}

    assert "'unsafe-inline'" in directives["script-src"]
    assert "blob:" in directives["worker-src"]
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.anyio
async def test_oauth2_redirect_page_is_served(docs_client: httpx.AsyncClient) -> None:
    response = await docs_client.get("/docs/oauth2-redirect")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/docs",
        "/redoc",
        "/openapi.json",
        "/docs/oauth2-redirect",
        "/static/docs/redoc.standalone.js",
    ],
)
async def test_production_hides_docs_by_default(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.delenv("DOCS_ENABLED", raising=False)
    settings = Settings(
        _env_file=None,
        environment="production",
        secret_key=SecretStr("x" * 40),
        database_url="postgresql+asyncpg://u@127.0.0.1/db",
        redis_url="redis://127.0.0.1:6379/0",
    )
    app = create_app(settings)
    route_paths = {getattr(route, "path", None) for route in app.routes}
    assert path not in route_paths
    assert ASSETS_URL not in route_paths

    # No lifespan: an unknown route is answered before anything touches the database.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(path)
    assert response.status_code == 404


def test_redoc_loads_nothing_from_a_cdn() -> None:
    # The docs' CSP allows images from 'self' and data: only.
    bundle = (ASSETS_DIR / "redoc.standalone.js").read_text()
    assert "cdn.redoc.ly" not in bundle
    assert "data:image/svg+xml," in bundle
