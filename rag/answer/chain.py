"""The answering chain: condense -> retrieve -> evidence -> answerability -> generate -> verify.

One ``AnswerChain`` per backend and process; it is thread-safe (the retriever is stateless, the
embedder serialises itself, the LLM backend batches concurrent requests).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rag.answer import prompts
from rag.answer import refusal as why
from rag.answer.decision import answer_logprobs, yes_probability
from rag.answer.evidence import EvidenceItem, select_evidence
from rag.answer.sanitise import looks_like_refusal, without_instructions
from rag.answer.verify import Verification, premise_contradicted, verify
from rag.knobs import DEFAULT_KNOBS, Knobs
from rag.question import analyse, is_short_answer
from rag.settings import Settings
from rag.types import Answer, Citation, Passage, RagError, Timings, meta_of

log = logging.getLogger(__name__)

History = list[tuple[str, str]]  # [(role "user"|"assistant", text)]


def normalise_history(history, max_turns: int) -> History:
    """Accept [(role, text)], [{"role","content"}] or ["question", ...]; keep the last ``max_turns``."""
    out: History = []
    for h in history or []:
        if isinstance(h, str):
            out.append(("user", h))
        elif isinstance(h, dict):
            role = "assistant" if h.get("role") == "assistant" else "user"
            content = h.get("content")
            if isinstance(content, str) and content.strip():
                out.append((role, content))
        elif isinstance(h, (tuple, list)) and len(h) == 2:
            out.append(("assistant" if h[0] == "assistant" else "user", str(h[1])))
    return out[-max(1, max_turns) * 2:]


_FOLLOW_UP = re.compile(r"\b(he|she|it|they|him|her|them|his|hers|its|their|theirs|this|that|these|those|"
                        r"there|then|the same|the group|the company|the attack|the report)\b", re.I)


_PERSONAL = re.compile(r"\b(he|she|him|her|his|they|them|their)\b", re.I)
_THING = re.compile(r"\b(it|its|this|that|there)\b", re.I)
# the pronouns that stand for a person only ("they" may be a union or a company)
_PERSON = re.compile(r"\b(?:he|she|him|her|his|hers)\b", re.I)


def heuristic_condense(question: str, history: History, short_words: int = DEFAULT_KNOBS.short_answer_words) -> str:
    """Without an LLM: put the name the conversation is about in place of the pronoun."""
    from rag.text.lexical import extract_entities

    if not (_PERSONAL.search(question) or _THING.search(question)):
        return question
    names: list[str] = []
    last_user = next((t for r, t in reversed(history[-4:]) if r == "user"), "")
    last_answer = next((t for r, t in reversed(history[-4:]) if r == "assistant"), "")
    if last_answer.startswith(prompts.REFUSAL_PREFIX):
        last_answer = ""
    # A pronoun after a short answer most often points at what that answer introduced ("Which company
    # makes the vaccine?" - "Norvik Pharma." - "Who is its chief executive?"). A quoted sentence names
    # many things: then the user's own question names the topic most precisely, the answer is the fallback.
    asked = last_user.lower()
    short = is_short_answer(re.sub(r"\[\d{1,3}\]", "", last_answer), short_words)
    order = [(last_answer, True), (last_user, False)] if short else [(last_user, False), (last_answer, True)]
    personal = bool(_PERSON.search(question))
    for text, new_only in order:
        names = [e.text for e in extract_entities(text) if e.text.lower() not in question.lower()
                 and not (new_only and e.text.lower() in asked)]
        if personal:  # "she" is not the dam the user asked about, but the person the answer named
            names = [n for n in names if not _THING_NAME.search(n)]
        if names:
            break
    if not names:
        return question
    # a person's name for he/she, otherwise the first named thing
    person = next((n for n in names if len(n.split()) >= 2), names[0])
    m = _PERSONAL.search(question) or _THING.search(question)
    word = m.group(0)
    repl = person + ("'s" if word.lower() in ("his", "its", "their") else "")
    return question[:m.start()] + repl + question[m.end():]


def answer_words_taken(question: str, rewrite: str, history: History) -> int:
    """Content words a rewrite added that come from the assistant's answers and from no user turn."""
    from rag.text.lexical import content_set

    users = set(content_set(question))
    answers: set[str] = set()
    for role, text in history:
        (users if role == "user" else answers).update(content_set(text))
    return len((set(content_set(rewrite)) - users) & answers)


