"""Shared fixtures: services for the integration tier and a browser for the browser tier.

A missing service skips its tests with a line saying what to start, except under CI=true
(or REQUIRE_SERVICES=true), where it is a failure: CI must never skip a tier silently.
"""

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
SHARED_SAMPLES = REPO_ROOT.parent / "shared" / "samples"
SAMPLE_CONTENT = REPO_ROOT / "sample_content"
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"


def services_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("REQUIRE_SERVICES") == "true"


def missing_service(message: str) -> None:
    """Skip on a developer's machine; fail in CI."""
    if services_required():
        pytest.fail(f"required service missing: {message}", pytrace=False)
    pytest.skip(message)


def digest_text_files() -> list[Path]:
    """Every digest text file the tests know: our own fixtures, sample content and ../shared/samples."""
    files = sorted(DATA_DIR.glob("digest-*.txt")) + sorted(SAMPLE_CONTENT.glob("*.txt"))
    if SHARED_SAMPLES.is_dir():
        files += sorted(SHARED_SAMPLES.glob("*.txt"))
    return files


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        missing_service("Chromium is not installed: apt-get install chromium")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    """A headless Debian Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


# Tier 2 (scripts/test.sh) runs the suite again on PostgreSQL; a test that touches no database
# gives the same answer there, so it runs in tier 1 only. "Touches" means it asks for a
# database fixture (directly or through another fixture), carries django_db, or is integration.
DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server"}
)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("TEST_TIER") != "2":
        return
    kept, deselected = [], []
    for item in items:
        uses_database = (
            item.get_closest_marker("django_db") is not None
            or item.get_closest_marker("integration") is not None
            or not DATABASE_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
        )
        (kept if uses_database else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
