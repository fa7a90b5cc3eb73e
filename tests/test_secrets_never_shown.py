"""The API key never shows: not in the repr of what holds it, not cut in half in an error."""

from __future__ import annotations

from docanalyze.models.anthropic.client import credentials
from docanalyze.models.anthropic.model import AnthropicModel
from docanalyze.models.batches.api import SdkBatchAPI
from docanalyze.options import Options

KEY = "sk-ant-api03-" + "Zx9" * 30 + "-AAAA"


def test_nothing_that_holds_the_key_shows_it_in_its_repr() -> None:
    model = AnthropicModel("claude-sonnet-4-5", api_key=KEY, base_url="http://127.0.0.1:9")
    batches = SdkBatchAPI(api_key=KEY, base_url="http://127.0.0.1:9")
    shown = [
        repr(model),
        repr(model.endpoint),
        repr(credentials(KEY, None, missing="no key")),
        repr(batches),
        repr(vars(batches)),
        repr(vars(model)),
    ]
    assert all(KEY not in text and KEY[:20] not in text for text in shown), shown
    assert "127.0.0.1:9" in repr(model.endpoint)  # the rest is still shown


def test_a_pdf_password_is_not_in_the_options_repr() -> None:
    assert "hunter2-secret" not in repr(Options(password="hunter2-secret"))


class Failure(Exception):
    """An SDK error whose message quotes the key across the 300-character cut."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def test_an_error_detail_is_redacted_before_it_is_shortened() -> None:
    batches = SdkBatchAPI(api_key=KEY, base_url="http://127.0.0.1:9")
    detail = "x" * 280 + " " + KEY + " rejected"
    message = batches._failure("submit a batch", Failure(detail))
    assert KEY[:12] not in message, message
    assert "[redacted]" in message