_WH = re.compile(r"\b(who|whom|whose|what|which|when|where|why|how)\b", re.I)


def keeps_question(question: str, rewrite: str,
                   share: float = Settings.model_fields["condense_keep_share"].default) -> bool:
    """A rewritten follow-up must still ask the same thing: the same question word and most of the
    question's own content words (``share``, ``Settings.condense_keep_share``). Small models sometimes
    answer or replace the question instead ("Where did she study engineering?" -> "Who is the chief
    engineer ...?")."""
    from rag.text.lexical import content_set

    def kind(w: str) -> str:
        w = w.lower()
        return "who/what" if w in ("who", "whom", "whose", "what", "which") else w

    wh = _WH.search(question)
    if wh and kind(wh.group(1)) not in {kind(w) for w in _WH.findall(rewrite)}:
        return False
    own = content_set(question)
    return len(own & content_set(rewrite)) >= math.ceil(share * len(own))


# Last words of names that are not people: a rewrite that puts one where the follow-up says "she" has
# resolved the pronoun to the wrong thing ("When is she due to report?" -> "When is Elder Dam due ...?").
_THING_NAME = re.compile(
    r"\b(?:Dam|Bay|Falls|River|Valley|Lake|Port|Harbour|City|Town|Village|Province|District|Coast|Island|"
    r"Stadium|Bridge|Street|Road|Square|Court|Council|Authority|Office|Ministry|Board|Commission|Bank|Party|"
    r"Union|Alliance|Collective|Group|Company|Systems|Labs|Terminals|Cup|League|Athletic|Rovers|United|FC|"
    r"Inc|Ltd|Corp|Assembly|Parliament|Government|Agency|Embassy)\b")


def person_became_thing(question: str, rewrite: str) -> bool:
    """Whether a follow-up about a person ("he", "she") was rewritten with only names of things."""
    from rag.text.lexical import extract_entities

    if not _PERSON.search(question):
        return False
    new = [e.text for e in extract_entities(rewrite) if e.text.lower() not in question.lower()]
    return bool(new) and all(_THING_NAME.search(n) for n in new)


def dateline(published: str) -> str:
    """"2032-03-15" -> "Monday 15 March 2032": an article's date in the words a question uses ("by
    Monday 15 March 2032", "in February 2032"); anything else as it stands."""
    import datetime as dt

    try:
        d = dt.date.fromisoformat(published.strip()[:10])
    except ValueError:
        return published
    return f"{d:%A} {d.day} {d:%B} {d.year}"


def same_question_word(question: str, rewrite: str) -> str:
    """The rewrite opens with the follow-up's own question word: "Who is its general secretary?"
    rewritten "What is the general secretary of ...?" asks for a person all the same, and the checks
    downstream read the question word."""
    q, r = _WH.match(question.strip()), _WH.match(rewrite.strip())
    if not q or not r or q.group(1).lower() == r.group(1).lower():
        return rewrite
    if {q.group(1).lower(), r.group(1).lower()} <= {"who", "what", "which"}:
        word = q.group(1)
        lead = len(rewrite) - len(rewrite.lstrip())
        return rewrite[:lead] + word[0].upper() + word[1:] + rewrite.strip()[len(r.group(1)):]
    return rewrite


# ", the former treasurer of the district council," after a name: a description the rewrite copied from an
# earlier answer. Every one of its words then counts as asked, and a sentence naming the person without it
# ("He will be sentenced in July") would cover too little of the question.
_APPOSITIVE = re.compile(r"(?<=[A-Za-z])\s*,\s+(?:the|a|an|his|her|its|their)\s+[^,?;]{1,80},(?=\s+[a-z])")


def without_new_appositives(question: str, rewrite: str) -> str:
    """The rewrite without the descriptions it set after a name that the follow-up did not have."""
    if "," in question:
        return rewrite
    return _APPOSITIVE.sub("", rewrite)


