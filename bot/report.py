"""The curators' report: unanswered questions grouped by similarity, 👎 by entry, "did you mean"
choices, the curation proposals (bot/curation) and the share of questions answered per week."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from rapidfuzz import fuzz, process

from .analytics import (
    ANSWERED,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    NONE_OF_THESE,
    SUGGESTED,
    SUGGESTION_CHOSEN,
    UNANSWERED,
    Event,
    read_events,
)
from .curation.proposals import Proposal
from .engine.normalize import compact

DEFAULT_DAYS = 7  # the period when none is given: the last week, today included
# rapidfuzz ratio (0–100) on compact() text at or above which two unanswered questions are one
# group: "我的社保卡丢了怎么办啊" ~ "社保卡丢了怎么办" scores 84, while two short questions that
# differ in their key word ("社保卡怎么激活" / "社保卡怎么挂失") score about 71.
CLUSTER_THRESHOLD = 80.0
EXAMPLES_PER_GROUP = 3  # other wordings shown under a group's most frequent one
TEXT_ROW_LIMIT = 50  # rows per table in the terminal and HTML; --csv has them all
UNANSWERED_KINDS = frozenset({UNANSWERED, NONE_OF_THESE})
WEEKS_SHOWN = 12  # the weekly chart looks back this many weeks from the period's end
# One event per question asked: its outcome. 都不是 and a did-you-mean choice follow a "suggested".
QUESTION_KINDS = frozenset({ANSWERED, SUGGESTED, UNANSWERED})
# A CSV cell starting with one of these is read as a formula by spreadsheets (=HYPERLINK(…),
# +cmd…): such cells get a leading apostrophe, which shows the text as typed.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class PeriodError(ValueError):
    """The --since/--until/--days options do not describe a period."""


@dataclass(frozen=True)
class Period:
    """Whole UTC days from `since` to `until`, both included."""

    since: dt.date
    until: dt.date

    @property
    def start(self) -> dt.datetime:
        """The first moment of the period."""
        return dt.datetime.combine(self.since, dt.time(), tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """The first moment after the period."""
        return dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    def days(self) -> list[dt.date]:
        """Every day of the period, in order."""
        return [self.since + dt.timedelta(days=i) for i in range((self.until - self.since).days + 1)]

    def __str__(self) -> str:
        return f"{self.since.isoformat()} – {self.until.isoformat()} (UTC)"


def period_from(
    since: dt.date | None, until: dt.date | None, days: int | None, today: dt.date | None = None
) -> Period:
    """The period the options describe: `--days N` ending at `until` (default today), or since–until."""
    end = until or today or dt.datetime.now(dt.UTC).date()
    if days is not None and since is not None:
        raise PeriodError("give --since or --days, not both")
    if days is not None and days < 1:
        raise PeriodError("--days must be at least 1")
    start = since or end - dt.timedelta(days=(days or DEFAULT_DAYS) - 1)
    if start > end:
        raise PeriodError(f"--since {start} is after --until {end}")
    return Period(start, end)


@dataclass(frozen=True)
class Group:
    """Unanswered questions that read alike: the most frequent wording, a count, other wordings."""

    question: str
    count: int
    users: int
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntryVotes:
    """👎 and 👍 on one entry."""

    entry_id: str
    down: int
    up: int


@dataclass(frozen=True)
class Choice:
    """A question whose asker picked `entry_id` under "did you mean": a candidate alternate."""

    question: str
    entry_id: str
    count: int


@dataclass(frozen=True)
class Day:
    """Questions on one day: answered directly, answered after "did you mean", unanswered."""

    day: dt.date
    answered: int
    after_suggestion: int
    unanswered: int


@dataclass(frozen=True)
class Week:
    """Questions asked in one week (Monday to Sunday, UTC) and how many were answered."""

    start: dt.date
    questions: int  # answered, suggested or unanswered
    answered: int  # answered directly
    after_suggestion: int  # "did you mean" questions where the user picked a suggestion

    @property
    def share(self) -> float | None:
        """Share answered directly; None for a week without questions."""
        return self.answered / self.questions if self.questions else None

    @property
    def share_with_choices(self) -> float | None:
        """Share answered directly or after a "did you mean" choice."""
        if not self.questions:
            return None
        return min(1.0, (self.answered + self.after_suggestion) / self.questions)


@dataclass(frozen=True)
class Report:
    """Everything the report shows for one period."""

    period: Period
    unanswered: list[Group] = field(default_factory=list)
    votes: list[EntryVotes] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    days: list[Day] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    weeks: list[Week] = field(default_factory=list)
    note: str = ""  # why proposals are missing, when they are
    data_dir: Path | None = None  # where the events were read (named in the kb accept lines)
    knowledge: Path | None = None  # the knowledge folder proposals were made against, if not the default


def group_similar(questions: Iterable[tuple[str, str | None]],
                  threshold: float = CLUSTER_THRESHOLD) -> list[Group]:
    """Greedy clustering of (question, user hash) pairs, most frequent wordings first."""
    by_form: dict[str, Counter[str]] = defaultdict(Counter)  # compact form → original wordings
    users: dict[str, set[str]] = defaultdict(set)
    for question, user in questions:
        form = compact(question) or question.strip()
        if not form:
            continue
        by_form[form][question.strip()] += 1
        if user:
            users[form].add(user)
    ordered = sorted(by_form, key=lambda f: (-sum(by_form[f].values()), f))
    heads: list[str] = []  # the first (most frequent) form of each group
    members: dict[str, list[str]] = {}
    for form in ordered:
        best = process.extractOne(form, heads, scorer=fuzz.ratio, score_cutoff=threshold)
        if best is None:
            heads.append(form)
            members[form] = [form]
        else:
            members[best[0]].append(form)
    groups = []
    for head in heads:
        wordings: Counter[str] = Counter()
        for form in members[head]:
            wordings.update(by_form[form])
        ranked = [w for w, _ in wordings.most_common()]
        group_users = set().union(*(users[f] for f in members[head]))
        groups.append(Group(ranked[0], sum(wordings.values()), len(group_users),
                            tuple(ranked[1:1 + EXAMPLES_PER_GROUP])))
    return sorted(groups, key=lambda g: (-g.count, g.question))


def rank_votes(events: Iterable[Event]) -> list[EntryVotes]:
    """Entries with at least one 👎, most 👎 first (fewer 👍 first on a tie).

    Each user counts once per entry and direction, however often they voted; a vote without a
    user (none is recorded without one by the bot) counts on its own.
    """
    voters: dict[tuple[str, str], set[str]] = defaultdict(set)
    anonymous: Counter[tuple[str, str]] = Counter()
    for e in events:
        if not e.entry_id or e.kind not in (FEEDBACK_DOWN, FEEDBACK_UP):
            continue
        if e.user_hash:
            voters[(e.entry_id, e.kind)].add(e.user_hash)
        else:
            anonymous[(e.entry_id, e.kind)] += 1

    def count(entry: str, kind: str) -> int:
        return len(voters.get((entry, kind), ())) + anonymous[(entry, kind)]

    downvoted = {entry for entry, kind in (*voters, *anonymous) if kind == FEEDBACK_DOWN}
    rows = [EntryVotes(entry, count(entry, FEEDBACK_DOWN), count(entry, FEEDBACK_UP))
            for entry in downvoted]
    return sorted(rows, key=lambda r: (-r.down, r.up, r.entry_id))


def count_choices(events: Iterable[Event]) -> list[Choice]:
    """"Did you mean" choices by question (same compact form) and chosen entry, most frequent first."""
    counts: Counter[tuple[str, str]] = Counter()
    wordings: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for e in events:
        chosen = e.chosen_entry_id or e.entry_id
        if e.kind != SUGGESTION_CHOSEN or not chosen or not e.question:
            continue
        key = (compact(e.question) or e.question, chosen)
        counts[key] += 1
        wordings[key][e.question] += 1
    rows = [Choice(wordings[key].most_common(1)[0][0], key[1], n) for key, n in counts.items()]
    return sorted(rows, key=lambda c: (-c.count, c.entry_id, c.question))


def count_days(events: Iterable[Event], period: Period) -> list[Day]:
    """Per day of the period: answered, answered after "did you mean", unanswered."""
    tally: dict[dt.date, Counter[str]] = defaultdict(Counter)
    for e in events:
        tally[e.ts.date()][e.kind] += 1
    return [Day(d, tally[d][ANSWERED], tally[d][SUGGESTION_CHOSEN],
                sum(tally[d][k] for k in UNANSWERED_KINDS)) for d in period.days()]


def week_start(day: dt.date) -> dt.date:
    """The Monday of a day's week."""
    return day - dt.timedelta(days=day.weekday())


