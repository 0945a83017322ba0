"""Command line: chat in the terminal, ask one question, batch-match, check the knowledge base, run the bot."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .engine.knowledge import DEFAULT_DIR, KnowledgeError
from .engine.normalize import compact
from .engine.reply import Reply

if TYPE_CHECKING:
    from .engine import Engine


def _engine(args: argparse.Namespace) -> Engine:
    from .engine.cache import load_engine  # the engine's modules load with it, when needed

    try:
        return load_engine(args.knowledge)
    except KnowledgeError as exc:
        print(f"错误:{exc}", file=sys.stderr)
        raise SystemExit(1) from exc


def render(reply: Reply, numbered_from: int = 1) -> str:
    """A reply as terminal text, buttons numbered so they can be chosen by typing the number."""
    lines = [reply.text]
    n = numbered_from
    for row in reply.buttons:
        cells = []
        for button in row:
            cells.append(f"[{n}] {button.label}")
            n += 1
        lines.append("  " + "   ".join(cells))
    return "\n".join(lines)


def cmd_chat(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """A conversation in the terminal with the same answers and dialogues as the bot."""
    from .engine import Dialogues, Session

    engine = _engine(args)
    session = Session(engine, Dialogues(engine))
    interactive = stdin.isatty() and stdout.isatty()
    buttons: list[str] = []
    labels: dict[str, str] = {}  # a button's label typed as text presses it too ("下一步")

    def show(replies: list[Reply]) -> None:
        nonlocal buttons, labels
        buttons, labels = [], {}
        for reply in replies:
            print(render(reply, len(buttons) + 1), file=stdout)
            for button in reply.flat_buttons():
                buttons.append(button.action)
                labels.setdefault(compact(button.label), button.action)
            print(file=stdout)
        stdout.flush()

    if interactive:
        print("社保小助手(输入问题;输入数字选择按钮;/bind 绑定流程;/help 帮助;Ctrl-D 退出)\n", file=stdout)
        show([engine.greeting()])
    while True:
        if interactive:
            print("你> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        if not interactive:
            print(f"> {text}", file=stdout)
        number = text.isascii() and text.isdigit()  # not ① or ²: int() refuses those
        if number and 1 <= int(text) <= len(buttons):
            show(session.action(buttons[int(text) - 1]))
        elif number and buttons and len(text) <= 2:
            print(f"没有这个选项,请输入 1–{len(buttons)} 之间的数字。\n", file=stdout)
        elif compact(text) in labels:
            show(session.action(labels[compact(text)]))
        elif text.startswith("/"):
            name, _, arg = text[1:].partition(" ")
            show(session.command(name.split("@")[0].lower(), arg.strip()))
        else:
            show(session.text(text))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Print the answer to one question (or a JSON object with --json)."""
    engine = _engine(args)
    reply = engine.answer(args.question)
    if args.json:
        out = {"id": reply.entry_id, "score": round(reply.score, 4), "text": reply.text,
               "suggestions": list(reply.suggestions)}
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(render(reply))
    return 0


def cmd_match(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Match questions read one per line, writing one JSON object per line as it goes."""
    engine = _engine(args)
    for line in stdin:
        query = line.rstrip("\n")
        if not query.strip():
            continue
        reply = engine.answer(query)
        out = {"query": query, "id": reply.entry_id if reply.kind in ("answer", "case") else None,
               "score": round(reply.score, 4), "suggestions": list(reply.suggestions)}
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


def cmd_kb_check(args: argparse.Namespace) -> int:
    """Validate a knowledge folder; exit 1 when it has errors."""
    from .engine.check import errors, validate

    root = Path(args.dir or args.knowledge or DEFAULT_DIR)
    kb, problems = validate(root)
    for problem in problems:
        print(problem, file=sys.stderr if problem.severity == "error" else sys.stdout)
    bad = errors(problems)
    warnings = len(problems) - len(bad)
    if kb is not None and not bad:
        print(f"OK: {root} — {kb.version}, {len(kb.categories)} topics, {warnings} warning(s)")
        return 0
    print(f"FAILED: {len(bad)} error(s), {warnings} warning(s) in {root}", file=sys.stderr)
    return 1


def cmd_run(args: argparse.Namespace) -> int:
    """Start the Telegram bot (long polling, or a webhook when WEBHOOK_URL is set)."""
    from .telegram.app import run

    return run(args.knowledge)


def cmd_report(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """The curators' report for a period: text, CSV on stdout, or one HTML page."""
    out = stdout or sys.stdout
    from .analytics import DB_FILE
    from .report import PeriodError, load_report, period_from, render_text, write_csv
    from .settings import Settings, SettingsError

    try:
        period = period_from(args.since, args.until, args.days)
        data_dir = Path(args.data_dir) if args.data_dir else Settings.from_env().data_dir
    except (PeriodError, SettingsError) as exc:
        print(f"错误:{exc}", file=sys.stderr)
        return 2
    if not (data_dir / DB_FILE).is_file():
        print(f"note: no analytics recorded yet in {data_dir}", file=sys.stderr)
    report = load_report(data_dir, period)
    if args.html:
        from .report_html import MatplotlibMissing, write_html

        try:
            write_html(report, args.html)
        except MatplotlibMissing as exc:
            print(f"错误:{exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.html}", file=sys.stderr)
    if args.csv:
        write_csv(report, out)
    elif not args.html:
        print(render_text(report), file=out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `python -m bot`."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="社保小助手 shebao-bot")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--knowledge", metavar="DIR", default=None,
                        help="knowledge folder (default: the project's knowledge/)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("chat", parents=[common], help="chat in the terminal").set_defaults(func=cmd_chat)
    ask = sub.add_parser("ask", parents=[common], help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.set_defaults(func=cmd_ask)
    match = sub.add_parser("match", parents=[common], help="match questions from stdin")
    match.add_argument("--jsonl", action="store_true", required=True, help="JSON lines out")
    match.set_defaults(func=cmd_match)
    kb = sub.add_parser("kb", help="knowledge base tools")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_sub.add_parser("check", parents=[common], help="validate the knowledge base")
    check.add_argument("dir", nargs="?", default=None)
    check.set_defaults(func=cmd_kb_check)
    sub.add_parser("run", parents=[common], help="run the Telegram bot").set_defaults(func=cmd_run)
    report = sub.add_parser("report", help="curators' report: unanswered, 👎, did-you-mean choices")
    when = report.add_mutually_exclusive_group()
    when.add_argument("--since", metavar="YYYY-MM-DD", type=dt.date.fromisoformat,
                      help="first day (UTC), included")
    when.add_argument("--days", metavar="N", type=int, help="the last N days (default 7)")
    report.add_argument("--until", metavar="YYYY-MM-DD", type=dt.date.fromisoformat,
                        help="last day (UTC), included (default today)")
    report.add_argument("--csv", action="store_true", help="the tables as CSV on stdout")
    report.add_argument("--html", metavar="FILE", help="write one self-contained HTML page")
    report.add_argument("--data-dir", metavar="DIR", default=None,
                        help="where the bot keeps its data (default: BOT_DATA_DIR or ./data)")
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