class AnswerChain:
    def __init__(self, settings: Settings, index_getter: Callable):
        self.settings = settings
        self.knobs = Knobs.from_settings(settings)  # the tuning numbers the steps below pass down
        self._index_getter = index_getter
        self._backend = None
        self._backend_lock = threading.Lock()
        self._scorer = None

    # ------------------------------------------------------------------ parts
    @property
    def index(self):
        return self._index_getter()

    @property
    def backend(self):
        """The LLM backend (None for extractive), started on first use and then shared."""
        if self.settings.backend == "extractive":
            return None
        if self._backend is None:
            with self._backend_lock:
                if self._backend is None:
                    from rag.answer.backends import make_backend

                    self._backend = make_backend(self.settings)
        return self._backend

    @property
    def scorer(self):
        if self._scorer is None:
            from rag.support import SupportScorer

            emb = self.index.embedder
            self._scorer = SupportScorer(embed=emb.encode, threshold=self.settings.support_threshold,
                                         knobs=self.knobs)
        return self._scorer

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    # ------------------------------------------------------------------ steps
    def condense(self, question: str, history: History) -> str:
        """A follow-up rewritten into a standalone question (LLM when available, else heuristic)."""
        users = [t for r, t in history if r == "user"]
        if not users:
            return question
        backend = self.backend
        if backend is not None and _FOLLOW_UP.search(question):
            try:
                s = self.settings
                out = backend.complete_text(prompts.condense_messages(history, question),
                                            max_tokens=s.condense_max_tokens)
                out = out.strip().strip('"').split("\n")[0].strip()
                if (s.condense_min_chars <= len(out) <= s.condense_max_chars and not looks_like_refusal(out)
                        and keeps_question(question, out, s.condense_keep_share)
                        and not person_became_thing(question, out)
                        and answer_words_taken(question, out, history) <= s.condense_max_answer_words):
                    return same_question_word(question, without_new_appositives(question, out))
                log.info("condensed question %r dropped (not the same question as %r)", out[:120], question)
            except RagError as exc:
                log.warning("condensing failed (%s); using the heuristic", exc)
        return heuristic_condense(question, history, self.knobs.short_answer_words)

    def retrieve(self, question: str, k: int | None, filters) -> tuple[list[Passage], object]:
        from rag.retrieve.hybrid import HybridSearch

        index = self.index
        qv = index.embedder.encode_one(question)
        return HybridSearch(index, top_k=k, filters=filters).search(question, query_vector=qv), qv

    def _refusal(self, question: str, standalone: str, passages: list[Passage], refused: why.Refused,
                 timings: Timings, items: list[EvidenceItem] | None = None) -> Answer:
        items = items or []
        text = {"empty_index": "The index is empty. Add articles in the Library tab or run `newsrag ingest PATH`.",
                "no_match": f"{prompts.REFUSAL_PREFIX}: no indexed article matches this question.",
                }.get(refused.reason.kind, f"{prompts.REFUSAL_PREFIX}.")
        return Answer(question=question, text=text, refused=True, citations=[], passages=passages[:3],
                      timings=timings, standalone_question=standalone, backend=self.settings.backend,
                      notes=[refused.note], evidence=evidence_dicts(items), origin="refusal", refusal=refused.reason)

    def _citations(self, verified: Verification, items: list[EvidenceItem]) -> tuple[str, list[Citation]]:
        """Render the answer with [n] markers renumbered 1..m in order of first use; a quote lying inside
        another cited quote of the same article is cited as that one (``contained_quotes``)."""
        by_n = {it.n: it for it in items}
        instead = contained_quotes([n for s in verified.sentences for n in s.cites], by_n)
        renum: dict[int, int] = {}
        cites: list[Citation] = []
        parts = []
        for s in verified.sentences:
            marks = []
            for n in dict.fromkeys(instead.get(n, n) for n in s.cites):
                if n not in renum:
                    renum[n] = len(renum) + 1
                    it = by_n[n]
                    text = it.passage_text if it.quote in it.passage_text else it.quote
                    cites.append(Citation(
                        n=renum[n], doc_id=it.doc_id, **meta_of(it.passage), text=text, quote=it.quote, start=it.quote_start, end=it.end))
                marks.append(f"[{renum[n]}]")
            sent = s.text.rstrip()
            parts.append(f"{sent} {''.join(marks)}")
        return " ".join(parts), cites

    def _extractive(self, items: list[EvidenceItem]) -> tuple[str, list[int]]:
        """The best evidence sentence, quoted as it stands: faithful by construction."""
        top = items[0]
        # a pronoun-led quote ("...," he said) is only an answer with the sentence that names "he"
        return top.display_text, [top.n]

    def _llm_answerable(self, items, question: str) -> bool:
        raw = self.backend.complete_json(prompts.answerable_messages(items, question),
                                         prompts.ANSWERABLE_SCHEMA, max_tokens=12)
        try:
            return bool(json.loads(raw).get("answerable"))
        except (ValueError, AttributeError):
            log.warning("answerability call returned non-JSON %r; treating as answerable", raw[:80])
            return True

    @staticmethod
    def _parse(raw: str, k: int) -> tuple[str, list[int]]:
        try:
            obj = json.loads(raw)
            text = str(obj.get("answer", "")).strip()
            cites = [int(c) for c in obj.get("citations", []) if isinstance(c, (int, float))]
        except (ValueError, AttributeError, TypeError):
            # output cut off at max_tokens: keep the answer text written so far, not the JSON around it
            text, cites = (partial_answer(raw) or raw).strip(), []
        return text, [c for c in cites if 1 <= c <= k]

    def _self_check(self, messages: list[dict], candidate: str) -> float | None:
        """P(true) of the model's check of the candidate (a decision signal); None if the call fails."""
        pairs: list = []
        try:
            self.backend.complete_json(prompts.self_check_messages(messages, candidate), prompts.SELF_CHECK_SCHEMA,
                                       max_tokens=8, logprobs=pairs)
        except RagError as exc:
            log.warning("the self-check call failed (%s); deciding without it", exc)
            return None
        return yes_probability(pairs)

    def _decide(self, standalone: str, rules: RuleVerdict, origin: str, body: str, items, passages,
                verified: Verification, answer_lps: list[float] | None, self_check: float | None = None,
                part: bool = False):
        """The answer-or-refuse decision on a verified candidate (None when switched off). A whole answer is
        judged at its origin's threshold; a part's answer at decision_threshold, whatever its origin: the quote
        threshold was chosen on quotes answering whole questions."""
        if not self.settings.decision:
            return None
        from rag.answer.decision import DecisionInput, decide, load_model, threshold_for

        d = DecisionInput(question=analyse(standalone), rules_ok=rules.ok, rule_reasons=rules.reasons,
                          rule_kinds=rules.kinds,
                          withheld=rules.withheld, origin=origin, answer=body, items=items, passages=passages,
                          sentences=verified.sentences, dropped=len(verified.dropped), answer_logprobs=answer_lps,
                          self_check=self_check,
                          short_words=self.knobs.short_answer_words)
        threshold = self.settings.decision_threshold if part else threshold_for(self.settings, origin)
        return decide(d, threshold, load_model(str(self.settings.decision_model_path)))

    def _answer_parts(self, standalone: str, messages: list[dict] | None, reply: str, items: list[EvidenceItem],
                      passages, verified: Verification, rules: RuleVerdict, notes: list[str],
                      origin: str) -> list[EvidenceItem]:
        """The further parts of a question that asks several things, each answered on its own: by an LLM in
        one more turn of the answer call's conversation (``messages``) with the part's best new evidence
        sentences, by the extractive backend (``messages`` None) by quoting the part's best sentence. A
        part's answer joins ``verified`` (in place) when it passes verification and the decision and says
        something the answer does not already say. Returns the evidence items, new ones numbered after.

        The model's own answer (``origin`` "model" or "recited") answers the first part: the later ones are
        asked (all of them when verification dropped part of the answer). A quoted sentence (the extractive
        backend, the quote fallback) is the best for the question as a whole and may answer any part: then
        each part, the first too, gets its own best sentence quoted (what repeats the quote drops out). A
        small model asked again after its answer failed verification repeats the quote it was shown."""
        from rag.text.lexical import content_set

        asked = analyse(standalone)
        if len(asked.parts) < 2:
            return items
        index = self.index
        said = set().union(*(content_set(v.text) for v in verified.sentences))
        quoted = {n for v in verified.sentences for n in v.cites}
        quoting = messages is None or origin not in ("model", "recited")
        # the first part is asked too when the answer may not hold it: a quote, or a model's answer that lost
        # a sentence or a clause in verification
        first = 0 if quoting or verified.dropped else 1
        for i, part in enumerate(asked.parts[first:], first + 1):
            # searched among the passages retrieved for the whole question, which are on its topic already
            found = select_evidence(part, passages, index.embedder, index.articles, k=self.settings.evidence_k,
                                    knobs=self.knobs)
            # the model's answer first; when it fails verification, the part's best sentence quoted, as for a
            # whole question (quote_fallback)
            ways = ["quote"] if quoting else ["model", "quote"] if self.settings.quote_fallback else ["model"]
            for how in ways:
                known = {(it.doc_id, it.start): it for it in items}
                if how == "quote":
                    if not found:
                        break
                    top = known.get((found[0].doc_id, found[0].start))
                    if top is not None and top.n in quoted:
                        break  # the sentence already quoted answers this part too
                    new = [] if top is not None else [found[0]]
                    top = top or found[0]
                    _number_after(items, new)
                    text, cited, lps = top.display_text, [top.n], None
                else:
                    new = [it for it in found if (it.doc_id, it.start) not in known][:self.settings.part_evidence_k]
                    _number_after(items, new)
                    model = self._ask_part(messages, reply, items + new, new, part)
                    if isinstance(model, str):
                        notes.append(f"part {i} of the question ({part!r}) not answered: {model}")
                        break
                    text, cited, lps = model
                shown = items + new
                checked = verify(text, cited, shown, self.scorer, question=part, knobs=self.knobs,
                                 headline=how == "model")
                if not checked.sentences:
                    notes += dropped_notes(checked)
                    continue
                fresh = [v for v in checked.sentences if content_set(v.text) - said]
                if not fresh:
                    notes.append(f"part {i} of the question ({part!r}): the answer already says it")
                    break
                checked.sentences = fresh
                origin_of_part = "model" if how == "model" else "extractive" if messages is None else "quote"
                decision = self._decide(part, rules, origin_of_part, self._citations(checked, shown)[0], shown,
                                        passages, checked, lps, part=True)
                if decision is not None and not decision.answer:
                    notes.append(f"part {i} of the question ({part!r}) not answered: {decision.note()}")
                    break
                # in the question's order: an answer to the first part, found later, is read first
                verified.sentences[len(verified.sentences) if i > 1 else 0:0] = fresh
                said |= set().union(*(content_set(v.text) for v in fresh))
                quoted |= {n for v in fresh for n in v.cites}
                items = shown
                notes.append(f"part {i} of the question ({part!r}) answered on its own ({origin_of_part})")
                break
        return items

    def _ask_part(self, messages: list[dict], reply: str, shown: list[EvidenceItem], new: list[EvidenceItem],
                  part: str) -> tuple[str, list[int], list[float] | None] | str:
        """The model's answer to one part, in one more turn of the answer call's conversation, shown the
        ``new`` evidence sentences (the last of ``shown``): (text, citations, log-probabilities), or why there
        is none."""
        k = len(shown)
        token_lps: list | None = [] if self.settings.llm_logprobs else None
        try:
            raw = self.backend.complete_json(prompts.part_messages(messages, reply, new, part),
                                             prompts.answer_schema(k), max_tokens=self.settings.llm_max_tokens,
                                             logprobs=token_lps)
        except RagError as exc:
            return f"the model call failed ({exc})"
        text, cited = self._parse(raw, k)
        if not text or looks_like_refusal(text):
            return "the model found no answer"
        return text, cited, answer_logprobs(token_lps) if token_lps else None

    # ------------------------------------------------------------------ public
    def prepare(self, question: str, history=None, filters=None, k: int | None = None):
        """Steps 1-3. Returns (standalone, passages, items, refusal-or-None, timings, t0, history, rules).

        ``rules`` is the answerability rules' verdict (:class:`RuleVerdict`). With
        ``answerability_rules = "veto"`` a rule's objection refuses here; with ``"feature"`` it is only
        passed on to the answer-or-refuse decision."""
        t0 = time.perf_counter()
        hist = normalise_history(history, self.settings.max_history_turns)
        # an instruction to the model inside the message is not part of what is asked
        standalone = without_instructions(self.condense(question, hist))
        if not standalone:
            timings = Timings(retrieve_ms=(time.perf_counter() - t0) * 1000)
            return question, [], [], why.no_question(), timings, t0, hist, RuleVerdict(False, 1, False)
        passages, qv = self.retrieve(standalone, k, filters)
        timings = Timings(retrieve_ms=(time.perf_counter() - t0) * 1000)
        if not passages:
            return (standalone, passages, [], why.nothing_retrieved(not self.index.manifest.docs), timings, t0, hist,
                    RuleVerdict(False, 1, False))
        items = select_evidence(standalone, passages, self.index.embedder, self.index.articles,
                                k=self.settings.evidence_k, query_vector=qv, knobs=self.knobs)
        from rag.answer.answerable import check, withheld

        # Names, numbers and dates of the question may sit anywhere in the retrieved passages or in the
        # article's dateline ("the 2032 final" when the article is dated 2032), not only in the sentences.
        context = [it.display_text for it in items] + list(dict.fromkeys(p.text for p in passages)) + [
            f"{p.title} ({dateline(p.published)})" for p in passages if p.published]
        verdict = check(standalone, context, knobs=self.knobs)
        held = withheld(standalone, [it.display_text for it in items], self.knobs)
        rules = RuleVerdict(verdict.answerable, len(verdict.reasons), bool(held), tuple(verdict.kinds))
        veto = self.settings.answerability_rules == "veto" or not items
        if not verdict.answerable and veto:
            return (standalone, passages, items, why.from_rules(verdict.reasons, verdict.kinds, verdict.words),
                    timings, t0, hist, rules)
        if held and veto:
            return standalone, passages, items, why.not_disclosed(held), timings, t0, hist, rules
        return standalone, passages, items, None, timings, t0, hist, rules

    def answer(self, question: str, history=None, filters=None, k: int | None = None) -> Answer:
        final = None
        for ev in self.stream(question, history=history, filters=filters, k=k, stream_tokens=False):
            if ev["type"] == "answer":
                final = ev["answer"]
        assert final is not None
        return final

    def stream(self, question: str, history=None, filters=None, k: int | None = None,
               stream_tokens: bool = True) -> Iterator[dict]:
        standalone, passages, items, refusal, timings, t0, hist, rules = self.prepare(question, history, filters, k)
        if refusal:
            timings.total_ms = (time.perf_counter() - t0) * 1000
            yield {"type": "answer", "answer": self._refusal(question, standalone, passages, refusal, timings, items)}
            return
        tg = time.perf_counter()
        backend = self.backend
        answer_lps = None
        messages: list[dict] | None = None  # the answer call's conversation (the self-check continues it)
        raw = ""
        q_text, q_cited = "", []  # the quoted fallback, when there is one
        if backend is None:
            text, cited = self._extractive(items)
        else:
            # The model's veto counts only when the lexical evidence is not already conclusive: small
            # models refuse questions whose answer sentence repeats every term of the question.
            conclusive = max((it.lexical for it in items), default=0.0) >= self.settings.llm_veto_max_coverage
            # the model reads only the best few sentences: prompt processing is most of its latency
            items = items[:self.settings.llm_evidence_k]
            if self.settings.answerability_call and not conclusive and not self._llm_answerable(items, standalone):
                timings.generate_ms = (time.perf_counter() - tg) * 1000
                timings.total_ms = (time.perf_counter() - t0) * 1000
                yield {"type": "answer", "answer": self._refusal(
                    question, standalone, passages, why.model_declined("the model judged the evidence insufficient"),
                    timings, items)}
                return
            # the model reads the conversation without the turns the chain refused: "The articles don't say."
            # carries nothing to build on, and after one a small model answers the earlier question again
            # instead of the follow-up (then it reads the standalone question)
            answered = drop_refused_turns(hist)
            messages = prompts.answer_messages(
                items, (without_instructions(question) or question) if answered else standalone, answered,
                instructions_in_system=self.settings.llm_instructions_in_system)
            schema = prompts.answer_schema(len(items))
            token_lps: list | None = [] if self.settings.llm_logprobs else None
            if stream_tokens:
                raw = ""
                shown = ""
                for delta in backend.stream_json(messages, schema, max_tokens=self.settings.llm_max_tokens,
                                                 logprobs=token_lps):
                    raw += delta
                    partial = partial_answer(raw)
                    if len(partial) > len(shown):
                        yield {"type": "token", "text": partial[len(shown):]}
                        shown = partial
            else:
                raw = backend.complete_json(messages, schema, max_tokens=self.settings.llm_max_tokens,
                                            logprobs=token_lps)
            text, cited = self._parse(raw, len(items))
            answer_lps = answer_logprobs(token_lps) if token_lps else None
            if not text or (looks_like_refusal(text) and not cited):
                timings.generate_ms = (time.perf_counter() - tg) * 1000
                timings.total_ms = (time.perf_counter() - t0) * 1000
                yield {"type": "answer", "answer": self._refusal(question, standalone, passages,
                                                                 why.model_declined("the model declined"), timings,
                                                                 items)}
                return
        timings.generate_ms = (time.perf_counter() - tg) * 1000
        tv = time.perf_counter()
        verified = verify(text, cited, items, self.scorer, question=standalone, knobs=self.knobs,
                          headline=backend is not None)
        timings.verify_ms = (time.perf_counter() - tv) * 1000
        timings.total_ms = (time.perf_counter() - t0) * 1000
        notes: list[str] = []
        quote_dropped: list[str] = []
        origin = "extractive" if backend is None else "model"
        # a question whose premise the evidence contradicts is not answered by quoting a sentence instead
        if (not verified.sentences and backend is not None and self.settings.quote_fallback
                and not premise_contradicted(verified, self.knobs.short_answer_words)):
            # The model judged the question answerable but its wording failed verification (most often a
            # small model naming the wrong span of the right sentence). An evidence sentence, quoted as
            # it stands and verified like any answer, is then a better answer than a refusal. (Quoting
            # the sentence that holds the model's failed answer instead was measured: that answer is more
            # often the wrong name than the right one.)
            q_text, q_cited = self._extractive(items)
            quoted = verify(q_text, q_cited, items, self.scorer, question=standalone, knobs=self.knobs)
            if quoted.sentences:
                notes = dropped_notes(verified)
                notes.append("the model's answer failed verification: quoting the best evidence sentence")
                verified = quoted
                origin = "quote"
            else:
                quote_dropped = [f"quoting the best evidence sentence failed too: {'; '.join(r)}"
                                 for _, r in quoted.dropped]
        if not verified.sentences:
            ans = self._refusal(question, standalone, passages, why.unsupported(backend is not None), timings, items)
            ans.raw_generation, ans.raw_citations = text, cited
            ans.notes += dropped_notes(verified) + quote_dropped
            yield {"type": "answer", "answer": ans}
            return
        body, citations = self._citations(verified, items)
        notes += dropped_notes(verified)
        if verified.recited:
            notes.append(f"re-cited {verified.recited} sentence(s)")
            if origin == "model":
                origin = "recited"
        self_check = None
        if messages is not None and self.settings.llm_self_check and self.settings.decision:
            ts = time.perf_counter()
            own = origin in ("model", "recited")
            # the model's own reply verbatim, so the cached prompt extends to it; a quote as the JSON it
            # would have written
            candidate = raw if own else json.dumps({"answer": q_text, "citations": q_cited})
            self_check = self._self_check(messages, candidate)
            timings.generate_ms += (time.perf_counter() - ts) * 1000
            timings.total_ms = (time.perf_counter() - t0) * 1000
        decision = self._decide(standalone, rules, origin, body, items, passages, verified,
                                answer_lps if origin in ("model", "recited") else None, self_check)
        if decision is not None and not decision.answer:
            ans = self._refusal(question, standalone, passages,
                                why.unlikely(decision.note(), decision.p_correct, decision.threshold), timings, items)
            ans.raw_generation, ans.raw_citations = text, cited
            ans.notes += notes
            ans.decision = decision.record(origin, body)
            yield {"type": "answer", "answer": ans}
            return
        if decision is not None:
            notes.append(decision.note())
        if self.settings.answer_each_part and analyse(standalone).parts:
            items = self._answer_parts(standalone, messages, raw, items, passages, verified, rules, notes, origin)
            body, citations = self._citations(verified, items)
            timings.generate_ms = (time.perf_counter() - tg) * 1000 - timings.verify_ms
            timings.total_ms = (time.perf_counter() - t0) * 1000
        yield {"type": "answer", "answer": Answer(
            question=question, text=body, refused=False, citations=citations, passages=passages,
            timings=timings, standalone_question=standalone, backend=self.settings.backend, notes=notes,
            raw_generation=text, raw_citations=cited, evidence=evidence_dicts(items), origin=origin,
            decision=None if decision is None else decision.record(origin, body))}


