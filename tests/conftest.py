"""Shared test fixtures. Every test runs isolated from the user's keys and data."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT_ROOT / "fixtures"
CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """No test sees a real API key, base URL or the user's data directory."""
    monkeypatch.setenv("DOCANALYZE_HOME", str(tmp_path_factory.mktemp("docanalyze-home")))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    contact = sys.modules.get("docanalyze.models.anthropic.contact")
    if contact is not None:  # no server has answered yet: a port may be used again
        contact.ServerContact.forget_all()
    yield


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    return CORPUS


# --- fake Messages API server (fakeserver) -------------------------------------------
# Imported lazily inside the fixtures, so that a broken import elsewhere in docanalyze does not
# take down every test.

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeserver import FakeMessagesAPI


@pytest.fixture
def make_fake_api() -> Iterator[Callable[..., FakeMessagesAPI]]:
    """A factory: ``make_fake_api(latency=0.2, context_window=1000)`` returns a started server.

    Takes the keyword arguments of ``FakeMessagesAPI``. Every server it made stops at teardown.
    """
    from fakeserver import FakeMessagesAPI

    started: list[FakeMessagesAPI] = []

    def start_fake_api(**settings: Any) -> FakeMessagesAPI:
        api = FakeMessagesAPI(**settings).start()
        started.append(api)
        return api

    yield start_fake_api
    for api in started:
        api.stop()


@pytest.fixture
def fake_api(make_fake_api: Callable[..., FakeMessagesAPI]) -> FakeMessagesAPI:
    """A started fake Messages API with default settings; point a client at ``fake_api.base_url``."""
    return make_fake_api()


@pytest.fixture
def serve(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., FakeMessagesAPI]:
    """``serve(**settings)`` starts a fake API (as :func:`make_fake_api`) and points the SDK at
    it with a test key."""

    def start(**settings: Any) -> FakeMessagesAPI:
        api = make_fake_api(**settings)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-extract")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        return api

    return start
