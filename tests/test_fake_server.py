"""The fake Messages API, driven through the real anthropic SDK over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from docanalyze.text.tokens import estimate_tokens
from fakeserver import ApiError, Exchange, FakeMessagesAPI, RecordedRequest
from fakeserver.tokenizer import (
    count_tokens,
    split_into_chunks,
    token_pieces,
    truncate_to_tokens,
)
from tests.conftest import PROJECT_ROOT

MakeFakeApi = Callable[..., FakeMessagesAPI]
MODEL = "claude-sonnet-5-5"
PROSE = (
    "The committee reviewed the quarterly figures in detail. Revenue rose by 12% compared with "
    "last year, while operating costs stayed broadly flat; the board therefore approved the new "
    "budget, subject to an independent audit of the procurement process."
)


def sdk_client(api: FakeMessagesAPI, api_key: str = "test-key") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=api.base_url, api_key=api_key, max_retries=0)


def async_sdk_client(api: FakeMessagesAPI) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=api.base_url, api_key="test-key", max_retries=0)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def raw_post(
    api: FakeMessagesAPI, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST without the SDK, to send what the SDK refuses to send."""
    connection = http.client.HTTPConnection(*api.address, timeout=5)
    sent = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    sent.update(headers or {})
    connection.request("POST", path, body=body, headers={k: v for k, v in sent.items() if v})
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


# --- plain and streamed replies ------------------------------------------------------------------


def test_create_echoes_the_last_user_message_with_usage(fake_api: FakeMessagesAPI) -> None:
    messages = [*user("first question"), {"role": "assistant", "content": "an answer"}]
    messages.append({"role": "user", "content": [{"type": "text", "text": PROSE}]})

    message = sdk_client(fake_api).messages.create(
        model=MODEL, max_tokens=1000, system="Be brief.", messages=messages
    )

    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.id.startswith("msg_")
    assert message.content[0].type == "text" and message.content[0].text == PROSE
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    expected_input = (
        count_tokens("Be brief.")
        + sum(count_tokens(text) for text in ("first question", "an answer", PROSE))
        + 3 * 4
        + 3
    )
    assert message.usage.input_tokens == expected_input
    assert message.usage.output_tokens == count_tokens(PROSE)
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_read_input_tokens == 0
    assert message._request_id is not None and message._request_id.startswith("req_")


