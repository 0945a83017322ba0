"""The curators' report: grouping, 👎 ranking, "did you mean" choices, CSV, HTML and the period."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import shlex
import sys
from pathlib import Path

import pytest

from bot.analytics import (
    ANSWERED,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    NONE_OF_THESE,
    SUGGESTED,
    SUGGESTION_CHOSEN,
    UNANSWERED,
    Analytics,
    Event,
)
from bot.cli import build_parser, main
from bot.curation import Kind, proposal_id
from bot.report import PeriodError, Week, count_weeks, group_similar, load_report, period_from

DAY = dt.date(2025, 9, 1)
PERIOD = ["--since", "2025-09-01", "--until", "2025-09-03"]
LOST_CARD = ["社保卡丢了怎么办", "社保卡丢了怎么办？", "我的社保卡丢了怎么办啊", "社保卡丢了怎么补办"]


def _at(day_offset: int, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(DAY + dt.timedelta(days=day_offset), dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture()
async def data_dir(tmp_path: Path) -> Path:
    """A store with three days of events, and one event outside the period."""
    store = Analytics.open(tmp_path)
    unanswered = [*LOST_CARD, "社保卡怎么激活", "社保卡怎么激活呢", "社保卡怎么挂失"]
    for i, question in enumerate(unanswered):
        await store.record(UNANSWERED, user_id=i, chat_type="private", question=question, at=_at(i % 3))
    await store.record(NONE_OF_THESE, user_id=99, question="社保卡丢了怎么办", at=_at(2))
    for i in range(5):
        await store.record(ANSWERED, entry_id="card-what", score=0.9, user_id=i, at=_at(i % 2))
    await store.record(SUGGESTED, score=0.5, question="家里人能用吗", at=_at(0))
    for i in range(3):
        await store.record(SUGGESTION_CHOSEN, chosen_entry_id="sharing-how",
                           question="家里人能用吗", user_id=i, at=_at(1))
    await store.record(SUGGESTION_CHOSEN, chosen_entry_id="sharing-relatives",
                       question="岳父算不算", at=_at(2))
    votes = {"sharing-how": (3, 1), "card-what": (1, 4), "bind-online": (1, 0), "quiet": (0, 2)}
    for entry, (down, up) in votes.items():
        for _ in range(down):
            await store.record(FEEDBACK_DOWN, entry_id=entry, at=_at(1))
        for _ in range(up):
            await store.record(FEEDBACK_UP, entry_id=entry, at=_at(1))
    await store.record(UNANSWERED, question="上个月的问题", at=_at(-30))
    await store.close()
    return tmp_path


def test_similar_questions_form_one_group() -> None:
    pairs = [(q, f"u{i}") for i, q in enumerate(LOST_CARD)] + [("社保卡怎么激活", "u9")]
    groups = group_similar(pairs)
    assert [(g.count, g.users) for g in groups] == [(4, 4), (1, 1)]
    assert groups[0].question in LOST_CARD and len(groups[0].examples) == 3
    assert groups[1].question == "社保卡怎么激活"


def test_different_key_words_stay_apart() -> None:
    groups = group_similar([("社保卡怎么激活", None), ("社保卡怎么挂失", None)])
    assert len(groups) == 2


def test_report_tables(data_dir: Path) -> None:
    report = load_report(data_dir, period_from(DAY, DAY + dt.timedelta(days=2), None))
    counts = [(g.count, g.question) for g in report.unanswered]
    # 4 wordings of the lost card + one 都不是 on it; 激活 twice; 挂失 alone; last month's excluded.
    assert counts[0][0] == 5 and "丢了" in counts[0][1]
    assert [c for c, _ in counts] == [5, 2, 1]
    assert all("上个月" not in q for _, q in counts)
    assert [(v.entry_id, v.down, v.up) for v in report.votes] == [
        ("sharing-how", 3, 1), ("bind-online", 1, 0), ("card-what", 1, 4)]
    assert [(c.question, c.entry_id, c.count) for c in report.choices] == [
        ("家里人能用吗", "sharing-how", 3), ("岳父算不算", "sharing-relatives", 1)]
    assert [(d.answered, d.after_suggestion, d.unanswered) for d in report.days] == [
        (3, 0, 3), (2, 3, 2), (0, 1, 3)]


def test_text_report(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", *PERIOD, "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "2025-09-01 – 2025-09-03" in out
    assert "sharing-how\t3\t1" in out and "家里人能用吗" in out


def test_csv_parses(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", *PERIOD, "--csv", "--data-dir", str(data_dir)]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    tables: dict[str, list[list[str]]] = {}
    name: str | None = None
    for row in rows:  # a section: its name alone on a row, a header row, data rows, a blank row
        if not row:
            name = None
        elif name is None:
            name = row[0]
            tables[name] = []
        else:
            tables[name].append(row)
    assert set(tables) == {"unanswered", "downvotes", "did_you_mean", "daily", "proposals", "weekly"}
    assert tables["downvotes"][0] == ["entry", "down", "up"]
    assert tables["downvotes"][1] == ["sharing-how", "3", "1"]
    assert tables["unanswered"][1][0] == "5"
    assert tables["did_you_mean"][1] == ["3", "家里人能用吗", "sharing-how"]
    assert [r[0] for r in tables["daily"][1:]] == ["2025-09-01", "2025-09-02", "2025-09-03"]
    assert tables["proposals"][0] == ["id", "kind", "entry", "count", "question", "other wordings"]
    review = proposal_id(Kind.REVIEW, "sharing-how", "")
    assert [review, "review", "sharing-how", "3"] in [row[:4] for row in tables["proposals"][1:]]
    assert tables["weekly"][-1] == ["2025-09-01", "13", "5", "1", "38%"]


def test_html_is_self_contained(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    page = tmp_path / "report.html"
    assert main(["report", *PERIOD, "--html", str(page), "--data-dir", str(data_dir)]) == 0
    text = page.read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in text
    assert re.search(r'<img [^>]*src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', text)
    assert "<style>" in text and "社保卡丢了" in text and "sharing-how" in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched from elsewhere
    assert "<script" not in text


async def test_html_lists_proposals_with_their_command_and_the_weekly_share(
        tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    store = Analytics.open(tmp_path)
    await store.record(SUGGESTED, score=0.5, question="社保卡", at=_at(0))
    await store.record(SUGGESTION_CHOSEN, chosen_entry_id="card-uses", question="社保卡", at=_at(0))
    await store.record(ANSWERED, entry_id="card-uses", question="社保卡有什么用", at=_at(1))
    await store.close()
    page = tmp_path / "report.html"
    assert main(["report", *PERIOD, "--html", str(page), "--data-dir", str(tmp_path)]) == 0
    text = page.read_text(encoding="utf-8")
    accept = f"python -m bot kb accept {proposal_id(Kind.ALTERNATE, 'card-uses', '社保卡')}"
    command = html.escape(f"{accept} --data-dir {shlex.quote(str(tmp_path.resolve()))}")
    assert f'<code class="cmd">{command}</code>' in text  # one click selects it for copying
    assert "user-select: all" in text
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', text)) == 2  # daily, weekly
    assert "answered per week" in text


def test_weekly_share_answered() -> None:
    period = period_from(DAY, DAY + dt.timedelta(days=9), None)  # Monday 1st to Wednesday 10th
    events = [
        Event(_at(-14), UNANSWERED, None, None, None, None, None, "q"),  # two weeks before
        *[Event(_at(0), ANSWERED, "card-uses", None, 0.9, None, None, "q")] * 3,
        Event(_at(1), SUGGESTED, None, None, 0.4, None, None, "q"),
        *[Event(_at(1), SUGGESTION_CHOSEN, None, "card-uses", None, None, None, "q")] * 2,  # capped
        Event(_at(7), UNANSWERED, None, None, None, None, None, "q"),
    ]
    weeks = count_weeks(events, period)
    assert weeks == [Week(dt.date(2025, 8, 18), 1, 0, 0), Week(dt.date(2025, 8, 25), 0, 0, 0),
                     Week(DAY, 4, 3, 1), Week(dt.date(2025, 9, 8), 1, 0, 0)]
    assert [w.share for w in weeks] == [0.0, None, 0.75, 0.0]
    assert weeks[2].share_with_choices == 1.0
    assert count_weeks([], period) == [Week(DAY, 0, 0, 0), Week(dt.date(2025, 9, 8), 0, 0, 0)]


def test_html_without_matplotlib(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    page = tmp_path / "report.html"
    assert main(["report", "--html", str(page), "--data-dir", str(data_dir)]) == 2
    assert "shebao-bot[report]" in capsys.readouterr().err
    assert not page.exists()


def test_empty_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--days", "3", "--data-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "no analytics recorded yet" in err and "(none)" in out


def test_data_dir_from_environment(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BOT_DATA_DIR", str(data_dir))
    assert main(["report", *PERIOD]) == 0
    assert "家里人能用吗" in capsys.readouterr().out


def test_period_options() -> None:
    today = dt.date(2025, 9, 10)
    default = period_from(None, None, None, today=today)
    assert (default.since, default.until) == (dt.date(2025, 9, 4), today)
    assert period_from(None, today, 1).since == today
    assert len(period_from(dt.date(2025, 9, 1), dt.date(2025, 9, 30), None).days()) == 30
    with pytest.raises(PeriodError):
        period_from(dt.date(2025, 9, 2), dt.date(2025, 9, 1), None)
    with pytest.raises(PeriodError):
        period_from(None, None, 0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report", "--since", "2025-09-01", "--days", "3"])


async def test_csv_cells_that_would_be_formulas_are_neutralised(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A question typed as a spreadsheet formula reaches the CSV as text, with a leading '."""
    store = Analytics.open(tmp_path)
    typed = ['=HYPERLINK("http://x","点我")', "+1+2", "-3+4", "@SUM(A1)", "\t=1+1", "社保卡=身份证吗"]
    for i, question in enumerate(typed):
        await store.record(UNANSWERED, user_id=i, question=question, at=_at(i % 3))
    await store.record(SUGGESTION_CHOSEN, chosen_entry_id="card-what", question="=1+1", at=_at(0))
    await store.close()
    assert main(["report", *PERIOD, "--csv", "--data-dir", str(tmp_path)]) == 0
    cells = [cell for row in csv.reader(io.StringIO(capsys.readouterr().out)) for cell in row]
    assert "'=HYPERLINK(\"http://x\",\"点我\")" in cells
    assert {"'+1+2", "'-3+4", "'@SUM(A1)", "'=1+1"} <= set(cells)
    assert "社保卡=身份证吗" in cells  # only a formula's first character matters
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


async def test_votes_count_each_user_once_per_entry(tmp_path: Path) -> None:
    """Pressing 👎 (or 👍) again and again counts as one user: the report counts distinct users."""
    store = Analytics.open(tmp_path)
    for _ in range(5):
        await store.record(FEEDBACK_DOWN, entry_id="card-what", user_id=1, chat_type="private", at=_at(0))
    await store.record(FEEDBACK_DOWN, entry_id="card-what", user_id=2, chat_type="group", at=_at(1))
    for _ in range(3):
        await store.record(FEEDBACK_UP, entry_id="card-what", user_id=3, chat_type="private", at=_at(1))
    await store.record(FEEDBACK_DOWN, entry_id="sharing-how", user_id=1, at=_at(2))
    await store.close()
    report = load_report(tmp_path, period_from(DAY, DAY + dt.timedelta(days=2), None))
    assert [(v.entry_id, v.down, v.up) for v in report.votes] == [
        ("card-what", 2, 1), ("sharing-how", 1, 0)]
