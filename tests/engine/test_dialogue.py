"""The binding dialogue runs from data: eligibility, region, each method, back, cancel, stale buttons."""

from __future__ import annotations

import pytest

from bot.engine import Dialogues, DialogueState, Reply


def _press(d: Dialogues, state: DialogueState | None, reply: Reply, label: str) -> tuple[Reply, DialogueState | None]:
    for button in reply.flat_buttons():
        if label in button.label:
            return d.press(state, button.action)
    raise AssertionError(f"no button {label!r} in {[b.label for b in reply.flat_buttons()]}")


@pytest.mark.parametrize(
    ("method", "first_step"),
    [
        ("电子社保卡亲情服务", "亲情服务"),
        ("社会保险服务个人网页", "个人网页"),
        ("社保分局医保窗口", "窗口"),
        ("定点医院医保办", "医保办"),
    ],
)
def test_eligible_relative_through_each_method(dialogues: Dialogues, method: str, first_step: str) -> None:
    reply, state = dialogues.start("bind")
    assert "哪位家人" in reply.body
    reply, state = _press(dialogues, state, reply, "父母")
    assert state is not None and "✅" in reply.body and "同一个省" in reply.body
    reply, state = _press(dialogues, state, reply, "在同一个省")
    reply, state = _press(dialogues, state, reply, method)
    assert "需要准备" in reply.body and "第 1/" in reply.body
    pages = 0
    while state is not None and state.step != "summary":
        reply, state = _press(dialogues, state, reply, "下一步")
        pages += 1
        assert pages < 10
    assert state is None
    assert "小结" in reply.body and method in reply.body and "别忘了准备" in reply.body
    assert "来源" in reply.footer and "2026" in reply.footer
    # DOMAIN.md: 亲情服务 does not itself set up 共济, and the summary must not imply it does.
    assert ("不开通共济" in reply.body) is (method == "电子社保卡亲情服务")


def test_ineligible_relative_ends_politely(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    reply, state = _press(dialogues, state, reply, "岳父母")
    assert state is None
    assert "❌" in reply.body and "12393" in reply.body


def test_typed_relative_and_cross_province_region(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    reply, state = _press(dialogues, state, reply, "其他")
    assert state is not None and state.awaiting_text
    result = dialogues.text(state, "外婆")
    assert result is not None
    reply, state = result
    assert "外婆" in reply.body and "✅" in reply.body
    reply, state = _press(dialogues, state, reply, "在外省")
    assert state is not None and state.step == "region"
    assert dialogues.text(state, "火星") is None  # not a place: the adapter answers it as a question
    reply, state = dialogues.text(state, "我在苏州") or (reply, state)
    assert "苏州" in reply.body and "首批" in reply.body
    assert state is not None and state.step == "method"


def test_back_and_cancel(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    reply, state = _press(dialogues, state, reply, "子女")
    reply, state = _press(dialogues, state, reply, "上一步")
    assert state is not None and state.step == "relation"
    reply, state = _press(dialogues, state, reply, "取消")
    assert state is None and "退出" in reply.body


def test_stale_button_gets_a_polite_notice(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    old_action = reply.flat_buttons()[0].action
    _, new_state = dialogues.start("bind")
    stale, kept = dialogues.press(new_state, old_action)
    assert "结束" in stale.body and kept is new_state
    ended, none = dialogues.press(None, old_action)
    assert "结束" in ended.body and none is None


def test_state_round_trips_through_plain_data(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    reply, state = _press(dialogues, state, reply, "配偶")
    assert state is not None
    restored = DialogueState.from_dict(state.to_dict())
    again = dialogues.render(restored)
    assert again.body == dialogues.render(state).body or "同一个省" in again.body


def test_timeout(dialogues: Dialogues) -> None:
    _, state = dialogues.start("bind")
    assert not dialogues.expired(state, timeout=60)
    assert dialogues.expired(state, timeout=60, now=state.updated + 61)


def test_a_state_left_on_a_removed_step_ends_politely(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    state.step = "relation-old"  # what a reload that renamed the step leaves behind
    ended, after = dialogues.text(state, "外婆") or (None, state)
    assert ended is not None and "结束" in ended.body and after is None
    pressed, after = dialogues.press(state, f"d:{state.nonce}:0")
    assert "结束" in pressed.body and after is None
    assert "结束" in dialogues.render(state).body


def test_a_free_question_naming_a_relative_is_not_taken_as_the_answer(dialogues: Dialogues) -> None:
    _, state = dialogues.start("bind")
    assert dialogues.text(state, "我妈住院报销比例是多少") is None
    assert dialogues.text(state, "我妈的社保卡能坐地铁吗") is None
    reply, state = dialogues.text(state, "我外婆") or (None, None)
    assert reply is not None and "✅" in reply.body


def test_other_then_an_unknown_relation_asks_again(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    reply, state = _press(dialogues, state, reply, "其他")
    result = dialogues.text(state, "同事")
    assert result is not None
    reply, same = result
    assert "没有认出" in reply.body and same is state and state.step == "relation"
