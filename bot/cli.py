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

if TYPE_CHECKING:
    from .engine import Engine


def _engine(args: argparse.Namespace) -> Engine:
    from .engine.cache import load_engine  # the engine's modules load with it, when needed

    try:
        return load_engine(args.knowledge)
    except KnowledgeError as exc:
        print(f"错误:{exc}", file=sys.stderr)
        raise SystemExit(1) from exc


def cmd_chat(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """A conversation in the terminal: the same conversation core as the Telegram bot, with
    questions and feedback recorded in the analytics store (--data-dir, BOT_DATA_DIR or ./data)."""
    engine = _engine(args)
    import asyncio  # only the chat needs an event loop; `ask` starts faster without it

    return asyncio.run(_chat(engine, _data_dir(args), stdin, stdout))


def _data_dir(args: argparse.Namespace) -> Path:
    from .settings import Settings, SettingsError

    if getattr(args, "data_dir", None):
        return Path(args.data_dir)
    try:
        return Settings.from_env().data_dir
    except SettingsError as exc:
        print(f"错误:{exc}", file=sys.stderr)
        raise SystemExit(2) from exc


async def _chat(engine: Engine, data_dir: Path, stdin: TextIO, stdout: TextIO) -> int:
    from asyncio import to_thread

    from .analytics import Analytics, AnalyticsFeedbackSink
    from .conversation import Conversation
    from .conversation.terminal import TerminalChat

    store = Analytics.open(data_dir)
    chat = TerminalChat(Conversation(engine, AnalyticsFeedbackSink(store), store))
    interactive = stdin.isatty() and stdout.isatty()
    if interactive:
        print("社保小助手(输入问题;输入数字选择按钮;/bind 绑定流程;/help 帮助;Ctrl-D 退出)\n",
              file=stdout)
        print(chat.text_of(chat.handle("/start")) + "\n", file=stdout)
    try:
        while True:
            if interactive:
                print("你> ", end="", file=stdout, flush=True)
            line = await to_thread(stdin.readline)
            if not line:
                break
            if not line.strip():
                continue
            if not interactive:
                print(f"> {line.strip()}", file=stdout)
            print(chat.text_of(chat.handle(line)) + "\n", file=stdout, flush=True)
    finally:
        await store.close()
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Print the answer to one question (or a JSON object with --json)."""
    from .analytics import MAX_QUESTION_CHARS

    engine = _engine(args)
    reply = engine.answer(args.question[:MAX_QUESTION_CHARS])  # as the Telegram layer cuts it
    if args.json:
        out = {"id": reply.entry_id, "score": round(reply.score, 4), "text": reply.text,
               "suggestions": list(reply.suggestions)}
        print(json.dumps(out, ensure_ascii=False))
    else:
        from .conversation.terminal import render

        print(render(reply))
    return 0


def cmd_match(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Match questions read one per line, writing one JSON object per line as it goes."""
    from .analytics import MAX_QUESTION_CHARS
    from .jsonl import input_lines, write_line

    engine = _engine(args)
    for line in input_lines(stdin):  # bytes decoded with errors replaced, whatever the locale
        query = line.rstrip("\r\n")[:MAX_QUESTION_CHARS]  # matched as the Telegram layer cuts it
        if not query.strip():
            continue
        reply = engine.answer(query)
        out = {"query": query, "id": reply.entry_id if reply.answered else None,
               "score": round(reply.score, 4), "suggestions": list(reply.suggestions)}
        write_line(stdout, out)
    return 0


def cmd_explain(args: argparse.Namespace, stdout: TextIO = sys.stdout) -> int:
    """Why the bot answers a question (or each line of a file) as it does."""
    from .engine.explain import explain, table

    if (args.question is None) == (args.file is None):
        print("错误:给一个问题,或者用 --file 给一个每行一个问题的文件。", file=sys.stderr)
        return 2
    engine = _engine(args)
    if args.file is not None:
        try:
            lines = Path(args.file).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            print(f"错误:读不了 {args.file}:{exc.strerror}", file=sys.stderr)
            return 1
        found = [explain(engine, q.strip()) for q in lines if q.strip()]
    else:
        found = [explain(engine, args.question)]
    if args.json:
        payload = [e.as_dict() for e in found]
        stdout.write(json.dumps(payload if args.file else payload[0], ensure_ascii=False, indent=1) + "\n")
    elif args.file is not None:
        stdout.write(table(found) + "\n")
    else:
        stdout.write(found[0].text() + "\n")
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
    report = load_report(data_dir, period, args.knowledge)
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
    chat = sub.add_parser("chat", parents=[common], help="chat in the terminal")
    chat.add_argument("--data-dir", metavar="DIR", default=None,
                      help="where questions and feedback are recorded (default: BOT_DATA_DIR or ./data)")
    chat.set_defaults(func=cmd_chat)
    ask = sub.add_parser("ask", parents=[common], help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.set_defaults(func=cmd_ask)
    match = sub.add_parser("match", parents=[common], help="match questions from stdin")
    match.add_argument("--jsonl", action="store_true", required=True, help="JSON lines out")
    match.set_defaults(func=cmd_match)
    explain = sub.add_parser("explain", parents=[common],
                             help="how a question was read, scored and decided (hit testing)")
    explain.add_argument("question", nargs="?", default=None)
    explain.add_argument("--file", metavar="FILE", help="one question a line: a table of outcomes")
    explain.add_argument("--json", action="store_true", help="JSON instead of text")
    explain.set_defaults(func=cmd_explain)
    kb = sub.add_parser("kb", help="knowledge base tools")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_sub.add_parser("check", parents=[common], help="validate the knowledge base")
    check.add_argument("dir", nargs="?", default=None)
    check.set_defaults(func=cmd_kb_check)
    from .curation.commands import add_kb_commands

    add_kb_commands(kb_sub, common)  # suggest, accept, reject: bot/curation
    sub.add_parser("run", parents=[common], help="run the Telegram bot").set_defaults(func=cmd_run)
    report = sub.add_parser("report", parents=[common], help="curators' report: unanswered, 👎, did-you-mean choices")
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
