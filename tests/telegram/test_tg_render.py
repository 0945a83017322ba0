"""Rendering replies as Telegram HTML: escaping, bold title, italic footer, clean splitting."""

from __future__ import annotations

from html.parser import HTMLParser

from bot.engine import Button, Reply
from bot.telegram.render import render, visible_length


class _Text(HTMLParser):
    """Strips tags like Telegram does, failing on anything unbalanced."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        assert tag in ("b", "i") and not self.open, f"unexpected <{tag}>"
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain(chunk: str) -> str:
    """A chunk's text as the user sees it; asserts its tags are balanced."""
    parser = _Text()
    parser.feed(chunk)
    parser.close()
    assert parser.open == []
    return "".join(parser.parts)


def test_escaping_title_and_footer() -> None:
    """Everything is escaped; the title is bold and the footer italic."""
    reply = Reply("a < b & c > d", title="<问题>", footer="来源 & 日期",
                  buttons=((Button("好", "q:x"),),))
    (chunk,), markup = render(reply)
    assert chunk == "<b>&lt;问题&gt;</b>\n\na &lt; b &amp; c &gt; d\n\n<i>来源 &amp; 日期</i>"
    assert plain(chunk) == reply.text
    assert markup is not None and markup.inline_keyboard[0][0].callback_data == "q:x"


def test_no_buttons_no_keyboard() -> None:
    """A reply without buttons has no keyboard."""
    assert render(Reply("你好"))[1] is None


def test_long_reply_splits_at_paragraphs_below_the_limit() -> None:
    """Chunks stay under the limit, split between paragraphs, each with balanced tags."""
    paragraphs = [f"第{i}段 <&> " + "字" * 90 for i in range(30)]
    reply = Reply("\n\n".join(paragraphs), title="标题" * 10, footer="脚注",
                  buttons=((Button("👍", "fb:+:x"),),))
    chunks, markup = render(reply, limit=500)
    assert len(chunks) > 5 and markup is not None
    texts = [plain(c) for c in chunks]
    assert all(visible_length(t) <= 500 for t in texts)
    assert "\n\n".join(texts) == reply.text  # nothing lost, split only at paragraph breaks
    assert chunks[0].startswith("<b>") and chunks[-1].endswith("</i>")


def test_overlong_lines_and_emoji_are_cut_safely() -> None:
    """A single line over the limit is cut (at a sentence end when one is near); emoji count 2."""
    line = "这是一句话。" * 100 + "😀" * 300
    chunks, _ = render(Reply(line), limit=200)
    texts = [plain(c) for c in chunks]
    assert all(visible_length(t) <= 200 for t in texts)
    assert "".join(texts) == line
    assert texts[0].endswith("。")
