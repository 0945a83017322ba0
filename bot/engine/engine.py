"""The engine: normalise → match → compose an answer, a case verdict, suggestions or a refusal."""

from __future__ import annotations

import re
from pathlib import Path

from . import messages as msg
from .actions import NoneOfThese, ShowEntry, ShowTopic, StartFlow, Vote
from .cases import Place, Regions, Relation, Relatives
from .check import errors, validate
from .cues import Cues, Intent, Offer, SmallTalk
from .knowledge import DEFAULT_DIR, Entry, KnowledgeBase, KnowledgeError
from .lexicon import Lexicon
from .matcher import Match, Matcher
from .normalize import compact
from .policy import CHAT_PREFIX, OOS_PREFIX, UNRELATED, Outcome, Policy
from .reply import Button, Reply, ReplyKind, rows

CASE_SCORE = 0.95  # reported for a verdict read from relatives.yaml / regions.yaml
# Entry traits (set in knowledge/faq, listed in check.TRAITS) that steer the verdicts below.
RELATIVE_VERDICT, PLACE_VERDICT = "relative-verdict", "place-verdict"
HOW_TO, ANY_RELATIVE, ANY_PLACE = "how-to", "any-relative", "any-place"
BUTTON_LABEL_MAX = 40
PRONOUN = re.compile("[他她]")  # stands for the relative named earlier in the question
ASKS_WINDOW = 8  # characters around a relation word where "may they use it" is about them
OTHER_CARD = "other-card"  # the rule name when a question is about another card (see about_another_card)


