"""End to end: inline mode offers matching answers, rendered as safe HTML within Telegram's limits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from telegram.ext import Application

from bot.engine import Engine
from bot.engine import messages as msg
from bot.settings import Settings
from bot.telegram import inline, texts
from bot.telegram.render import render, visible_length
from tests.fakes.bot_api import FakeBotApi, parse_html

if TYPE_CHECKING:
    from .conftest import Person

pytestmark = pytest.mark.asyncio

JsonDict = dict[str, Any]
ID_NUMBER = "110101199003074514"  # valid GB 11643 check digit (made up, not a real person)


async def ask_inline(api: FakeBotApi, user: JsonDict, query: str) -> JsonDict:
    """Type "@bot <query>" and return the parameters of the bot's answerInlineQuery."""
    sent = await api.inline_query(user, query, chat_type="supergroup")
    (call,) = await api.wait_for(
        "answerInlineQuery", predicate=lambda c: c.params["inline_query_id"] == sent["id"])
    assert call.ok
    return call.params


@pytest.fixture
def user(api: FakeBotApi) -> JsonDict:
    """Someone typing in a group's message field."""
    return api.user(3101, "小周")


async def test_keyword_offers_matching_answers(bot: Application, api: FakeBotApi,
                                               user: JsonDict, engine: Engine) -> None:
    """@bot 地铁 offers the transport answer first, as an article that sends its HTML answer."""
    answer = await ask_inline(api, user, "地铁")
    results = answer["results"]
    assert 1 <= len(results) <= inline.MAX_RESULTS
    first = results[0]
    expected = engine.entry_reply("card-transport")
    assert first["type"] == "article" and first["id"] == "card-transport"
    assert first["title"] == expected.title
    content = first["input_message_content"]
    assert content["parse_mode"] == "HTML"  # from Defaults, given once to the builder
    text, entities = parse_html(content["message_text"])  # Telegram would accept it
    assert text == expected.text
    assert {"bold", "italic"} <= {e["type"] for e in entities}
    assert "reply_markup" not in first  # callback buttons cannot work in inline messages
    assert answer["cache_time"] == inline.CACHE_SECONDS
    assert answer["button"] == {"text": texts.INLINE_BUTTON, "start_parameter": inline.START_PAYLOAD}
    assert len({r["id"] for r in results}) == len(results)


async def test_keyword_inside_questions_and_the_limit_of_ten(bot: Application, api: FakeBotApi,
                                                             user: JsonDict, engine: Engine) -> None:
    """A keyword found inside many questions (no spaces in Chinese) still gives at most ten."""
    answer = await ask_inline(api, user, "社保卡")
    ids = [r["id"] for r in answer["results"]]
    assert len(ids) == inline.MAX_RESULTS
    assert sum(i.startswith("card-") for i in ids) >= 5


async def test_question_gets_the_verdict_first(bot: Application, api: FakeBotApi,
                                               user: JsonDict, engine: Engine) -> None:
    """A whole question offers the engine's own answer (here a verdict on 外婆) before the rest."""
    answer = await ask_inline(api, user, "外婆能用我的医保吗")
    first = answer["results"][0]
    expected = engine.answer("外婆能用我的医保吗")
    assert first["id"] == inline.VERDICT_PREFIX + str(expected.entry_id)
    assert parse_html(first["input_message_content"]["message_text"])[0] == expected.text


async def test_empty_query_offers_the_topics(bot: Application, api: FakeBotApi,
                                             user: JsonDict, engine: Engine) -> None:
    """@bot with nothing after it offers each topic's first questions."""
    answer = await ask_inline(api, user, "")
    ids = [r["id"] for r in answer["results"]]
    firsts = [c.entry_ids[0] for c in engine.kb.categories if c.entry_ids]
    assert ids[: len(firsts)] == firsts
    assert len(ids) == inline.MAX_RESULTS


async def test_nothing_found_and_numbers_ignored(bot: Application, api: FakeBotApi,
                                                 user: JsonDict) -> None:
    """An unknown word offers nothing; a number in the query is not matched on."""
    assert (await ask_inline(api, user, "xyzzy"))["results"] == []
    with_number = await ask_inline(api, user, f"{ID_NUMBER} 地铁")
    assert with_number["results"][0]["id"] == "card-transport"
    assert all(ID_NUMBER not in r["input_message_content"]["message_text"]
               for r in with_number["results"])


async def test_long_answer_is_cut_for_inline(api: FakeBotApi, settings: Settings, kb_copy: Path,
                                             start_bot: Callable[..., Any], user: JsonDict) -> None:
    """An answer over 4,096 characters is cut between paragraphs, with a pointer to the bot."""
    faq = kb_copy / "faq" / "card.yaml"
    source = faq.read_text(encoding="utf-8")
    entry_id = source.split("- id:", 1)[1].split("\n", 1)[0].strip()
    paragraphs = "".join(f"      第{i}段:<b>不是</b> 标签 & 符号。" + "说明文字。" * 80 + "\n\n"
                         for i in range(12))
    faq.write_text(source.replace("    answer: |\n", "    answer: |\n" + paragraphs, 1),
                   encoding="utf-8")
    engine = Engine.from_folder(kb_copy)
    assert len(render(engine.entry_reply(entry_id))[0]) > 1

    async with start_bot(settings, engine):
        answer = await ask_inline(api, user, engine.kb.entries[entry_id].question)
    result = next(r for r in answer["results"] if r["id"] == entry_id)
    text, _ = parse_html(result["input_message_content"]["message_text"])
    assert visible_length(text) <= 4096
    assert text.endswith(texts.INLINE_TRUNCATED.format(bot=api.username))
    assert "<b>不是</b>" in text  # the answer's own text stays escaped


async def test_button_above_results_opens_the_private_chat(bot: Application,
                                                           person: Person) -> None:
    """The button above inline results sends /start inline, which greets like /start."""
    (greeting,) = await person.say(f"/start {inline.START_PAYLOAD}")
    assert greeting["text"].startswith(msg.GREETING.splitlines()[0])


async def test_an_inline_query_is_matched_once(engine: Engine, matcher_calls: list[str]) -> None:
    """The engine's answer and the ranked entries come from one run of the matcher."""
    calls = matcher_calls
    for query in ("外婆能用我的医保吗", "共济", "你好"):  # a verdict, "did you mean", small talk
        calls.clear()
        inline.search(engine, query)
        assert len(calls) == 1, query
    assert "match" not in vars(engine.matcher)