def count_weeks(events: Iterable[Event], period: Period, weeks: int = WEEKS_SHOWN) -> list[Week]:
    """Per week, up to `weeks` weeks ending with the period's last: questions and answers.

    Weeks before the first week with a question are left out (a new install has no history).
    """
    last = week_start(period.until)
    starts = [last - dt.timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    tally: dict[dt.date, Counter[str]] = defaultdict(Counter)
    for e in events:
        tally[week_start(e.ts.date())][e.kind] += 1
    rows = [Week(s, sum(tally[s][k] for k in QUESTION_KINDS), tally[s][ANSWERED],
                 min(tally[s][SUGGESTION_CHOSEN], tally[s][SUGGESTED])) for s in starts]
    first = next((i for i, w in enumerate(rows) if w.questions), len(rows))
    in_period = (last - week_start(period.since)).days // 7 + 1
    return rows[min(first, max(0, len(rows) - in_period)):]


def build_report(events: Sequence[Event], period: Period, proposals: Sequence[Proposal] = (),
                 weekly: Sequence[Event] | None = None, note: str = "") -> Report:
    """The report over events already limited to the period; `weekly` are the events of the
    weeks the weekly chart covers (default: the period's)."""
    unanswered = [(e.question, e.user_hash) for e in events
                  if e.kind in UNANSWERED_KINDS and e.question]
    return Report(period, group_similar(unanswered), rank_votes(events), count_choices(events),
                  count_days(events, period), list(proposals),
                  count_weeks(events if weekly is None else weekly, period), note)


def load_report(data_dir: Path | str, period: Period, knowledge: Path | str | None = None,
                proposals: bool = True) -> Report:
    """Read the events from the store in `data_dir` and build the report, with the curation
    proposals for the period against the knowledge base in `knowledge` (default knowledge/)."""
    weeks_from = dt.datetime.combine(week_start(period.until) - dt.timedelta(weeks=WEEKS_SHOWN - 1),
                                     dt.time(), tzinfo=dt.UTC)
    everything = read_events(data_dir, min(period.start, weeks_from), period.end)
    events = [e for e in everything if e.ts >= period.start]
    found: list[Proposal] = []
    note = ""
    if proposals and events:
        from .curation import engine_for, propose
        from .curation.proposals import read_rejections
        from .engine import KnowledgeError

        try:
            found = propose(events, engine_for(knowledge), read_rejections(data_dir))
        except KnowledgeError as exc:
            note = f"no proposals: {exc}"
    report = build_report(events, period, found, everything, note)
    return replace(report, data_dir=Path(data_dir).resolve(),
                   knowledge=Path(knowledge).resolve() if knowledge else None)


# ----- output -----

def tables(report: Report) -> list[tuple[str, str, list[str], list[list[object]]]]:
    """The report as (key, title, header, rows) tables: the one source for text, CSV and HTML."""
    return [
        ("unanswered", "Unanswered questions, grouped by similarity 未答问题",
         ["count", "users", "question", "other wordings"],
         [[g.count, g.users, g.question, " | ".join(g.examples)] for g in report.unanswered]),
        ("downvotes", "Entries with the most 👎 (and their 👍), in users who voted",
         ["entry", "down", "up"],
         [[v.entry_id, v.down, v.up] for v in report.votes]),
        ("did_you_mean", "\"Did you mean\" choices: candidate alternates 候选问法",
         ["count", "question", "chosen entry"],
         [[c.count, c.question, c.entry_id] for c in report.choices]),
        ("daily", "Questions per day",
         ["day", "answered", "answered after did-you-mean", "unanswered"],
         [[d.day.isoformat(), d.answered, d.after_suggestion, d.unanswered] for d in report.days]),
        ("proposals", "Proposals 建议: python -m bot kb accept ID (alternates) / kb reject ID",
         ["id", "kind", "entry", "count", "question", "other wordings"],
         [[p.id, p.kind.value, p.entry or "", p.count, p.question, " | ".join(p.examples)]
          for p in report.proposals]),
        ("weekly", "Share of questions answered per week 每周解答率",
         ["week of", "questions", "answered", "answered after did-you-mean", "share answered"],
         [[w.start.isoformat(), w.questions, w.answered, w.after_suggestion,
           "" if w.share is None else f"{w.share:.0%}"] for w in report.weeks]),
    ]


def render_text(report: Report, limit: int = TEXT_ROW_LIMIT) -> str:
    """The report as terminal text, one table after another."""
    lines = [f"shebao-bot report {report.period}"]
    if report.note:
        lines.append(report.note)
    for _key, title, header, rows in tables(report):
        lines += ["", f"== {title} =="]
        if not rows:
            lines.append("(none)")
            continue
        lines.append("\t".join(header))
        lines += ["\t".join(str(cell) for cell in row) for row in rows[:limit]]
        if len(rows) > limit:
            lines.append(f"… {len(rows) - limit} more (--csv lists them all)")
    return "\n".join(lines)


def csv_cell(cell: object) -> object:
    """A cell as written to CSV: text a spreadsheet would take for a formula starts with '."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def write_csv(report: Report, out: TextIO) -> None:
    """The report as CSV: per table a row with its key, a header row, the rows, a blank row.

    Questions are what users typed: a cell that would run as a formula is neutralised.
    """
    writer = csv.writer(out, lineterminator="\n")
    for key, _title, header, rows in tables(report):
        writer.writerow([key])
        writer.writerow(header)
        writer.writerows([csv_cell(cell) for cell in row] for row in rows)
        writer.writerow([])
