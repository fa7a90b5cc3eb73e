"""Citations on the fake Messages API, through the real anthropic SDK over HTTP.

Documents (plain text, custom content, PDF) and search results with citations enabled are
answered with cited text blocks in the locations the Citations docs define; streams carry
``citations_delta`` events; malformed blocks get the real 400s; a model told to err makes
exactly the errors asked for, deterministically.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from pypdf import PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from fakeserver import CitationErrors, CitingResponder, FakeMessagesAPI
from fakeserver.citable import MAX_PDF_PAGES
from fakeserver.tokenizer import count_tokens
from fakeserver.validation import MAX_REQUEST_BYTES
from tests.test_fake_server import raw_post, sdk_client

MakeFakeApi = Callable[..., FakeMessagesAPI]
MODEL = "claude-sonnet-4-5"
FACT = re.compile(r"FACT-\d+")
PAGE_NOTE = re.compile(r"\(p\. (\d+)\)")
PAGED_TEXT = (
    "[Page 1]\nThe committee met in March. FACT-0001 the budget stands at 3.8 million dollars.\n"
    "The roof was replaced.\n\n[Page 2]\nAsbestos was found in the basement. FACT-0002 removal\n"
    "takes three weeks! The reading room moves.\n[Page 3]\nFACT-0003 the plan is due by 2 April."
)
TRUE_PAGES = {"FACT-0001": 1, "FACT-0002": 2, "FACT-0003": 3}


def citing(*, enabled: bool = True) -> dict[str, bool]:
    return {"enabled": enabled}


def text_document(data: str, *, enabled: bool = True, title: str | None = "Notes") -> Any:
    source = {"type": "text", "media_type": "text/plain", "data": data}
    return {
        "type": "document",
        "source": source,
        "title": title,
        "citations": citing(enabled=enabled),
    }


def content_document(blocks: list[str], *, title: str = "Minutes") -> Any:
    content = [{"type": "text", "text": block} for block in blocks]
    source = {"type": "content", "content": content}
    return {"type": "document", "source": source, "title": title, "citations": citing()}


def search_result(source: str, title: str, blocks: list[str]) -> Any:
    content = [{"type": "text", "text": block} for block in blocks]
    return {
        "type": "search_result",
        "source": source,
        "title": title,
        "content": content,
        "citations": citing(),
    }


def pdf_bytes(pages: list[str]) -> bytes:
    stream = io.BytesIO()
    pdf_canvas = canvas.Canvas(stream, pagesize=A4, invariant=1)
    for text in pages:
        pdf_canvas.drawString(72, 720, text)
        pdf_canvas.showPage()
    pdf_canvas.save()
    return stream.getvalue()


def pdf_document(raw: bytes, *, enabled: bool = True) -> Any:
    data = base64.b64encode(raw).decode()
    source = {"type": "base64", "media_type": "application/pdf", "data": data}
    return {
        "type": "document",
        "source": source,
        "title": "Report",
        "citations": citing(enabled=enabled),
    }


def ask(*blocks: Any, question: str = "What are the key points?") -> list[Any]:
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": question}]}]


def create(api: FakeMessagesAPI, messages: list[Any], max_tokens: int = 1000) -> Any:
    return sdk_client(api).messages.create(model=MODEL, max_tokens=max_tokens, messages=messages)


def cited_blocks(message: Any) -> list[tuple[str, Any]]:
    """(text, citation) of each text block with citations: each has exactly one here."""
    pairs = []
    for block in message.content:
        if block.citations:
            assert len(block.citations) == 1
            pairs.append((block.text, block.citations[0]))
    return pairs


# --- the three document types and search results ---------------------------------------------


def test_a_plain_text_document_is_cited_by_character(fake_api: FakeMessagesAPI) -> None:
    message = create(fake_api, ask(text_document(PAGED_TEXT)))

    pairs = cited_blocks(message)
    assert [FACT.findall(text) for text, _ in pairs] == [
        ["FACT-0001"],
        ["FACT-0002"],
        ["FACT-0003"],
    ]
    for text, citation in pairs:
        assert citation.type == "char_location"
        assert citation.document_index == 0 and citation.document_title == "Notes"
        assert (
            citation.cited_text == PAGED_TEXT[citation.start_char_index : citation.end_char_index]
        )
        assert FACT.findall(citation.cited_text) == FACT.findall(text)
        assert text.startswith("- ") and text.endswith("\n")
        assert int(PAGE_NOTE.findall(text)[0]) == TRUE_PAGES[FACT.findall(text)[0]]
    # the sentence runs across a line break and ends at "!"
    assert pairs[1][1].cited_text == "FACT-0002 removal\ntakes three weeks! "
    assert message.stop_reason == "end_turn"


def test_a_custom_content_document_is_cited_by_block(fake_api: FakeMessagesAPI) -> None:
    blocks = ["[Page 4] Opening remarks.", "FACT-0004 the vote passed.", "[Page 5] FACT-0005 ends."]
    other = text_document("Nothing planted here. Only prose.", title=None)
    message = create(fake_api, ask(other, content_document(blocks)))

    pairs = cited_blocks(message)
    assert len(pairs) == 2
    for (text, citation), block_index, page in zip(pairs, (1, 2), (4, 5), strict=True):
        assert citation.type == "content_block_location"
        assert citation.document_index == 1 and citation.document_title == "Minutes"
        assert (citation.start_block_index, citation.end_block_index) == (
            block_index,
            block_index + 1,
        )
        assert citation.cited_text == blocks[block_index]
        assert PAGE_NOTE.findall(text) == [str(page)]


def test_search_results_are_cited_by_block(fake_api: FakeMessagesAPI) -> None:
    first = search_result("https://example.com/a", "A", ["Intro text.", "Nothing here."])
    second = search_result("kb://doc-7", "Seven", ["Preamble.", "FACT-0007 the pump failed."])
    message = create(fake_api, ask(first, second))

    [(text, citation)] = cited_blocks(message)
    assert citation.type == "search_result_location"
    assert (citation.search_result_index, citation.source, citation.title) == (
        1,
        "kb://doc-7",
        "Seven",
    )
    assert (citation.start_block_index, citation.end_block_index) == (1, 2)
    assert citation.cited_text == "FACT-0007 the pump failed."
    assert text == "- FACT-0007 the pump failed.\n"


def test_search_results_in_a_tool_result_are_cited_too(fake_api: FakeMessagesAPI) -> None:
    hit = search_result("kb://1", "One", ["FACT-0011 the valve leaks."])
    messages = [
        {"role": "user", "content": "Look it up."},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "kb", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [hit]}],
        },
    ]
    [(_, citation)] = cited_blocks(create(fake_api, messages))
    assert citation.search_result_index == 0 and citation.cited_text == "FACT-0011 the valve leaks."


def test_a_pdf_document_is_cited_by_page(fake_api: FakeMessagesAPI) -> None:
    raw = pdf_bytes(["Cover page.", "FACT-0021 the bridge opened in May.", "FACT-0022 costs rose."])
    message = create(fake_api, ask(pdf_document(raw)))

    pairs = cited_blocks(message)
    assert [(c.type, c.start_page_number, c.end_page_number) for _, c in pairs] == [
        ("page_location", 2, 3),
        ("page_location", 3, 4),
    ]
    assert [PAGE_NOTE.findall(text) for text, _ in pairs] == [["2"], ["3"]]
    assert pairs[0][1].cited_text.strip() == "FACT-0021 the bridge opened in May."
    assert fake_api.requests[0].input_tokens >= count_tokens("FACT-0021 the bridge opened in May.")


def test_without_planted_facts_the_first_sentence_of_each_source_is_cited(
    fake_api: FakeMessagesAPI,
) -> None:
    data = "The grass is green. The sky is blue."
    [(text, citation)] = cited_blocks(create(fake_api, ask(text_document(data))))
    assert (citation.start_char_index, citation.end_char_index) == (0, 20)
    assert citation.cited_text == "The grass is green. "
    assert text == "- The grass is green.\n"


def test_documents_without_citations_are_read_and_echoed_as_before(
    fake_api: FakeMessagesAPI,
) -> None:
    message = create(fake_api, ask(text_document(PAGED_TEXT, enabled=False)))
    [block] = message.content
    assert block.citations is None
    assert PAGED_TEXT in block.text and "What are the key points?" in block.text


# --- streaming, usage, batches, cuts -----------------------------------------------------------


def test_a_stream_carries_citations_deltas_and_the_sdk_accumulates_them(
    fake_api: FakeMessagesAPI,
) -> None:
    messages = ask(text_document(PAGED_TEXT))
    expected = create(fake_api, messages)
    client = sdk_client(fake_api)
    raw_events = list(
        client.messages.create(model=MODEL, max_tokens=1000, messages=messages, stream=True)
    )
    deltas = [event.delta for event in raw_events if event.type == "content_block_delta"]
    citations = [delta.citation for delta in deltas if delta.type == "citations_delta"]
    assert citations == [citation for _, citation in cited_blocks(expected)]

    with client.messages.stream(model=MODEL, max_tokens=1000, messages=messages) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds.count("citation") == 3
    assert [(b.text, b.citations) for b in final.content] == [
        (b.text, b.citations) for b in expected.content
    ]


def test_usage_counts_the_document_as_input_and_not_the_cited_text_as_output(
    fake_api: FakeMessagesAPI,
) -> None:
    with_document = create(fake_api, ask(text_document(PAGED_TEXT)))
    without = create(fake_api, ask())
    assert with_document.usage.input_tokens - without.usage.input_tokens >= count_tokens(PAGED_TEXT)
    written = "".join(block.text for block in with_document.content)
    assert with_document.usage.output_tokens == count_tokens(written)
    counted = sdk_client(fake_api).messages.count_tokens(
        model=MODEL, messages=ask(text_document(PAGED_TEXT))
    )
    assert counted.input_tokens == with_document.usage.input_tokens


def test_a_reply_cut_at_max_tokens_drops_the_citation_of_the_block_it_cuts(
    fake_api: FakeMessagesAPI,
) -> None:
    first_bullet = create(fake_api, ask(text_document(PAGED_TEXT))).content[0].text
    max_tokens = count_tokens(first_bullet) + 3
    message = create(fake_api, ask(text_document(PAGED_TEXT)), max_tokens=max_tokens)
    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == first_bullet and message.content[0].citations
    assert message.content[-1].text == "- FACT-"  # 3 tokens of the second bullet
    assert message.content[-1].citations is None
    assert message.usage.output_tokens == max_tokens


def test_batch_results_carry_citations(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(batch_latency=0.0)
    client = sdk_client(api)
    params = {
        "model": MODEL,
        "max_tokens": 500,
        "messages": ask(content_document(["FACT-0031 a."])),
    }
    batch = client.messages.batches.create(requests=[{"custom_id": "one", "params": params}])  # type: ignore[list-item]
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        pass
    [result] = list(client.messages.batches.results(batch.id))
    assert result.result.type == "succeeded"
    [block] = result.result.message.content
    assert block.citations is not None and block.citations[0].type == "content_block_location"


# --- validation -------------------------------------------------------------------------------

TEXT_SOURCE = {"type": "text", "media_type": "text/plain", "data": "Some text."}


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ({"type": "document"}, "messages.0.content.0.source: Field required"),
        (
            {"type": "document", "source": {**TEXT_SOURCE, "media_type": "text/html"}},
            "source.media_type: Input should be 'text/plain'",
        ),
        (
            {"type": "document", "source": {"type": "text", "media_type": "text/plain"}},
            "source.data: Field required",
        ),
        ({"type": "document", "source": {"type": "zip"}}, "source.type: Input should be"),
        ({"type": "document", "source": {"type": "url", "url": "https://x"}}, "fetches nothing"),
        ({"type": "document", "source": {"type": "content", "content": []}}, "non-empty list"),
        (
            {"type": "document", "source": TEXT_SOURCE, "citations": True},
            "citations: Input should be an object",
        ),
        (
            {"type": "document", "source": TEXT_SOURCE, "title": 7},
            "title: Input should be a valid string",
        ),
        (
            {"type": "search_result", "source": "s", "content": [{"type": "text", "text": "x"}]},
            "title: Field required",
        ),
        (
            {
                "type": "search_result",
                "source": "s",
                "title": "t",
                "content": [{"type": "text", "text": ""}],
            },
            "must be non-empty",
        ),
        (
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "%%%"},
            },
            "not valid base64",
        ),
        (
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "aGVsbG8="},
            },
            "The PDF specified was not valid",
        ),
    ],
)
def test_malformed_citable_blocks_get_a_400_naming_the_field(
    fake_api: FakeMessagesAPI, block: Any, fragment: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        create(fake_api, ask(block))
    assert fragment in str(caught.value)
    assert fake_api.requests[-1].status == 400


def test_documents_must_enable_citations_all_or_none(fake_api: FakeMessagesAPI) -> None:
    blocks = (text_document("One."), text_document("Two.", enabled=False))
    with pytest.raises(anthropic.BadRequestError, match="can't mix documents"):
        create(fake_api, ask(*blocks))


def test_more_than_100_pdf_pages_in_a_request_are_refused(fake_api: FakeMessagesAPI) -> None:
    writer = PdfWriter()
    for _ in range(MAX_PDF_PAGES // 2 + 1):
        writer.add_blank_page(width=200, height=200)
    stream = io.BytesIO()
    writer.write(stream)
    half = pdf_document(stream.getvalue())
    create(fake_api, ask(half))  # 51 pages: fine
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 100 PDF pages"):
        create(fake_api, ask(half, half))


def test_a_body_over_32_mb_is_refused_with_413(fake_api: FakeMessagesAPI) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 10,
        "messages": ask(text_document("x" * MAX_REQUEST_BYTES)),
    }
    status, _, payload = raw_post(fake_api, "/v1/messages", json.dumps(body).encode())
    assert status == 413 and payload["error"]["type"] == "request_too_large"


# --- a model that errs on demand ---------------------------------------------------------------


def run_erring_model(api: FakeMessagesAPI, requests: int) -> list[Any]:
    return [create(api, ask(text_document(PAGED_TEXT))) for _ in range(requests)]


def test_the_erring_model_writes_wrong_pages_and_invents_claims_as_asked(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(citation_errors=CitationErrors(wrong_page_every=4, invent_every=3, seed=5))
    replies = run_erring_model(api, 6)  # 18 paged bullets, 6 replies

    errors = api.citation_errors_made
    wrong_pages = [e for e in errors if e.kind == "wrong_page"]
    invented = [e for e in errors if e.kind == "invented"]
    assert len(wrong_pages) == 18 // 4 and len(invented) == 6 // 3
    request_ids = [request.request_id for request in api.requests]
    for error in wrong_pages:
        reply = replies[request_ids.index(error.request_id)]
        [block] = [b for b in reply.content if b.text == error.text]
        [fact] = error.facts
        assert error.page_written != error.true_page == TRUE_PAGES[fact]
        assert PAGE_NOTE.findall(block.text) == [str(error.page_written)]
        # the citation itself stays right: it quotes the fact's sentence
        assert block.citations and fact in block.citations[0].cited_text
    for error in invented:
        reply = replies[request_ids.index(error.request_id)]
        [block] = [b for b in reply.content if b.text == error.text]
        assert block.citations is None and error.facts[0].startswith("FACT-9")
        assert error.facts[0] not in PAGED_TEXT


def test_the_erring_model_is_deterministic_for_a_seed(make_fake_api: MakeFakeApi) -> None:
    def texts(seed: int) -> list[str]:
        api = make_fake_api(
            citation_errors=CitationErrors(wrong_page_every=3, invent_every=2, seed=seed)
        )
        return ["".join(b.text for b in reply.content) for reply in run_erring_model(api, 4)]

    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


def test_on_plain_prompts_the_erring_model_quotes_verbatim_and_errs_as_asked(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(citation_errors=CitationErrors(wrong_page_every=2, invent_every=1))
    prompt = f"Summarize.\n<document_part>\n{PAGED_TEXT}\n</document_part>"
    reply = create(api, [{"role": "user", "content": prompt}]).content[0].text

    quotes = re.findall(r'^- "(.*)"(?: \(p\. (\d+)\))?$', reply, re.MULTILINE)
    assert len(quotes) == 4  # three real facts, one invented
    errors = {error.facts[0]: error for error in api.citation_errors_made}
    words_of_prompt = " ".join(prompt.split())
    for quote, page in quotes:
        [fact] = FACT.findall(quote)
        if fact in errors and errors[fact].kind == "invented":
            assert quote not in words_of_prompt
        else:
            assert quote in words_of_prompt  # verbatim, up to line breaks
            wrong = fact in errors
            assert (int(page) != TRUE_PAGES[fact]) == wrong
    assert sum(error.kind == "wrong_page" for error in errors.values()) == 1


def test_without_errors_asked_plain_prompts_are_echoed_and_a_responder_excludes_errors(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api()
    assert create(api, [{"role": "user", "content": PAGED_TEXT}]).content[0].text == PAGED_TEXT
    assert api.citation_errors_made == []
    with pytest.raises(ValueError, match="not both"):
        FakeMessagesAPI(responder=CitingResponder(), citation_errors=CitationErrors())
