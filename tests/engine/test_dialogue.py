"""The binding dialogue runs from data: eligibility, region, each method, back, cancel, stale buttons."""

from __future__ import annotations

import pytest

from bot.engine import Dialogues, DialogueState, Reply, ReplyKind
from bot.engine.actions import (
    AutoAnswer,
    DialogueMove,
    Move,
    NoneOfThese,
    ShowEntry,
    ShowTopic,
    StartFlow,
    Vote,
    encode,
    parse,
)


def _move(reply: Reply, label: str) -> DialogueMove:
    for button in reply.flat_buttons():
        action = parse(button.action)
        if label in button.label and isinstance(action, DialogueMove):
            return action
    raise AssertionError(f"no button {label!r} in {[b.label for b in reply.flat_buttons()]}")


def _press(d: Dialogues, state: DialogueState | None, reply: Reply, label: str) -> tuple[Reply, DialogueState | None]:
    return d.press(state, _move(reply, label))


@pytest.mark.parametrize(
    ("method", "first_step"),
    [
        ("国家医保服务平台 App「家庭共济」", "家庭共济"),
        ("社会保险服务个人网页", "个人网页"),
        ("社保分局医保窗口", "窗口"),
        ("定点医院医保办", "医保办"),
        ("电子社保卡亲情服务", "亲情服务"),
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
    assert ("不开通共济" in reply.body) is method.startswith("电子社保卡亲情服务")


def test_ineligible_relative_ends_politely(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    reply, state = _press(dialogues, state, reply, "岳父母")
    assert state is None
    assert "❌" in reply.body and "12393" in reply.body


def test_typed_relative(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    reply, state = _press(dialogues, state, reply, "其他")
    assert state is not None and state.awaiting_text
    result = dialogues.text(state, "外婆")
    assert result is not None
    reply, state = result
    assert "外婆" in reply.body and "✅" in reply.body and "同一个省" in reply.body


def _to_places(dialogues: Dialogues) -> tuple[Reply, DialogueState]:
    reply, state = dialogues.start("bind")
    reply, state = _press(dialogues, state, reply, "父母")
    reply, state = _press(dialogues, state, reply, "在外省")
    assert state is not None and state.step == "region"
    return reply, state


def _walk(dialogues: Dialogues, reply: Reply, state: DialogueState | None) -> Reply:
    for _ in range(10):
        if state is None:
            return reply
        reply, state = _press(dialogues, state, reply, "下一步")
    raise AssertionError("the walk-through does not end")


def test_different_provinces_lead_to_the_wallet(dialogues: Dialogues) -> None:
    reply, state = _to_places(dialogues)
    assert dialogues.text(state, "火星") is None  # not a place: the surface answers it as a question
    reply, state = dialogues.text(state, "我在苏州") or (reply, state)
    assert state is not None and state.step == "relative-region" and "家人在哪个城市" in reply.body
    reply, state = dialogues.text(state, "杭州") or (reply, state)
    assert state is not None and state.step == "wallet"
    assert "江苏省" in reply.body and "浙江省" in reply.body and "医保钱包" in reply.body
    summary = _walk(dialogues, reply, state)
    assert "你的参保地:苏州" in summary.body and "家人的参保地:杭州" in summary.body
    assert "医保钱包" in summary.body


def test_same_province_leads_to_the_ways_within_a_province(dialogues: Dialogues) -> None:
    reply, state = _to_places(dialogues)
    reply, state = dialogues.text(state, "我在苏州,我妈在南京") or (reply, state)
    assert state is not None and state.step == "method"
    assert "江苏省" in reply.body and "省内" in reply.body
    labels = [b.label for b in reply.flat_buttons()]
    assert any("家庭共济" in label for label in labels)
    assert state.answers["region"] == "苏州" and state.answers["relative-region"] == "南京"


def test_a_relatives_city_is_never_filed_as_the_holders(dialogues: Dialogues) -> None:
    reply, state = _to_places(dialogues)
    reply, state = dialogues.text(state, "厦门、南京") or (reply, state)
    assert state is not None
    assert state.answers["region"] == "厦门" and state.answers["relative-region"] == "南京"


def test_skipped_places_are_not_shown_as_cities(dialogues: Dialogues) -> None:
    reply, state = _to_places(dialogues)
    reply, state = _press(dialogues, state, reply, "跳过")
    reply, state = _press(dialogues, state, reply, "跳过")
    assert state is not None and state.step == "wallet" and "医保钱包" in reply.body
    summary = _walk(dialogues, reply, state)
    assert "跳过" not in summary.body and "参保地" not in summary.body


def test_in_laws_get_the_advice_once(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    reply, state = _press(dialogues, state, reply, "岳父母")
    assert state is None and reply.body.count("❌") == 2
    assert reply.body.count("近亲属(配偶、子女等)") == 1 and "可以考虑" in reply.body
    assert reply.body.count("可以考虑") == 1


def test_a_double_tap_acts_once(dialogues: Dialogues) -> None:
    first, state = dialogues.start("bind")
    move = _move(first, "父母")
    reply, state = dialogues.press(state, move)
    assert state is not None and state.step == "cross"
    again, same = dialogues.press(state, move)
    assert again.kind is ReplyKind.NOTICE and same is state and state.step == "cross"


def test_back_and_cancel(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    reply, state = _press(dialogues, state, reply, "子女")
    reply, state = _press(dialogues, state, reply, "上一步")
    assert state is not None and state.step == "relation"
    reply, state = _press(dialogues, state, reply, "取消")
    assert state is None and "退出" in reply.body


def test_stale_button_gets_a_polite_notice(dialogues: Dialogues) -> None:
    reply, state = dialogues.start("bind")
    old_action = parse(reply.flat_buttons()[0].action)
    assert isinstance(old_action, DialogueMove)
    _, new_state = dialogues.start("bind")
    stale, kept = dialogues.press(new_state, old_action)  # type: ignore[arg-type]
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
    pressed, after = dialogues.press(state, DialogueMove(state.nonce, state.turn, Move.CHOOSE, 0))
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


@pytest.mark.parametrize("action", [
    ShowEntry("sharing-how"), ShowTopic("sharing"), ShowTopic(), StartFlow("bind"), NoneOfThese(),
    Vote(True, "card-uses"), Vote(False, "card-uses"), AutoAnswer(True), AutoAnswer(False),
    DialogueMove("a1b2c3", 7, Move.CHOOSE, 2), DialogueMove("a1b2c3", 0, Move.RESUME),
])
def test_button_actions_round_trip(action: object) -> None:
    data = encode(action)  # type: ignore[arg-type]
    assert len(data.encode()) <= 64 and parse(data) == action


@pytest.mark.parametrize("data", ["", "zzz", "q:", "fb:?:x", "d:abc123:0", "d:abc:x:next", "d:a:1:fly"])
def test_data_no_version_made_parses_to_nothing(data: str) -> None:
    assert parse(data) is None


def test_every_button_of_every_step_fits_in_telegram(dialogues: Dialogues) -> None:
    """Walk every reachable step; each button's data parses back and fits in 64 bytes."""
    seen: set[str] = set()
    reply, state = dialogues.start("bind")
    todo = [(reply, state)]
    while todo:
        reply, state = todo.pop()
        for button in reply.flat_buttons():
            assert len(button.action.encode()) <= 64 and parse(button.action) is not None
            move = parse(button.action)
            if state is None or not isinstance(move, DialogueMove) or move.move is not Move.CHOOSE:
                continue
            key = f"{state.step}:{move.option}"
            if key not in seen:
                seen.add(key)
                copy = DialogueState.from_dict(state.to_dict())
                todo.append(dialogues.press(copy, move))
    assert len(seen) >= 10
