"""AnthropicModel through the real SDK and real HTTP on 127.0.0.1.

Ordinary replies come from the shared fake Messages API (``fake_api``). Faults it cannot produce
yet (overloads, rate limits with retry-after, dropped connections, streams that break) come from
``ScriptedAPI`` below: a tiny stdlib server that answers each request with the next scripted step.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from docanalyze.errors import ConfigError, ModelError
from docanalyze.models.anthropic.client import credentials, new_client
from docanalyze.models.anthropic.environment import redact
from docanalyze.models.anthropic.model import AnthropicModel
from docanalyze.models.anthropic.retry import RetryEvent, RetryPolicy
from docanalyze.models.base import Model, ModelReply, ModelRequest, Usage

MODEL = "claude-sonnet-5-5"
KEY = "fake-test-SECRET-0123456789"
FAST = RetryPolicy(max_attempts=5, max_elapsed=30.0, base_delay=0.001, max_delay=0.005)


def ask(
    prompt: str = "Summarize the contract.", max_tokens: int = 200, **kwargs: Any
) -> ModelRequest:
    return ModelRequest(prompt=prompt, max_tokens=max_tokens, stage="map", **kwargs)


def run(model: AnthropicModel, request: ModelRequest, **kwargs: Any) -> ModelReply:
    """Complete ``request`` in a fresh event loop and close the client afterwards."""

    async def go() -> ModelReply:
        try:
            return await model.complete(request, **kwargs)
        finally:
            await model.aclose()

    return asyncio.run(go())


def failure(model: AnthropicModel, request: ModelRequest | None = None) -> ModelError:
    with pytest.raises(ModelError) as raised:
        run(model, request or ask())
    return raised.value


# --- a scripted server for faults ----------------------------------------------------------------


@dataclass
class Step:
    """How to answer one request: a status with a JSON body, a dropped connection, or an SSE stream.

    ``events`` are sent as a 200 event stream; with ``drop`` after them the stream breaks off.
    """

    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    events: list[tuple[str, dict[str, Any]]] | None = None


def message_json(text: str = "scripted reply", **usage: int) -> dict[str, Any]:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 3, **usage},
    }


def api_error(status: int, error_type: str, message: str, **headers: str) -> Step:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return Step(status, body, {k.replace("_", "-"): v for k, v in headers.items()})


def stream_events(
    text_parts: Sequence[str], *, complete: bool = True
) -> list[tuple[str, dict[str, Any]]]:
    """SSE events of a streamed message with ``text_parts`` as deltas (cut before the end if not complete)."""
    message = {**message_json(""), "content": [], "stop_reason": None}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for part in text_parts:
        delta = {"type": "text_delta", "text": part}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    if complete:
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": 5},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
    return events


class ScriptedAPI:
    """Answers requests with ``steps`` in order, then with ``message_json()``; measures concurrency."""

    def __init__(self, steps: Sequence[Step] = (), *, delay: float = 0.0) -> None:
        self.steps = list(steps)
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def count(self) -> int:
        return len(self.bodies)

    def _next_step(self, body: dict[str, Any], headers: dict[str, str]) -> Step:
        with self._lock:
            self.bodies.append(body)
            self.headers.append(headers)
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.steps.pop(0) if self.steps else Step(body=message_json())

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                headers = {name.lower(): value for name, value in self.headers.items()}
                step = api._next_step(body, headers)
                try:
                    time.sleep(api.delay)
                    self._answer(step)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up first (a timeout test)
                finally:
                    api._done()

            def _answer(self, step: Step) -> None:
                if step.events is not None:
                    self._stream(step)
                elif step.drop:
                    self.close_connection = True  # no response at all
                else:
                    payload = json.dumps(step.body or {}).encode()
                    self.send_response(step.status)
                    for name, value in {"content-type": "application/json", **step.headers}.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def _stream(self, step: Step) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                for name, data in step.events or []:
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()
                if step.drop:
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedAPI]]:
    servers: list[ScriptedAPI] = []

    def start(steps: Sequence[Step] = (), **kwargs: Any) -> ScriptedAPI:
        server = ScriptedAPI(steps, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def model_for(base_url: str, **kwargs: Any) -> AnthropicModel:
    kwargs.setdefault("retry", FAST)
    return AnthropicModel(MODEL, api_key=KEY, base_url=base_url, **kwargs)


# --- construction ------------------------------------------------------------------------------


def test_missing_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as raised:
        AnthropicModel(MODEL)
    assert str(raised.value) == (
        "ANTHROPIC_API_KEY is not set: set it to use Claude (docanalyze report runs without it "
        "too, with --backend extractive; docanalyze extract needs Claude)"
    )


def test_key_and_base_url_come_from_the_environment(
    make_fake_api: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_fake_api(api_key=KEY)  # any other key would get a 401
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    reply = run(AnthropicModel(MODEL), ask("from the environment"))
    assert reply.text == "from the environment"
    assert [r.status for r in api.requests] == [200]


def test_an_auth_token_also_works(
    scripted: Callable[..., ScriptedAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = scripted()
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "token-123")
    run(AnthropicModel(MODEL, base_url=api.base_url), ask())
    assert api.headers[0]["authorization"] == "Bearer token-123"


def test_a_server_that_answers_a_stream_with_one_json_message_is_understood(
    scripted: Callable[..., ScriptedAPI],
) -> None:
    api = scripted([Step(body=message_json("all at once", output_tokens=4))])
    deltas: list[str] = []
    reply = run(model_for(api.base_url), ask(), on_text=deltas.append)
    assert api.bodies[0]["stream"] is True
    assert reply.text == "all at once" == "".join(deltas)
    assert reply.usage.output_tokens == 4


def test_the_key_is_sent(scripted: Callable[..., ScriptedAPI]) -> None:
    api = scripted()
    run(model_for(api.base_url), ask())
    sent = api.headers[0]
    assert sent.get("x-api-key") == KEY or sent.get("authorization") == f"Bearer {KEY}"


def test_limits_come_from_the_catalog_or_defaults() -> None:
    known = AnthropicModel("claude-haiku-4-5", api_key=KEY)
    assert (known.context_window, known.max_output_tokens) == (200_000, 64_000)
    assert known.context_window_known
    unknown = AnthropicModel("claude-future-9", api_key=KEY)
    assert unknown.context_window == 200_000 and not unknown.context_window_known
    assert unknown.max_output_tokens == 64_000
    explicit = AnthropicModel("claude-future-9", api_key=KEY, context_window=50_000)
    assert explicit.context_window == 50_000 and explicit.context_window_known
    assert explicit.max_output_tokens == 25_000
    assert isinstance(known, Model)
    assert known.estimate_tokens("abcdef") == 2


# --- replies through the fake Messages API ------------------------------------------------------


def test_reply_and_usage(fake_api: Any) -> None:
    fake_api.enqueue("The contract runs for two years.")
    model = model_for(fake_api.base_url)
    reply = run(model, ask("Summarize the contract."))
    assert reply.text == "The contract runs for two years."
    assert reply.stop_reason == "end_turn" and not reply.truncated
    assert reply.model == MODEL
    [recorded] = fake_api.requests
    assert reply.usage == Usage(
        requests=1,
        input_tokens=recorded.input_tokens,
        output_tokens=fake_api.count_tokens("The contract runs for two years."),
    )
    assert reply.usage.input_tokens > 0 and reply.duration > 0
    assert recorded.prompt == "Summarize the contract." and recorded.max_tokens == 200
    assert recorded.stream  # every attempt streams: the headers arrive at acceptance
    assert "system" not in recorded.body and "temperature" not in recorded.body
    assert (model.attempts, model.retries) == (1, 0)


def test_system_temperature_and_model_override_are_sent_when_set(fake_api: Any) -> None:
    request = ask(system="You are precise.", temperature=0.2, model="claude-haiku-4-5")
    reply = run(model_for(fake_api.base_url), request)
    [recorded] = fake_api.requests
    assert recorded.system == "You are precise."
    assert recorded.body["temperature"] == 0.2
    assert recorded.model == "claude-haiku-4-5" and reply.model == "claude-haiku-4-5"


def test_a_max_tokens_the_sdk_refuses_unstreamed_is_sent_and_answered(fake_api: Any) -> None:
    text = "A long reply. " * 40
    fake_api.enqueue(text)
    fake_api.enqueue(text)
    model = model_for(fake_api.base_url)
    small = run(model, ask(max_tokens=2_000))
    large = run(model, ask(max_tokens=30_000))  # over the SDK's ten-minute non-streaming rule
    assert [r.stream for r in fake_api.requests] == [True, True]
    assert [r.max_tokens for r in fake_api.requests] == [2_000, 30_000]
    assert large.text == small.text == text
    assert large.usage == small.usage


def test_on_text_streams_deltas(fake_api: Any) -> None:
    text = "word " * 100
    fake_api.enqueue(text)
    deltas: list[str] = []
    reply = run(model_for(fake_api.base_url), ask(), on_text=deltas.append)
    assert fake_api.requests[0].stream
    assert len(deltas) > 1
    assert "".join(deltas) == reply.text == text


def test_max_tokens_stop_is_reported(fake_api: Any) -> None:
    fake_api.enqueue("far too long " * 200)
    reply = run(model_for(fake_api.base_url), ask(max_tokens=20))
    assert reply.stop_reason == "max_tokens" and reply.truncated
    assert reply.usage.output_tokens <= 20


def test_a_new_event_loop_gets_a_new_client(fake_api: Any) -> None:
    model = model_for(fake_api.base_url)
    assert asyncio.run(model.complete(ask("first"))).text == "first"
    assert asyncio.run(model.complete(ask("second"))).text == "second"
    assert model.attempts == 2


def test_wrong_key_is_refused_once_with_advice(make_fake_api: Callable[..., Any]) -> None:
    api = make_fake_api(api_key="the-right-key")
    error = failure(model_for(api.base_url))
    assert str(error) == "the Anthropic API rejected the API key (401): check ANTHROPIC_API_KEY"
    assert [r.status for r in api.requests] == [401]
    shown = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert KEY not in shown


def test_prompt_too_long_names_the_api_message(make_fake_api: Callable[..., Any]) -> None:
    api = make_fake_api(context_window=1_000)
    error = failure(model_for(api.base_url), ask("word " * 3_000, max_tokens=100))
    message = str(error)
    assert message.startswith("the Anthropic API rejected a map request to claude-sonnet-5-5 (400 ")
    assert "too long" in message and "--chunk-size" in message
    assert "\n" not in message
    assert len(api.requests) == 1


# --- faults from the scripted server ------------------------------------------------------------


def test_retries_overload_server_error_and_rate_limit_then_succeeds(
    scripted: Callable[..., ScriptedAPI],
) -> None:
    api = scripted(
        [
            api_error(529, "overloaded_error", "Overloaded"),
            api_error(500, "api_error", "Internal server error"),
            api_error(429, "rate_limit_error", "Slow down", retry_after="0.01"),
        ]
    )
    events: list[RetryEvent] = []
    model = model_for(api.base_url, on_retry=events.append)
    reply = run(model, ask())
    assert reply.text == "scripted reply" and reply.usage.requests == 1
    assert api.count == 4
    assert (model.attempts, model.retries) == (4, 3)
    assert [(e.attempt, e.status) for e in events] == [(1, 529), (2, 500), (3, 429)]
    # A 429 waits for the shared cooldown: retry-after plus a little jitter.
    assert 0.01 <= events[2].delay <= 0.01 + model.limiter.resume_jitter


@pytest.mark.parametrize(
    "headers", [{"retry_after_ms": "300"}, {"retry_after": "0.3"}], ids=["ms", "seconds"]
)
def test_retry_after_is_honoured(
    scripted: Callable[..., ScriptedAPI], headers: dict[str, str]
) -> None:
    api = scripted([api_error(429, "rate_limit_error", "Slow down", **headers)])
    run(model_for(api.base_url), ask())
    assert api.count == 2
    assert api.arrivals[1] - api.arrivals[0] >= 0.29  # the policy alone would wait ~1 ms


def test_dropped_connection_is_retried(scripted: Callable[..., ScriptedAPI]) -> None:
    api = scripted([Step(drop=True)])
    model = model_for(api.base_url)
    assert run(model, ask()).text == "scripted reply"
    assert api.count == 2 and model.retries == 1


def test_stream_broken_midway_restarts_the_text(scripted: Callable[..., ScriptedAPI]) -> None:
    api = scripted(
        [
            Step(events=stream_events(["Half ", "an an"], complete=False), drop=True),
            Step(events=stream_events(["Whole ", "answer."])),
        ]
    )
    received: list[str] = []
    reply = run(model_for(api.base_url), ask(), on_text=received.append, on_restart=received.clear)
    assert api.count == 2
    assert reply.text == "Whole answer." == "".join(received)


def test_error_event_inside_a_stream_is_retried(scripted: Callable[..., ScriptedAPI]) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    api = scripted(
        [
            Step(events=[*stream_events(["Par"], complete=False), ("error", overloaded)]),
            Step(events=stream_events(["Full."])),
        ]
    )
    restarts: list[bool] = []
    reply = run(
        model_for(api.base_url),
        ask(),
        on_text=lambda _: None,
        on_restart=lambda: restarts.append(True),
    )
    assert reply.text == "Full." and api.count == 2 and restarts == [True]


def test_sdk_retries_are_off(scripted: Callable[..., ScriptedAPI]) -> None:
    api = scripted([api_error(529, "overloaded_error", "Overloaded")] * 5)
    model = model_for(api.base_url, retry=RetryPolicy(max_attempts=1))
    error = failure(model)
    assert api.count == 1
    assert str(error).startswith("gave up on a map request after 1 attempt over ")


def test_retries_exhausted_message(scripted: Callable[..., ScriptedAPI]) -> None:
    api = scripted([api_error(529, "overloaded_error", "Overloaded")] * 5)
    model = model_for(api.base_url, retry=RetryPolicy(3, 30.0, 0.001, 0.001))
    message = str(failure(model, ModelRequest("p", 100, stage="reduce")))
    assert api.count == 3
    assert message.startswith("gave up on a reduce request after 3 attempts over ")
    assert message.endswith(
        " s: 529 overloaded_error: Overloaded; try again later or lower --concurrency"
    )


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            api_error(404, "not_found_error", "model: claude-nope"),
            "model 'claude-nope' was not found (404: model: claude-nope): check --model",
        ),
        (
            api_error(403, "permission_error", "no access"),
            (
                "the API key has no access to model 'claude-nope' (403): check --model, "
                "or the key's workspace permissions"
            ),
        ),
        (
            api_error(413, "request_too_large", "too big"),
            "a map request was too large for the Anthropic API (413): lower --chunk-size",
        ),
        (
            api_error(401, "authentication_error", "invalid x-api-key", x_should_retry="true"),
            "the Anthropic API rejected the API key (401): check ANTHROPIC_API_KEY",
        ),
        (
            api_error(503, "api_error", "maintenance", x_should_retry="false"),
            "the Anthropic API refused a map request (503): maintenance",
        ),
    ],
    ids=["404", "403", "413", "401-forced", "503-no-retry"],
)
def test_refusals_are_not_retried(
    scripted: Callable[..., ScriptedAPI], step: Step, expected: str
) -> None:
    api = scripted([step])
    error = failure(model_for(api.base_url), ask(model="claude-nope"))
    assert str(error) == expected
    assert api.count == 1


def test_a_key_echoed_by_the_api_is_redacted(scripted: Callable[..., ScriptedAPI]) -> None:
    api = scripted([api_error(400, "invalid_request_error", f"bad header x-api-key: {KEY}")])
    message = str(failure(model_for(api.base_url)))
    assert KEY not in message
    assert "x-api-key: [redacted]" in message


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_first_connection_fails_fast_naming_the_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}/?token=hidden")
    model = AnthropicModel(MODEL, retry=RetryPolicy(8, 30.0, 0.001, 0.001))
    started = time.monotonic()
    message = str(failure(model))
    assert time.monotonic() - started < 3.0
    assert model.attempts == 2
    assert message.startswith(
        f"could not connect to http://127.0.0.1:{port} (ANTHROPIC_BASE_URL): connection refused "
        "(2 attempts in "
    )
    assert message.endswith("; check ANTHROPIC_BASE_URL and the network")
    assert "hidden" not in message and KEY not in message and "--concurrency" not in message


def test_a_server_that_stops_after_answering_gets_the_full_retry_policy(
    scripted: Callable[..., ScriptedAPI],
) -> None:
    api = scripted()
    model = model_for(api.base_url)
    assert run(model, ask()).text == "scripted reply"
    api.stop()  # now the port refuses connections
    message = str(failure(model))
    assert model.attempts == 1 + FAST.max_attempts
    assert message.startswith(f"gave up on a map request after {FAST.max_attempts} attempts over ")
    assert f"could not connect to {api.base_url} (connection refused)" in message
    assert message.endswith("check the network, then try again")
    assert "--concurrency" not in message


@pytest.mark.parametrize(
    ("step", "advice"),
    [
        (
            api_error(529, "overloaded_error", "Overloaded"),
            "try again later or lower --concurrency",
        ),
        (api_error(429, "rate_limit_error", "slow down"), "lower --concurrency"),
        (api_error(500, "api_error", "Internal"), "try again later"),
    ],
    ids=["529", "429", "500"],
)
def test_only_rate_limits_and_overloads_advise_a_lower_concurrency(
    scripted: Callable[..., ScriptedAPI], step: Step, advice: str
) -> None:
    api = scripted([step] * FAST.max_attempts)
    message = str(failure(model_for(api.base_url)))
    assert message.endswith(advice)
    if step.status == 500:
        assert "--concurrency" not in message


@pytest.mark.parametrize(
    "step",
    [
        api_error(400, "invalid_request_error", f"bad header x-api-key: {KEY}"),
        api_error(404, "not_found_error", f"no model for key {KEY}"),
        api_error(401, "authentication_error", f"invalid x-api-key {KEY}"),
        api_error(503, "api_error", f"{KEY} is busy", x_should_retry="false"),
    ],
    ids=["400", "404", "401", "503"],
)
def test_a_realistic_key_never_reaches_an_error_message(
    scripted: Callable[..., ScriptedAPI], step: Step
) -> None:
    api = scripted([step])
    message = str(failure(model_for(api.base_url)))
    assert KEY not in message and "SECRET" not in message


def test_a_one_letter_key_alters_no_message(scripted: Callable[..., ScriptedAPI]) -> None:
    said = "model: claude-nonexistent does not exist; x marks the spot"
    api = scripted([api_error(400, "invalid_request_error", said)])
    model = AnthropicModel(MODEL, api_key="x", base_url=api.base_url, retry=FAST)
    message = str(failure(model))
    assert said in message and "[redacted]" not in message


def test_credentials_in_the_base_url_are_refused_without_showing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://user:s3cret-pw@127.0.0.1:9/")
    with pytest.raises(ConfigError) as raised:
        AnthropicModel(MODEL)
    assert str(raised.value).startswith("ANTHROPIC_BASE_URL holds a user name and password")
    assert "s3cret-pw" not in str(raised.value)


def test_an_empty_base_url_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "")
    creds = credentials(missing="no key")
    assert creds.base_url is None and not creds.base_url_from_env
    assert str(new_client(creds, timeout=5).base_url).rstrip("/") == "https://api.anthropic.com"


def test_attempts_are_counted_per_request_under_concurrency(
    scripted: Callable[..., ScriptedAPI],
) -> None:
    overloaded = api_error(529, "overloaded_error", "Overloaded")
    api = scripted([overloaded] * 4, delay=0.05)
    model = model_for(api.base_url, retry=RetryPolicy(2, 30.0, 0.001, 0.001), concurrency=2)

    async def two() -> Sequence[ModelReply | BaseException]:
        try:
            return await asyncio.gather(
                model.complete(ask()), model.complete(ask()), return_exceptions=True
            )
        finally:
            await model.aclose()

    results = asyncio.run(two())
    assert api.count == 4 and model.attempts == 4
    for result in results:
        assert isinstance(result, ModelError)
        assert "after 2 attempts" in str(result)


def test_concurrency_is_bounded(scripted: Callable[..., ScriptedAPI]) -> None:
    api = scripted(delay=0.1)
    model = model_for(api.base_url, concurrency=3)

    async def many() -> list[ModelReply]:
        try:
            return await asyncio.gather(*(model.complete(ask(f"p{i}")) for i in range(10)))
        finally:
            await model.aclose()

    replies = asyncio.run(many())
    assert len(replies) == 10 and api.count == 10
    assert api.max_in_flight == 3


def test_usage_counts_cache_tokens_and_ignores_thinking(
    scripted: Callable[..., ScriptedAPI],
) -> None:
    body = message_json(cache_read_input_tokens=7, cache_creation_input_tokens=2)
    body["content"] = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "A"},
        {"type": "text", "text": "B"},
    ]
    api = scripted([Step(body=body)])
    reply = run(model_for(api.base_url), ask())
    assert reply.text == "AB"
    assert reply.usage == Usage(1, 11, 3, 2, 7)


def test_a_slow_server_times_out_and_is_retried(scripted: Callable[..., ScriptedAPI]) -> None:
    api = scripted(delay=0.4)
    model = model_for(api.base_url, timeout=0.1, retry=RetryPolicy(2, 30.0, 0.001, 0.001))
    message = str(failure(model))
    assert api.count == 2
    assert message.startswith("gave up on a map request after 2 attempts over ")
    assert "the request timed out (timeout 0.1 s)" in message


def test_redaction_replaces_only_a_whole_key_of_realistic_length() -> None:
    assert redact("model: claude-nonexistent", ["x"]) == "model: claude-nonexistent"
    assert redact(f"x-api-key: {KEY}, again {KEY}.", [KEY]) == (
        "x-api-key: [redacted], again [redacted]."
    )
    assert redact("model claude-sonnet-5-5", ["claude-sonnet"]) == "model claude-sonnet-5-5"