def _number_after(items: list[EvidenceItem], new: list[EvidenceItem]) -> None:
    """Number the ``new`` evidence items after ``items`` (as the model and the citations see them)."""
    for n, it in enumerate(new, len(items) + 1):
        it.n = n


def contained_quotes(cited: list[int], by_n: dict) -> dict[int, int]:
    """Cited evidence numbers whose quote lies inside another cited quote of the same article, each mapped to
    the outermost such quote. A sentence shown to the model on its own and again as a later sentence's
    context is cited twice ("Seven [1][2]", [2] repeating [1]); the reader should see that passage once.
    The larger quote holds every word of the smaller, so a claim the smaller supports stays supported."""
    ns = list(dict.fromkeys(n for n in cited if n in by_n))
    out: dict[int, int] = {}
    for n in ns:
        a, best = by_n[n], None
        for m in ns:
            b = by_n[m]
            if m == n or b.doc_id != a.doc_id or not (b.quote_start <= a.quote_start and a.end <= b.end):
                continue
            if (b.quote_start, b.end) == (a.quote_start, a.end) and m > n:
                continue  # the same span twice: the first number stands for both
            if best is None or b.end - b.quote_start > by_n[best].end - by_n[best].quote_start:
                best = m
        if best is not None:
            out[n] = best
    for n in out:  # equal outermost spans: follow to the one that maps nowhere
        seen = {n}
        while out[n] in out and out[n] not in seen:
            seen.add(out[n])
            out[n] = out[out[n]]
    return out