def test_stream_helper_gives_the_same_text_and_message_as_create(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(stream_chunk_tokens=5)
    client = sdk_client(api)
    plain = client.messages.create(model=MODEL, max_tokens=1000, messages=user(PROSE))

    with client.messages.stream(model=MODEL, max_tokens=1000, messages=user(PROSE)) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()

    assert len(deltas) == -(-count_tokens(PROSE) // 5)
    assert "".join(deltas) == PROSE == final.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == plain.stop_reason == "end_turn"
    assert final.usage.input_tokens == plain.usage.input_tokens
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert [request.stream for request in api.requests] == [False, True]


def test_create_with_stream_true_sends_the_real_event_sequence(fake_api: FakeMessagesAPI) -> None:
    stream = sdk_client(fake_api).messages.create(
        model=MODEL, max_tokens=100, messages=user("short reply"), stream=True
    )
    events = list(stream)

    names = [event.type for event in events]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the ping in between is swallowed by the SDK
    start, delta, message_delta = events[0], events[2], events[4]
    assert start.type == "message_start" and start.message.content == []
    assert start.message.usage.output_tokens == 1
    assert delta.type == "content_block_delta" and delta.delta.type == "text_delta"
    assert delta.delta.text == "short reply"
    assert message_delta.type == "message_delta"
    assert message_delta.delta.stop_reason == "end_turn"
    assert message_delta.usage.output_tokens == count_tokens("short reply")


def test_sse_wire_format_is_event_then_data(fake_api: FakeMessagesAPI) -> None:
    connection = http.client.HTTPConnection(*fake_api.address, timeout=5)
    body = {"model": MODEL, "max_tokens": 10, "stream": True, "messages": user("hi")}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    connection.request("POST", "/v1/messages", body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    text = response.read().decode()

    assert response.getheader("content-type", "").startswith("text/event-stream")
    assert response.getheader("request-id", "").startswith("req_")
    frames = text.split("\n\n")[:-1]
    assert all(frame.startswith("event: ") and "\ndata: {" in frame for frame in frames)
    assert [frame.split("\n")[0][len("event: ") :] for frame in frames][:3] == [
        "message_start",
        "content_block_start",
        "ping",
    ]


@pytest.mark.parametrize("streamed", [False, True])
def test_a_reply_longer_than_max_tokens_is_cut_exactly(
    fake_api: FakeMessagesAPI, streamed: bool
) -> None:
    client = sdk_client(fake_api)
    message: anthropic.types.Message
    if streamed:
        with client.messages.stream(model=MODEL, max_tokens=7, messages=user(PROSE)) as stream:
            message = stream.get_final_message()
    else:
        message = client.messages.create(model=MODEL, max_tokens=7, messages=user(PROSE))

    text = message.content[0].text  # type: ignore[union-attr]
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 7 == count_tokens(text)
    assert PROSE.startswith(text)


# --- limits and errors ---------------------------------------------------------------------------


def test_a_prompt_over_the_context_window_is_refused_like_the_real_api(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(context_window=1_000)
    prompt = "word " * 1_200  # 1200 tokens + 4 + 3

    with pytest.raises(anthropic.BadRequestError) as raised:
        sdk_client(api).messages.create(model=MODEL, max_tokens=10, messages=user(prompt))

    assert "prompt is too long: 1207 tokens > 1000 maximum" in str(raised.value)
    assert raised.value.status_code == 400
    assert raised.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 1207 tokens > 1000 maximum",
        },
    }
    assert api.requests[-1].status == 400 and api.requests[-1].input_tokens == 1207


def test_input_plus_max_tokens_over_the_window_is_refused(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(context_window=1_000)
    with pytest.raises(anthropic.BadRequestError, match=r"907 \+ 200 > 1000"):
        sdk_client(api).messages.create(model=MODEL, max_tokens=200, messages=user("word " * 900))


def test_max_tokens_over_the_output_limit_is_refused(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(max_output_tokens=100)
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: 101 > 100"):
        sdk_client(api).messages.create(model=MODEL, max_tokens=101, messages=user("hi"))


def test_a_wrong_api_key_gets_401(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(api_key="right-key")
    with pytest.raises(anthropic.AuthenticationError) as raised:
        sdk_client(api, api_key="wrong-key").messages.create(
            model=MODEL, max_tokens=10, messages=user("hi")
        )
    assert raised.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert (
        sdk_client(api, api_key="right-key")
        .messages.count_tokens(model=MODEL, messages=user("hi"))
        .input_tokens
        == 8
    )


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        (
            {"x-api-key": ""},
            {"model": MODEL, "max_tokens": 5, "messages": user("x")},
            401,
            "API key",
        ),
        (
            {"anthropic-version": ""},
            {"model": MODEL, "max_tokens": 5, "messages": user("x")},
            400,
            "anthropic-version",
        ),
        ({}, {"max_tokens": 5, "messages": user("x")}, 400, "model: Field required"),
        ({}, {"model": MODEL, "messages": user("x")}, 400, "max_tokens: Field required"),
        (
            {},
            {"model": MODEL, "max_tokens": 0, "messages": user("x")},
            400,
            "greater than or equal",
        ),
        ({}, {"model": MODEL, "max_tokens": 5, "messages": []}, 400, "at least one message"),
        (
            {},
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]},
            400,
            "messages.0.role",
        ),
    ],
)
def test_invalid_requests_get_helpful_errors_in_the_real_shape(
    fake_api: FakeMessagesAPI,
    headers: dict[str, str],
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    answered, response_headers, payload = raw_post(
        fake_api, "/v1/messages", json.dumps(body).encode(), headers
    )
    assert answered == status
    assert payload["type"] == "error" and message in payload["error"]["message"]
    assert response_headers["content-type"] == "application/json"
    assert response_headers["request-id"].startswith("req_")


def test_a_body_that_is_not_json_gets_400(fake_api: FakeMessagesAPI) -> None:
    status, _, payload = raw_post(fake_api, "/v1/messages", b"{not json")
    assert status == 400 and "not valid JSON" in payload["error"]["message"]


def test_an_unknown_path_gets_404_in_the_real_shape(fake_api: FakeMessagesAPI) -> None:
    status, headers, payload = raw_post(fake_api, "/v1/complete", b"{}")
    assert status == 404
    assert payload["error"]["type"] == "not_found_error" and payload["type"] == "error"
    assert headers["request-id"].startswith("req_")


# --- recording, scripting, responders ------------------------------------------------------------


def test_requests_are_recorded_with_the_key_redacted(fake_api: FakeMessagesAPI) -> None:
    client = anthropic.Anthropic(
        base_url=fake_api.base_url,
        api_key="secret-key",
        max_retries=0,
        default_headers={"x-api-key": "secret-key"},
    )
    client.messages.create(
        model=MODEL,
        max_tokens=50,
        system=[{"type": "text", "text": "System A"}, {"type": "text", "text": "System B"}],
        messages=user("record me"),
    )

    (recorded,) = fake_api.requests
    assert isinstance(recorded, RecordedRequest)
    assert recorded.path == "/v1/messages" and recorded.status == 200 and not recorded.stream
    assert recorded.headers["x-api-key"] == "<redacted>"
    assert recorded.headers["authorization"] == "<redacted>"
    assert "secret-key" not in json.dumps(recorded.headers)
    assert recorded.headers["anthropic-version"]
    assert recorded.prompt == "record me"
    assert recorded.system == "System A\nSystem B"
    assert recorded.max_tokens == 50 and recorded.model == MODEL
    assert (
        recorded.input_tokens == count_tokens("System A\nSystem B") + count_tokens("record me") + 7
    )
    fake_api.requests.clear()  # a copy: the server's record is untouched
    assert len(fake_api.requests) == 1


def test_scripted_replies_come_first_in_order_then_the_responder(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(responder=lambda request: f"responder saw {request.prompt!r}")
    api.enqueue("first scripted")
    api.enqueue("second scripted", stop_reason="refusal")
    client = sdk_client(api)

    replies = [
        client.messages.create(model=MODEL, max_tokens=100, messages=user(f"q{index}"))
        for index in range(3)
    ]

    assert [reply.content[0].text for reply in replies] == [  # type: ignore[union-attr]
        "first scripted",
        "second scripted",
        "responder saw 'q2'",
    ]
    assert [reply.stop_reason for reply in replies] == ["end_turn", "refusal", "end_turn"]
    assert api.pending_replies == 0


def test_the_responder_sees_the_recorded_request(make_fake_api: MakeFakeApi) -> None:
    seen: list[RecordedRequest] = []

    def summarize(request: RecordedRequest) -> str:
        seen.append(request)
        return f"{request.system}|{request.prompt.upper()}"

    api = make_fake_api(responder=summarize)
    reply = sdk_client(api).messages.create(
        model=MODEL, max_tokens=100, system="sys", messages=user("hello")
    )

    assert reply.content[0].text == "sys|HELLO"  # type: ignore[union-attr]
    assert seen[0].model == MODEL and seen[0].input_tokens == api.requests[0].input_tokens


def test_a_failing_responder_gives_a_500_api_error(make_fake_api: MakeFakeApi) -> None:
    def broken(request: RecordedRequest) -> str:
        raise KeyError("no such template")

    api = make_fake_api(responder=broken)
    with pytest.raises(anthropic.InternalServerError, match="KeyError"):
        sdk_client(api).messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
    assert api.requests[-1].status == 500


def test_stop_sequences_cut_the_reply(fake_api: FakeMessagesAPI) -> None:
    reply = sdk_client(fake_api).messages.create(
        model=MODEL, max_tokens=100, messages=user("one two STOP three"), stop_sequences=["STOP"]
    )
    assert reply.content[0].text == "one two "  # type: ignore[union-attr]
    assert reply.stop_reason == "stop_sequence" and reply.stop_sequence == "STOP"


def test_count_tokens_endpoint(fake_api: FakeMessagesAPI) -> None:
    counted = sdk_client(fake_api).messages.count_tokens(
        model=MODEL, system="You summarize.", messages=user(PROSE)
    )
    assert counted.input_tokens == count_tokens("You summarize.") + count_tokens(PROSE) + 4 + 3
    assert fake_api.token_counts[-1].path == "/v1/messages/count_tokens"
    assert fake_api.requests == []  # count_tokens calls are kept apart from message requests


# --- the policy seam (rate limits and fault injection plug in here) ----------------------------


class RefuseEverySecondRequest:
    """A toy rate limiter: every second request gets a 429 with retry-after."""

    def __init__(self) -> None:
        self.seen = 0

    def admit(self, exchange: Exchange) -> None:
        self.seen += 1
        exchange.response_headers["anthropic-ratelimit-requests-remaining"] = str(self.seen % 2)
        if self.seen % 2 == 0:
            raise ApiError(429, "rate limited: slow down", headers={"retry-after": "1"})


def test_a_policy_can_refuse_a_request_and_add_headers(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(policies=[RefuseEverySecondRequest()])
    client = sdk_client(api)

    first = client.messages.with_raw_response.create(model=MODEL, max_tokens=5, messages=user("a"))
    with pytest.raises(anthropic.RateLimitError) as raised:
        client.messages.create(model=MODEL, max_tokens=5, messages=user("b"))

    assert first.headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert raised.value.response.headers["retry-after"] == "1"
    assert raised.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "rate limited: slow down"},
    }
    assert [request.status for request in api.requests] == [200, 429]
    assert api.pending_replies == 0


class SlowStream:
    def admit(self, exchange: Exchange) -> None:
        exchange.seconds_between_events = 0.05


def test_a_policy_can_pace_a_stream(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(policies=[SlowStream()], stream_chunk_tokens=1)
    started = time.perf_counter()
    with sdk_client(api).messages.stream(
        model=MODEL, max_tokens=10, messages=user("a b c d")
    ) as stream:
        assert "".join(stream.text_stream) == "a b c d"
    assert time.perf_counter() - started >= 9 * 0.05  # 10 events, 9 gaps


# --- HTTP behaviour ------------------------------------------------------------------------------


def test_twenty_concurrent_requests_are_served_concurrently(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(latency=0.2)

    async def ask_twenty() -> list[str]:
        async with async_sdk_client(api) as client:
            replies = await asyncio.gather(
                *(
                    client.messages.create(model=MODEL, max_tokens=10, messages=user(f"n{index}"))
                    for index in range(20)
                )
            )
        return [reply.content[0].text for reply in replies]  # type: ignore[union-attr]

    started = time.perf_counter()
    texts = asyncio.run(ask_twenty())
    elapsed = time.perf_counter() - started

    assert texts == [f"n{index}" for index in range(20)]
    assert elapsed < 2.0, f"20 requests with 0.2 s latency took {elapsed:.2f} s: not concurrent"


def test_latency_delays_the_reply(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(latency=0.3)
    started = time.perf_counter()
    with sdk_client(api).messages.stream(model=MODEL, max_tokens=10, messages=user("x")) as stream:
        stream.get_final_message()
    assert time.perf_counter() - started >= 0.3


def test_the_server_binds_loopback_only(fake_api: FakeMessagesAPI) -> None:
    host, port = fake_api.address
    assert host == "127.0.0.1"
    assert fake_api.base_url == f"http://127.0.0.1:{port}"
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    for address in _non_loopback_ipv4_addresses():
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=1).close()


def _non_loopback_ipv4_addresses() -> set[str]:
    """This machine's other IPv4 addresses, as far as its host name resolves."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return set()
    return {str(info[4][0]) for info in infos if not str(info[4][0]).startswith("127.")}


def test_connections_are_kept_alive_between_requests(fake_api: FakeMessagesAPI) -> None:
    connection = http.client.HTTPConnection(*fake_api.address, timeout=5)
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    sockets = []
    for prompt in ("one", "two"):
        for stream in (False, True):
            body = {"model": MODEL, "max_tokens": 5, "stream": stream, "messages": user(prompt)}
            connection.request("POST", "/v1/messages", body=json.dumps(body), headers=headers)
            response = connection.getresponse()
            assert response.status == 200 and prompt in response.read().decode()
            assert not response.will_close
            sockets.append(connection.sock)
    status, _, _ = raw_post(fake_api, "/v1/nowhere", b"{}")  # an error keeps it alive too
    assert status == 404
    assert sockets[0] is not None and all(sock is sockets[0] for sock in sockets)
    connection.close()


def test_stop_ends_idle_connections_and_can_be_repeated() -> None:
    api = FakeMessagesAPI().start()
    client = sdk_client(api)
    # leaves a kept-alive connection open
    client.messages.create(model=MODEL, max_tokens=5, messages=user("x"))

    started = time.perf_counter()
    api.stop()
    api.stop()

    assert time.perf_counter() - started < 1.0
    assert not api.running
    with pytest.raises(RuntimeError, match="not running"):
        _ = api.base_url


def test_the_context_manager_starts_and_stops() -> None:
    with FakeMessagesAPI() as api:
        port = api.address[1]
        assert sdk_client(api).messages.create(model=MODEL, max_tokens=5, messages=user("ok"))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_the_sdk_finds_the_server_through_environment_variables(
    fake_api: FakeMessagesAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake")
    reply = anthropic.Anthropic(max_retries=0).messages.create(
        model=MODEL, max_tokens=5, messages=user("env")
    )
    assert reply.content[0].text == "env"  # type: ignore[union-attr]


def test_command_line_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fakeserver", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=PROJECT_ROOT,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        banner = [process.stdout.readline() for _ in range(4)]
        assert "http://127.0.0.1:" in banner[0], "".join(banner) + process.stderr.read()
        base_url = banner[0].split()[-1]
        assert f"ANTHROPIC_BASE_URL={base_url} ANTHROPIC_API_KEY=fake docanalyze" in banner[2]
        client = anthropic.Anthropic(base_url=base_url, api_key="fake", max_retries=0)
        assert client.messages.create(model=MODEL, max_tokens=5, messages=user("cli")).content
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read()
        assert "Stopped." in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


# --- the tokenizer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("   \n\t", 0),
        ("a", 1),
        ("abcd", 1),
        ("abcde", 2),
        ("hello world", 4),  # 2 + 2
        ("2024", 1),
        ("A1b2C3d4e", 3),
        ("hello, world!", 6),  # 2 + , + 2 + !
        ("你好世界", 4),
        ("こんにちは", 5),
        ("안녕하세요", 5),
        ("「中文」。", 5),
        ("ＡＢＣ", 3),  # fullwidth letters are one token each
        ("café", 2),  # "caf" + "é"
        ("中文 English", 4),  # 2 + ceil(7/4)
        ("\u3000中", 1),  # the ideographic space is whitespace
    ],
)
def test_count_tokens_follows_the_documented_rules(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens


@pytest.mark.parametrize(
    "text", ["", "  ", PROSE, " lead and trail  ", "中文，English mixed 123456789!"]
)
def test_token_pieces_reassemble_the_text(text: str) -> None:
    pieces = token_pieces(text)
    assert "".join(pieces) == text
    if text.strip():
        assert len(pieces) == count_tokens(text)


def test_truncate_to_tokens_gives_an_exact_prefix() -> None:
    for limit in range(count_tokens(PROSE) + 2):
        cut = truncate_to_tokens(PROSE, limit)
        assert PROSE.startswith(cut)
        assert count_tokens(cut) == min(limit, count_tokens(PROSE))
    assert truncate_to_tokens("你好世界", 2) == "你好"


def test_split_into_chunks_covers_the_text() -> None:
    chunks = split_into_chunks(PROSE, 10)
    assert "".join(chunks) == PROSE
    assert all(count_tokens(chunk) == 10 for chunk in chunks[:-1])
    assert split_into_chunks("", 10) == []
    with pytest.raises(ValueError):
        split_into_chunks(PROSE, 0)


CHINESE_PROSE = (
    "委员会详细审阅了本季度的财务数据。与去年相比，收入增长了百分之十二，而运营成本基本持平；"
    "因此，董事会批准了新的预算，但须对采购流程进行独立审计。"
)


@pytest.mark.parametrize("text", [PROSE * 5, CHINESE_PROSE * 5], ids=["english", "chinese"])
def test_the_client_estimator_errs_high_against_the_server_tokenizer(text: str) -> None:
    assert estimate_tokens(text) >= count_tokens(text)


def test_replies_take_the_time_of_their_tokens_after_the_first_token(
    make_fake_api: MakeFakeApi,
) -> None:
    text = "Every word of this reply is written at the model's speed. " * 20
    tokens = count_tokens(text)
    api = make_fake_api(latency=0.2, token_seconds=0.004, responder=lambda _: text)
    client = sdk_client(api)
    started = time.monotonic()
    with client.messages.stream(
        model="claude-sonnet-5-5", max_tokens=4000, messages=user("hi")
    ) as stream:
        first = None
        for _ in stream.text_stream:
            first = first or time.monotonic() - started
        message = stream.get_final_message()
    took = time.monotonic() - started
    assert message.usage.output_tokens == tokens
    assert first is not None and 0.2 <= first < 0.2 + 0.004 * tokens / 2
    assert 0.2 + 0.004 * tokens <= took < 0.2 + 0.004 * tokens + 1.0
    started = time.monotonic()
    client.messages.create(model="claude-sonnet-5-5", max_tokens=4000, messages=user("hi"))
    assert time.monotonic() - started >= 0.2 + 0.004 * tokens


def test_replies_are_padded_to_their_share_of_the_input(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(responder=lambda _: "FACT-0001 (p. 1)", reply_share=0.15)
    prompt = "The inspectors recorded the condition of every pump on the site. " * 200
    reply = sdk_client(api).messages.create(
        model="claude-sonnet-5-5", max_tokens=8000, messages=user(prompt)
    )
    [request] = api.requests
    assert reply.content[0].text.startswith("FACT-0001 (p. 1)\n")
    assert 0.15 * request.input_tokens <= reply.usage.output_tokens
    assert reply.usage.output_tokens <= 0.15 * request.input_tokens + 20
    short = sdk_client(api).messages.create(
        model="claude-sonnet-5-5", max_tokens=8000, messages=user("hi")
    )
    assert short.content[0].text == "FACT-0001 (p. 1)", "a reply long enough stays as it is"
