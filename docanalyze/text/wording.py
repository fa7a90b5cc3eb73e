"""The fixed phrases docanalyze itself writes into a report (not the model): the offline
analyzer's title, note and headings, in the report's language.

English and Chinese are translated; every other language uses the English wording (the quoted
sentences stay in the document's language either way).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Wording", "wording_for"]


@dataclass(frozen=True)
class Wording:
    """The phrases of an offline report in one language. ``title`` takes ``{source}``."""

    title: str
    offline_note: str
    offline_note_question: str
    overview: str
    key_points: str
    no_key_points: str
    question: str
    answer: str
    relevant_passages: str
    not_answered: str


ENGLISH = Wording(
    title="# Report: {source}",
    offline_note=(
        "> Made offline by docanalyze's extractive analyzer (no API key was set): the points "
        "below are sentences quoted from the document, ranked by centrality, not a summary "
        "written by Claude."
    ),
    offline_note_question=(
        "> Made offline by docanalyze's extractive analyzer (no API key was set): the passages "
        "below are sentences quoted from the document, ranked by how much they share with the "
        "question, not an answer written by Claude."
    ),
    overview="## Overview",
    key_points="## Key points",
    no_key_points="No key points were found.",
    question="## Question",
    answer="## Answer",
    relevant_passages="## Relevant passages",
    not_answered=(
        "The document does not appear to answer this question: no passage shares its key terms."
    ),
)

CHINESE = Wording(
    title="# 报告：{source}",
    offline_note=(
        "> 本报告由 docanalyze 的离线抽取式分析器生成（未设置 API 密钥）：以下要点是从文档中"
        "摘录的原句，按中心度排序，并非 Claude 撰写的摘要。"
    ),
    offline_note_question=(
        "> 本报告由 docanalyze 的离线抽取式分析器生成（未设置 API 密钥）：以下段落是从文档中"
        "摘录的原句，按与问题的相关程度排序，并非 Claude 撰写的回答。"
    ),
    overview="## 概述",
    key_points="## 要点",
    no_key_points="未找到要点。",
    question="## 问题",
    answer="## 回答",
    relevant_passages="## 相关段落",
    not_answered="文档似乎没有回答这个问题：没有段落包含问题的关键词。",
)

_WORDINGS = {"en": ENGLISH, "zh": CHINESE}


def wording_for(language: str | None) -> Wording:
    """The wording for a language code; English for ``None`` and untranslated languages."""
    return _WORDINGS.get(language or "en", ENGLISH)