def drop_refused_turns(history: History) -> History:
    """The conversation without refused exchanges (the user turn and the refusal that answered it)."""
    out: History = []
    for role, text in history:
        if role == "assistant" and text.startswith(prompts.REFUSAL_PREFIX):
            if out and out[-1][0] == "user":
                out.pop()
            continue
        out.append((role, text))
    return out


@dataclass(frozen=True)
class RuleVerdict:
    """What the answerability rules said of a question's evidence, for the decision."""

    ok: bool
    reasons: int
    withheld: bool
    kinds: tuple[str, ...] = ()  # the rule behind each objection (answerable.RULE_KINDS)


def dropped_notes(verified: Verification) -> list[str]:
    return [f"dropped: {s!r} ({'; '.join(r)})" for s, r in verified.dropped]


def evidence_dicts(items: list[EvidenceItem]) -> list[dict]:
    return [{"n": it.n, "doc_id": it.doc_id, "chunk_id": it.chunk_id, "text": it.display_text,
             "quote": it.sentence, "start": it.start, "end": it.end, "score": round(it.score, 4)}
            for it in items]


_ANSWER_FIELD = re.compile(r'"answer"\s*:\s*"')


def partial_answer(raw: str) -> str:
    """The (possibly unfinished) "answer" string value of a streaming JSON object."""
    m = _ANSWER_FIELD.search(raw)
    if not m:
        return ""
    out = []
    i = m.end()
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            if i + 1 >= len(raw):
                break
            nxt = raw[i + 1]
            if nxt == "u":
                if i + 6 > len(raw):
                    break
                try:
                    out.append(chr(int(raw[i + 2:i + 6], 16)))
                except ValueError:
                    pass
                i += 6
                continue
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/"}.get(nxt, nxt))
            i += 2
            continue
        if ch == '"':
            break
        out.append(ch)
        i += 1
    return "".join(out)