class Engine:
    """Answers questions from one knowledge base; knows nothing of any chat platform."""

    def __init__(self, kb: KnowledgeBase, policy: Policy | None = None) -> None:
        self.kb = kb
        self.cues = Cues(kb.cues)
        self.smalltalk = SmallTalk(kb.smalltalk)
        self.relatives = Relatives(kb.relatives)
        self.regions = Regions(kb.regions)
        classes = {**dict.fromkeys(self.regions.words(), "@place"),
                   **dict.fromkeys(self.relatives.words(), "@relative")}
        self.lexicon = Lexicon(kb.synonyms, kb.synonyms, classes)
        listed = [q for e in kb.entries.values() for q in e.variants]
        self.lexicon.learn(listed)
        self.lexicon.learn_pinyin(listed + [q for qs in kb.training.entries.values() for q in qs])
        documents: list[tuple[str, list[str], str]] = [
            (e.id, list(e.variants), e.answer) for e in kb.entries.values()
        ]
        documents += [(OOS_PREFIX + t.id, list(t.examples), t.hint) for t in kb.out_of_scope]
        extra = [(CHAT_PREFIX + i.id, i.examples) for i in self.smalltalk.intents.values()]
        # The training questions of examples/*.yaml teach the classifier only.
        training = kb.training
        extra += list(training.entries.items())
        extra += [(OOS_PREFIX + topic, questions) for topic, questions in training.uncovered.items()]
        extra.append((UNRELATED, self.smalltalk.unrelated + training.unrelated))
        self.matcher = Matcher(self.lexicon, documents, policy, extra)
        self._oos_hints = {t.id: t.hint for t in kb.out_of_scope}
        holders = {t: kb.with_trait(t) for t in (RELATIVE_VERDICT, PLACE_VERDICT)}
        self.relatives_id = holders[RELATIVE_VERDICT][0].id if holders[RELATIVE_VERDICT] else None
        self.regions_id = holders[PLACE_VERDICT][0].id if holders[PLACE_VERDICT] else None
        # Topics whose answers are about sharing the account: named relatives and places there
        # are what the question is about, and the answers offer the topic's dialogue.
        self._flow_of = {c.id: c.flow for c in kb.categories if c.flow}
        # (cue, entries of the topics that need it): cues.yaml `requires`, read once.
        # A key of `requires`/`yields` is a topic (all its entries) or one entry.
        scope = {**{c.id: frozenset(c.entry_ids) for c in kb.categories},
                 **{e: frozenset({e}) for e in kb.entries}}
        self._needs = [(cue, scope[k]) for k, cue in self.cues.requires.items() if k in scope]
        # (cue, entries of the topics that step back when it is there): cues.yaml `yields`.
        self._yields = [(cue, scope[k]) for k, cue in self.cues.yields.items() if k in scope]

    @classmethod
    def from_folder(cls, root: Path | str | None = None, policy: Policy | None = None) -> Engine:
        """Load, check and index a knowledge folder; refuses a base that fails the check."""
        path = Path(root) if root else DEFAULT_DIR
        kb, problems = validate(path)
        bad = errors(problems)
        if kb is None or bad:
            listing = "\n".join(str(p) for p in bad) or "cannot load"
            raise KnowledgeError(f"knowledge base {path} fails the check:\n{listing}")
        return cls(kb, policy)

    # ----- answers -----

    def answer(self, question: str) -> Reply:
        """The reply to one free-text question."""
        return self.answer_and_match(question)[0]

    def answer_and_match(self, question: str) -> tuple[Reply, Match | None]:
        """The reply and the matcher's verdict behind it (None for small talk recognised by its
        exact words), for callers that also weigh the ranking (group auto-answer, inline mode)."""
        text = compact(question)
        if not text:
            # Letters of another script (Korean, Cyrillic…) are not a greeting.
            foreign = any(c.isalpha() for c in question)
            return Reply(msg.CHINESE_ONLY if foreign else msg.SMALLTALK_HELLO, kind=ReplyKind.SMALLTALK), None
        intent = self.smalltalk.exact(question)
        if intent is not None:
            return self.smalltalk_reply(intent), None
        prepared = self.lexicon.prepare(question)
        if self.about_another_card(prepared):
            # 农行借记卡怎么激活, 信用卡丢了怎么挂失: the words are ours, the card is not.
            match = Match(Outcome.NONE, None, 0.0, rule=OTHER_CARD, evidence=False)
            return Reply(f"{msg.NOT_OURS}\n{msg.HOTLINE_TAIL}", kind=ReplyKind.NONE), match
        places = self.regions.find(prepared, self.lexicon.boundaries, self.lexicon.is_word)
        relations = self.relatives.find(prepared)
        evidence = self.evidence(prepared, places, relations)
        match = self.matcher.match(question, prepared, evidence, self.demoted(prepared))
        if match.chat in self.smalltalk.intents:
            return self.smalltalk_reply(self.smalltalk.intents[match.chat]), match
        return self._reply_for(prepared, match, places, relations), match

    def about_another_card(self, prepared: str) -> bool:
        """Whether a question is about another card or account (a bank card, a gas card, WeChat)
        and names nothing of ours (社保, 医保…): cues.yaml `other_card` and `ours`."""
        return self.cues.has("other_card", prepared) and not self._says("ours", prepared)

    def _says(self, cue: str, prepared: str) -> bool:
        """Whether a cue is in the question as typed or with its synonyms rewritten (医疗保障 → 医保)."""
        return self.cues.has(cue, prepared) or self.cues.has(cue, self.lexicon.rewrite_synonyms(prepared))

    def evidence(self, prepared: str, places: list[Place], relations: list[Relation]) -> bool:
        """Whether a question shows it is about our domain: a domain word (cues.yaml), a relative
        named with "may they use / do they count" (not a bare 给: 给岳父送什么年货), or a place named
        with "cross-province / is it open"."""
        c = self.cues
        return (self._says("domain", prepared)
                or bool(relations) and c.has("eligibility", prepared)
                or bool(places) and c.has("place_evidence", prepared))

    def demoted(self, prepared: str) -> frozenset[str]:
        """The entries of topics that need a cue this question lacks (cues.yaml `requires`), or
        that step back for a cue it has (`yields`)."""
        lacking = [entries for cue, entries in self._needs if not self.cues.has(cue, prepared)]
        lacking += [entries for cue, entries in self._yields if self.cues.has(cue, prepared)]
        return frozenset().union(*lacking)

    def smalltalk_reply(self, intent: Intent) -> Reply:
        """A short reply to small talk, with what it offers (topics, the binding dialogue)."""
        buttons: tuple[tuple[Button, ...], ...] = ()
        if intent.offer is Offer.TOPICS:
            buttons = self._topic_buttons()
        elif intent.offer is Offer.BIND and self.kb.flows:
            buttons = rows([Button.of(msg.BIND_BUTTON, StartFlow(next(iter(self.kb.flows))))])
        return Reply(intent.reply, buttons=buttons, kind=ReplyKind.SMALLTALK)

    def _reply_for(self, prepared: str, match: Match, places: list[Place],
                   relations: list[Relation]) -> Reply:
        routed = self.cues.route(prepared) if match.evidence else None
        if routed in self.kb.entries:
            # A lent card, a deceased relative's balance, paying a relative's contribution from the
            # account: the entry says what applies, whoever the relative is, whatever topic the
            # words of the question are closest to.
            return self.entry_reply(routed, score=max(match.score, CASE_SCORE))
        if match.oos and relations and self._asks_about(prepared, relations) and (
            self.cues.has("account", prepared)
        ):
            # "我闺女能不能刷我的医保" shares words with an uncovered topic, but asks about her.
            case = self._case(prepared, match, [], relations)
            if case is not None:
                return case
        if match.oos:
            hint = self._oos_hints.get(match.oos, "")
            body = msg.NO_ANSWER_HINT.format(hint=hint) if hint else msg.NO_ANSWER
            if "123" not in body:  # every refusal points to a human channel
                body = f"{body}\n{msg.HOTLINE_TAIL}"
            return Reply(body, kind=ReplyKind.NONE, score=match.score)
        if not match.evidence:
            return Reply(f"{msg.NOT_OURS}\n{msg.HOTLINE_TAIL}", kind=ReplyKind.NONE, score=match.score)
        case = self._case(prepared, match, places, relations)
        if case is not None:
            return case
        if match.outcome is Outcome.ANSWER and match.entry_id:
            return self.entry_reply(match.entry_id, score=match.score, suggestions=match.suggestions)
        if match.outcome is Outcome.SUGGEST:
            return self.suggest_reply(match)
        return Reply(msg.NO_ANSWER, kind=ReplyKind.NONE, score=match.score)

    def _case(self, prepared: str, match: Match, places: list[Place],
              relations: list[Relation]) -> Reply | None:
        """A verdict on a named relative or place, when the question is about one.

        The ranking decides what the question is about: a relation or a place named in a
        question about something else (a card use, maternity benefits) is only context.
        """
        top, top_score = match.ranking[0] if match.ranking else (None, 0.0)
        top_entry = self.kb.entries.get(top) if top else None
        traits = top_entry.traits if top_entry else frozenset()
        vague = top_entry is None or top_score < self.matcher.policy.answer
        about_sharing = top_entry is not None and top_entry.category in self._flow_of
        cues = self.cues
        if places and self.regions_id and (
            PLACE_VERDICT in traits
            or ((vague or about_sharing) and ANY_PLACE not in traits
                and (cues.has("cross", prepared) or cues.has("eligibility", prepared)))
        ):
            lines = self.region_verdicts(places)
            lines += [self.relation_verdict(r) for r in relations if not r.near]
            lines.append(msg.REGION_CLOSING)
            return self._case_reply(self.regions_id, "\n\n".join(lines), match)
        strong = self._asks_about(prepared, relations)
        if not relations or not self.relatives_id or (ANY_RELATIVE in traits and not strong):
            return None
        all_near = all(r.near for r in relations)
        heads = "\n".join(self._verdict_head(r) for r in relations) if all_near else ""
        # "孩子能用我的医保卡吗", "我单位的个账能共济给他吗" name the card or the account: whatever
        # else the question mentions, it asks whether this relative may share it.
        names_account = cues.has("account", prepared)
        asks_how = cues.has("how", prepared) or not strong
        if about_sharing and top is not None and not vague and all_near and asks_how and (
            HOW_TO in traits or (PLACE_VERDICT in traits and cues.has("cross_province", prepared))
        ):
            # "How do I bind my mother?": the how-to, headed by the verdict on the relative.
            return self.entry_reply(top, score=top_score, prefix=heads)
        if (all_near and self.regions_id and (about_sharing or names_account)
                and cues.has("other_province", prepared)):
            # "在外省的爹妈能共济我的个账吗": who they are is settled; where they are is the question.
            return self.entry_reply(self.regions_id, score=max(top_score, CASE_SCORE), prefix=heads,
                                    kind=ReplyKind.CASE)
        asks_eligibility = strong or (about_sharing and cues.has("eligibility", prepared))
        # Sure of an entry of another topic, unless "may they share it" is said of them with 共济 or
        # the account named (我老公是灵活就业…我的个账能共济给他吗).
        sure_elsewhere = (top_score >= self.matcher.policy.sure and not about_sharing
                          and not (strong and cues.has("sharing", prepared)))
        if asks_eligibility and (about_sharing or vague or (names_account and not sure_elsewhere)):
            lines = [self.relation_verdict(r) for r in relations]
            if any(r.near for r in relations) and cues.has("uninsured", prepared):
                lines.append(msg.RELATIVE_UNINSURED)
            if names_account and not cues.has("sharing", prepared):
                lines.append(msg.RELATIVE_CARD_NOTE)
            lines.append(msg.RELATIVE_CLOSING)
            return self._case_reply(self.relatives_id, "\n\n".join(lines), match)
        return None

    def _asks_about(self, prepared: str, relations: list[Relation]) -> bool:
        """Whether "may they use it" is said of a named relative: near the relation word or a
        pronoun standing for them (孩子能用我的医保卡吗, 能给我妈用吗, 我的个账能共济给他吗), not
        elsewhere in the sentence (社保卡是孙子给办的,要去哪里弄一下才能用)."""
        spots = [(m.start(), m.end()) for m in PRONOUN.finditer(prepared)]
        for relation in relations:
            at = prepared.find(relation.word)
            if at >= 0:
                spots.append((at, at + len(relation.word)))
        return any(self.cues.has("eligibility_strong", prepared[max(0, a - ASKS_WINDOW):b + ASKS_WINDOW])
                   for a, b in spots)

    def _case_reply(self, entry_id: str, body: str, match: Match) -> Reply:
        """A verdict under the entry it specialises, with that entry's source and date."""
        return self.entry_reply(entry_id, score=max(match.score, CASE_SCORE), body=body,
                                kind=ReplyKind.CASE)

    def _verdict_head(self, relation: Relation) -> str:
        template = msg.RELATIVE_YES if relation.near else msg.RELATIVE_NO
        return template.format(
            word=relation.word, law=self.relatives.law, category=relation.category,
            reason=relation.note,
        )

    def relation_verdict(self, relation: Relation) -> str:
        """The verdict on one relation word, with what it means for the user."""
        pronoun = "对方"
        head = self._verdict_head(relation)
        if relation.near:
            note = f"({relation.note})" if relation.note else ""
            return f"{head}{note}\n{msg.RELATIVE_YES_TAIL.format(pronoun=pronoun)}"
        return f"{head}\n{msg.RELATIVE_NO_TAIL.format(pronoun=pronoun)}"

    def region_verdict(self, place: Place) -> str:
        """Whether one place is in the first cross-province batch, and what happened since."""
        return "\n".join(self.region_verdicts([place]))

    def region_verdicts(self, places: list[Place]) -> list[str]:
        """Whether each place is in the first cross-province batch; the places outside it are
        named together, with what happened since said once."""
        r = self.regions
        lines: list[str] = []
        for place in places:
            if place.first_batch and place.is_province:
                lines.append(msg.REGION_PROVINCE_IN.format(
                    name=place.word, since=r.live_since, regions="、".join(place.batch_regions)))
            elif place.first_batch:
                lines.append(msg.REGION_IN.format(
                    name=place.word, province=place.province, count=r.count, since=r.live_since))
        outside = [p.word for p in places if not p.first_batch]
        if outside:
            text = msg.REGION_OUT.format(name="、".join(outside), count=r.count)
            lines.append(f"{text}\n{r.later}" if r.later else text)
        notes = dict.fromkeys(r.note_for(p) for p in places)
        lines += [n for n in notes if n]
        return lines

    # ----- composed replies -----

    def entry_reply(
        self, entry_id: str, score: float = 1.0, suggestions: tuple[str, ...] = (), prefix: str = "",
        body: str | None = None, kind: ReplyKind = ReplyKind.ANSWER,
    ) -> Reply:
        """The answer of one entry (or `body` in its place, e.g. a verdict), with its source line,
        related questions and feedback buttons."""
        entry = self.kb.entries[entry_id]
        if body is None:
            body = f"{prefix}\n\n{entry.answer}" if prefix else entry.answer
        return Reply(
            body,
            title=entry.question,
            footer=self.footer(entry),
            buttons=self._entry_buttons(entry),
            kind=kind,
            entry_id=entry.id,
            score=score,
            suggestions=suggestions,
        )

    def footer(self, entry: Entry) -> str:
        """The source-and-date line of an entry."""
        return msg.FOOTER.format(source=entry.source, as_of=entry.as_of.isoformat())

    def _entry_buttons(self, entry: Entry) -> tuple[tuple[Button, ...], ...]:
        buttons = [self.question_button(rid) for rid in entry.related if rid in self.kb.entries]
        flow = self._flow_of.get(entry.category)
        if flow in self.kb.flows:
            buttons.append(Button.of(msg.BIND_BUTTON, StartFlow(flow)))
        feedback = (Button.of(msg.FEEDBACK_UP, Vote(True, entry.id)),
                    Button.of(msg.FEEDBACK_DOWN, Vote(False, entry.id)))
        return (*rows(buttons), feedback)

    def question_button(self, entry_id: str) -> Button:
        """A button that shows one entry's answer."""
        label = self.kb.entries[entry_id].question
        if len(label) > BUTTON_LABEL_MAX:
            label = label[: BUTTON_LABEL_MAX - 1] + "…"
        return Button.of(label, ShowEntry(entry_id))

    def suggest_reply(self, match: Match) -> Reply:
        """"Did you mean" with up to three questions and a none-of-these button."""
        buttons = [self.question_button(s) for s in match.suggestions if s in self.kb.entries]
        buttons.append(Button.of(msg.NONE_OF_THESE_BUTTON, NoneOfThese()))
        return Reply(
            msg.DID_YOU_MEAN, buttons=rows(buttons), kind=ReplyKind.SUGGEST, score=match.score,
            suggestions=match.suggestions,
        )

    def none_of_these(self) -> Reply:
        """What the bot says when none of its suggestions fit."""
        return Reply(msg.NONE_OF_THESE, kind=ReplyKind.NONE)

    def greeting(self, kind: ReplyKind = ReplyKind.MENU) -> Reply:
        """The welcome text with the topic buttons."""
        return Reply(f"{msg.GREETING}\n\n{msg.TOPICS_PROMPT}", buttons=self._topic_buttons(), kind=kind)

    def topics(self) -> Reply:
        """The topic menu."""
        return Reply(msg.TOPICS_PROMPT, buttons=self._topic_buttons(), kind=ReplyKind.MENU)

    def _topic_buttons(self) -> tuple[tuple[Button, ...], ...]:
        buttons = [Button.of(c.title, ShowTopic(c.id)) for c in self.kb.categories if c.entry_ids]
        return rows(buttons, per_row=2)

    def topic(self, category_id: str) -> Reply | None:
        """The questions of one topic as buttons; None for an unknown topic."""
        for cat in self.kb.categories:
            if cat.id == category_id:
                buttons = [self.question_button(e) for e in cat.entry_ids]
                buttons.append(Button.of(msg.TOPICS_BUTTON, ShowTopic()))
                return Reply(msg.TOPIC_PROMPT.format(title=cat.title), buttons=rows(buttons), kind=ReplyKind.MENU)
        return None

    def help(self) -> Reply:
        """How to use the bot."""
        return Reply(msg.HELP, buttons=self._topic_buttons(), kind=ReplyKind.MENU)
