"""Inline mode: "@bot 关键词" in any chat offers up to ten answers that can be sent into it."""

from __future__ import annotations

import dataclasses
import html
import logging
from itertools import chain, zip_longest

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Update,
)

from ..conversation import Conversation
from ..engine import Engine, Reply, ReplyKind, sensitive
from ..engine.normalize import compact
from . import texts
from .memory import Context
from .render import PARAGRAPH, TEXT_LIMIT, render, visible_length

logger = logging.getLogger(__name__)

MAX_RESULTS = 10  # what one inline answer offers (Telegram allows 50; ten fit a phone screen)
CACHE_SECONDS = 300  # Telegram may reuse an inline answer this long: the knowledge changes rarely
DESCRIPTION_CHARS = 60  # of the answer, shown under each result's title
MAX_QUERY_CHARS = 200  # longer inline queries are cut before matching
START_PAYLOAD = "inline"  # the button above the results opens the private chat with /start inline
VERDICT_PREFIX = "v:"  # result id of a verdict on a relative or a place, beside plain entry ids


def overview(engine: Engine, limit: int = MAX_RESULTS) -> list[str]:
    """Entry ids for an empty query: each topic's first questions, taken in turn."""
    columns = [c.entry_ids for c in engine.kb.categories if c.entry_ids]
    ids = [e for e in chain.from_iterable(zip_longest(*columns)) if e is not None]
    return ids[:limit]


def search(engine: Engine, query: str, limit: int = MAX_RESULTS) -> list[Reply]:
    """Replies for a keyword query: the engine's own answer, ranked entries, then entries naming it."""
    query = sensitive.remove(query)[:MAX_QUERY_CHARS]
    key = compact(query)
    if not key:
        return [engine.entry_reply(e) for e in overview(engine, limit)]
    replies: list[Reply] = []
    best, match = engine.answer_and_match(query)
    if best.answered and best.entry_id:
        replies.append(best)
    ranked = match.ranking if match is not None else engine.matcher.match(query).ranking
    # Which ranked entries are worth offering: the engine's one confidence policy decides.
    ids = [e for e in engine.matcher.policy.offered(ranked) if e in engine.kb.entries]
    # Chinese has no spaces: a keyword may sit inside a question the ranking passed over.
    ids += [e.id for e in engine.kb.entries.values()
            if any(key in compact(q) for q in (e.question, *e.variants))]
    seen = {r.entry_id for r in replies}
    for entry_id in ids:
        if len(replies) >= limit:
            break
        if entry_id not in seen:
            seen.add(entry_id)
            replies.append(engine.entry_reply(entry_id))
    return replies[:limit]


def message_html(reply: Reply, bot_username: str) -> str:
    """The reply as one HTML message; a long one is cut between paragraphs with a pointer."""
    chunks, _ = render(reply)
    if len(chunks) == 1:
        return chunks[0]
    note = html.escape(texts.INLINE_TRUNCATED.format(bot=bot_username))
    tail = [note]
    if reply.footer:  # the source and date stay under a cut answer
        (footer,), _ = render(dataclasses.replace(reply, title="", body="", buttons=()))
        tail.insert(0, footer)
    room = TEXT_LIMIT - sum(visible_length(t) + visible_length(PARAGRAPH) for t in tail)
    first, _ = render(dataclasses.replace(reply, footer=""), limit=room)
    return PARAGRAPH.join([first[0], *tail])


def description(reply: Reply) -> str:
    """The first words of a reply's body, on one line."""
    text = " ".join(reply.body.split())
    return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 1] + "…"


def article(reply: Reply, bot_username: str) -> InlineQueryResultArticle:
    """One inline result: the question as title, the answer (HTML, no buttons) as the message."""
    assert reply.entry_id is not None
    result_id = reply.entry_id if reply.kind is ReplyKind.ANSWER else VERDICT_PREFIX + reply.entry_id
    return InlineQueryResultArticle(
        id=result_id,
        title=reply.title or reply.entry_id,
        description=description(reply),
        input_message_content=InputTextMessageContent(message_html(reply, bot_username)),
    )


class InlineAnswers:
    """Answers inline queries from the engine in service."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation  # holds the engine in service, which a reload swaps

    async def answer(self, update: Update, context: Context) -> None:
        """@bot 关键词: up to ten matching answers; an empty query gets the topic overview."""
        query = update.inline_query
        assert query is not None
        replies = search(self.conversation.engine, query.query)
        logger.info("inline query %r → %s", query.query, [r.entry_id for r in replies])
        await query.answer(
            [article(r, context.bot.username) for r in replies],
            cache_time=CACHE_SECONDS,
            button=InlineQueryResultsButton(texts.INLINE_BUTTON, start_parameter=START_PAYLOAD),
        )
