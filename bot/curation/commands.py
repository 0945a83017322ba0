"""`python -m bot kb suggest | accept | reject`: the curators' loop on the command line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..analytics import DB_FILE, read_events
from ..engine import Engine, KnowledgeError
from ..engine.knowledge import DEFAULT_DIR
from .accept import Curator, Refused, labelled_sets
from .proposals import (
    DEFAULT_DAYS,
    Kind,
    Proposal,
    load_proposals,
    proposal_id,
    propose,
    reject,
)

_cache: dict[tuple[Path, str], Engine] = {}  # the last engine built, by folder and content


def engine_for(root: Path | str | None) -> Engine:
    """An engine over a knowledge folder, reused while the folder's content is unchanged
    (the report and the kb commands may ask several times in one process)."""
    from ..engine.check import errors, validate

    path = Path(root) if root else DEFAULT_DIR
    kb, problems = validate(path)
    if kb is None or errors(problems):
        listing = "\n".join(str(p) for p in errors(problems)) or "cannot load"
        raise KnowledgeError(f"knowledge base {path} fails the check:\n{listing}")
    key = (path.resolve(), kb.digest)
    if key not in _cache:
        _cache.clear()
        _cache[key] = Engine(kb)
    return _cache[key]


def remember(engine: Engine) -> None:
    """Make `engine` the cached one for its folder (after kb accept changed the folder)."""
    _cache.clear()
    _cache[(engine.kb.root.resolve(), engine.kb.digest)] = engine


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir:
        return Path(args.data_dir)
    from ..settings import Settings

    return Settings.from_env().data_dir


def _setup(args: argparse.Namespace) -> tuple[Path, Engine]:
    from ..settings import SettingsError

    try:
        data_dir = _data_dir(args)
        engine = engine_for(args.knowledge)
    except (KnowledgeError, SettingsError) as exc:
        print(f"错误:{exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    return data_dir, engine


def render_text(proposals: Sequence[Proposal]) -> str:
    """Proposals as a terminal table, with what to type to act on them."""
    if not proposals:
        return "no proposals (nothing new in the analytics store, or all handled)"
    lines = ["id\tkind\tentry\tcount\tquestion\tother wordings"]
    for p in proposals:
        lines.append("\t".join([p.id, p.kind.value, p.entry or "-", str(p.count), p.question,
                                " | ".join(p.examples)]))
    lines += ["", "accept an alternate: python -m bot kb accept ID   "
                  "(new entries and reviews are done by hand)",
              "never propose one again: python -m bot kb reject ID"]
    return "\n".join(lines)


def cmd_kb_suggest(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Print proposals from the analytics store: JSON with --json."""
    out = stdout or sys.stdout
    if args.days < 1:
        print("错误:--days must be at least 1", file=sys.stderr)
        return 2
    data_dir, engine = _setup(args)
    if not (data_dir / DB_FILE).is_file():
        print(f"note: no analytics recorded yet in {data_dir}", file=sys.stderr)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=args.days)
    proposals = load_proposals(data_dir, engine, since)
    if args.json:
        print(json.dumps([p.to_json() for p in proposals], ensure_ascii=False, indent=1), file=out)
    else:
        print(render_text(proposals), file=out)
    return 0


def resolve(ids: Sequence[str], data_dir: Path, engine: Engine) -> dict[str, Proposal | None]:
    """The proposal behind each id, over the whole store (an id printed for any period is found).

    An alternate whose cluster reads differently over another period is still found: every
    stored question is tried as an alternate of every entry.
    """
    wanted = {i.strip().lower() for i in ids}
    events = read_events(data_dir)
    found: dict[str, Proposal | None] = {p.id: p for p in propose(events, engine) if p.id in wanted}
    missing = wanted - found.keys()
    if missing:
        questions = {e.question.strip() for e in events if e.question and e.question.strip()}
        for question in sorted(questions):
            for entry in engine.kb.entries:
                pid = proposal_id(Kind.ALTERNATE, entry, question)
                if pid in missing:
                    found[pid] = Proposal(Kind.ALTERNATE, entry, question, 0, source="store")
                    missing.discard(pid)
    return {i.strip().lower(): found.get(i.strip().lower()) for i in ids}


def cmd_kb_accept(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Write accepted alternates into knowledge/ after every check; exit 1 if any was refused."""
    out = stdout or sys.stdout
    data_dir, engine = _setup(args)
    root = Path(args.knowledge) if args.knowledge else DEFAULT_DIR
    try:
        curator = Curator(root, labelled_sets(), engine)
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    refused = accepted = 0
    for pid, proposal in resolve(args.ids, data_dir, engine).items():
        if proposal is None:
            print(f"refused {pid}: no such proposal in {data_dir} (run `python -m bot kb suggest`)",
                  file=sys.stderr)
            refused += 1
            continue
        try:
            done = curator.accept(proposal)
        except Refused as exc:
            print(f"refused {pid} ('{proposal.question}' → {proposal.entry}): {exc}", file=sys.stderr)
            refused += 1
            continue
        remember(curator.engine)
        accepted += 1
        print(f"accepted {pid}: '{proposal.question}' is now an alternate of {proposal.entry} "
              f"({done.file})", file=out)
        print(done.diff, file=out, end="")
        if done.note:
            print(done.note, file=out)
    if accepted:
        print("next: read the diff, commit it, then reload the bot (/reload or SIGHUP)", file=out)
    return 1 if refused else 0


def cmd_kb_reject(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Remember rejected proposals so that `kb suggest` does not list them again."""
    out = stdout or sys.stdout
    data_dir, engine = _setup(args)
    resolved = resolve(args.ids, data_dir, engine)
    unknown = [pid for pid, p in resolved.items() if p is None]
    for pid in unknown:
        print(f"错误:no proposal {pid} in {data_dir} (run `python -m bot kb suggest`)", file=sys.stderr)
    known = [p for p in resolved.values() if p is not None]
    if known:
        reject(data_dir, known)
    for p in known:
        print(f"rejected {p.id}: {p.kind.value} {p.entry or '-'} '{p.question}'", file=out)
    return 1 if unknown else 0


def add_kb_commands(kb_sub: Any, common: argparse.ArgumentParser) -> None:
    """Add suggest, accept and reject to the `kb` subcommands of bot/cli.py."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data-dir", metavar="DIR", default=None,
                      help="where the bot keeps its data (default: BOT_DATA_DIR or ./data)")
    suggest = kb_sub.add_parser("suggest", parents=[common, data],
                                help="proposals from what people asked: alternates, new entries, reviews")
    suggest.add_argument("--days", metavar="N", type=int, default=DEFAULT_DAYS,
                         help=f"look at the last N days (default {DEFAULT_DAYS})")
    suggest.add_argument("--json", action="store_true", help="print a JSON list")
    suggest.set_defaults(func=cmd_kb_suggest)
    accept = kb_sub.add_parser("accept", parents=[common, data],
                               help="write accepted alternates into knowledge/, after checks")
    accept.add_argument("ids", nargs="+", metavar="ID")
    accept.set_defaults(func=cmd_kb_accept)
    rejected = kb_sub.add_parser("reject", parents=[common, data],
                                 help="never propose these again")
    rejected.add_argument("ids", nargs="+", metavar="ID")
    rejected.set_defaults(func=cmd_kb_reject)
