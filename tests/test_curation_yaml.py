"""kb accept's YAML writes: one line added, every comment, the order and the quoting kept."""

from __future__ import annotations

import pytest
import yaml

from bot.curation.yamledit import EditError, add_alternate, unified_diff
from bot.engine.knowledge import DEFAULT_DIR, faq_files

FAQ = """\
# The card topic. Curators: keep alternates colloquial.
category: card
title: 社保卡用途   # shown on the button
order: 3
entries:
  # the first entry
  - id: card-uses
    question: 社保卡有什么用?
    alternates:
      # written from the group chats
      - 社保卡能干啥
      - "社保卡: 有啥用"   # quoted because of the colon
      # the last one came from a holdout review

    # the answer follows
    answer: |
      一段回答。 # not a comment: part of the answer
    related: [card-medical]  # flow style stays flow style
    source: 某来源
    as_of: 2025-08-11
  - id: card-medical
    question: 社保卡怎么用来看病买药?
    alternates:
      - 'single quoted'
      - 药店买药可以用社保卡吗
    answer: 另一段。
    related: []
    source: 某来源
    as_of: 2025-08-11
"""


def _comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if "#" in line]


def test_every_comment_line_and_the_order_are_kept() -> None:
    new = add_alternate(FAQ, "card-uses", "社保卡到底能干嘛")
    old_lines, new_lines = FAQ.splitlines(), new.splitlines()
    assert [ln for ln in new_lines if "#" in ln] == _comments(FAQ)
    added = new_lines.index('      - "社保卡到底能干嘛"')  # quoted like the item before it
    assert new_lines[added - 1] == '      - "社保卡: 有啥用"   # quoted because of the colon'
    assert new_lines[:added] + new_lines[added + 1:] == old_lines  # nothing else moved or changed
    assert yaml.safe_load(new)["entries"][0]["alternates"][-1] == "社保卡到底能干嘛"


def test_quoting_follows_the_previous_item_and_what_yaml_needs() -> None:
    new = add_alternate(FAQ, "card-medical", "医院能刷吗")
    assert "      - 药店买药可以用社保卡吗\n      - 医院能刷吗\n" in new  # plain after plain
    new = add_alternate(FAQ, "card-medical", "yes: 能刷吗 # 真的")
    (item,) = [ln for ln in new.splitlines() if "能刷吗" in ln]
    assert item.strip().removeprefix("- ").startswith(("'", '"'))  # a colon and a hash need quotes to stay text
    assert yaml.safe_load(new)["entries"][1]["alternates"][-1] == "yes: 能刷吗 # 真的"


def test_alternates_added_one_after_another_stay_in_order() -> None:
    text = FAQ
    for question in ("一", "二", "三"):
        text = add_alternate(text, "card-medical", question)
    assert yaml.safe_load(text)["entries"][1]["alternates"][-3:] == ["一", "二", "三"]
    assert _comments(text) == _comments(FAQ)


def test_the_shipped_files_take_an_alternate_as_a_one_line_diff() -> None:
    for path in faq_files(DEFAULT_DIR):
        text = path.read_text(encoding="utf-8")
        entry = yaml.safe_load(text)["entries"][0]["id"]
        diff = unified_diff(text, add_alternate(text, entry, "测试问法"), path.name)
        changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
        assert changed == ["+      - 测试问法"], path.name


def test_what_cannot_be_edited_safely_is_refused() -> None:
    with pytest.raises(EditError, match="not in this file"):
        add_alternate(FAQ, "no-such-entry", "问")
    with pytest.raises(EditError, match="invalid YAML"):
        add_alternate("entries: [", "card-uses", "问")
    odd = FAQ.replace("title: 社保卡用途", "title:    社保卡用途")  # a layout a dump would not keep
    with pytest.raises(EditError, match="round trip"):
        add_alternate(odd, "card-uses", "问")
