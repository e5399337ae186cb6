"""Why an answer was refused, in the reader's words.

The chain refuses at several steps: nothing is asked, nothing is retrieved, the answerability rules object,
an article says the fact was not disclosed, the model declines, verification finds no supported sentence,
or the answer-or-refuse decision rates the candidate too unlikely. Each step leaves a note for the eval;
this module turns the step into one sentence a reader can act on ("the closest passages do not mention X":
rephrase, or add the article that does) and a stable ``kind`` for scripts. It decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.types import RefusalReason

# the rules' objections (answerable.RULE_KINDS) that name something the passages lack
_ABSENT = ("name", "number", "coverage", "slot")
_MAX_WORDS = 4  # words named in one sentence; more say nothing a reader can use
_MAX_QUOTE = 240  # characters of a quoted article sentence


@dataclass(frozen=True)
class Refused:
    """One refusal: ``note`` for the eval's notes (unchanged wording), ``reason`` for the reader."""

    note: str
    reason: RefusalReason


def _quoted(words: list[str]) -> str:
    shown = [f"“{w}”" for w in words[:_MAX_WORDS]]
    if len(words) > _MAX_WORDS:
        return ", ".join(shown) + " and other words of the question"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _named(word: str, listed: list[str]) -> bool:
    """Whether ``word`` is already listed, alone or as a word of a listed name ("Cup" of "World Cup")."""
    low = word.lower()
    return any(low == w.lower() or low in w.lower().split() for w in listed)


def no_question() -> Refused:
    return Refused("the message only instructs the assistant: there is no question about the articles to answer",
                   RefusalReason(kind="no_question", text="The message tells the assistant what to do but asks "
                                 "nothing about the articles; it only answers questions from them."))


def nothing_retrieved(index_empty: bool) -> Refused:
    if index_empty:
        return Refused("no passages retrieved", RefusalReason(kind="empty_index", text="No articles are indexed yet."))
    return Refused("no passages retrieved", RefusalReason(
        kind="no_match", text="No indexed passage matches the question: try other words, or widen the filters."))


def from_rules(reasons: list[str], kinds: list[str], words: list[tuple[str, ...]]) -> Refused:
    """The answerability rules' objections (``answerable.Answerability``: reasons, kinds, words)."""
    absent: list[str] = []
    said: list[str] = []
    for kind, about in zip(kinds, words, strict=False):
        if kind in _ABSENT:
            absent += [w for w in about if not _named(w, absent)]
        elif kind == "premise" and about:
            said.append(f"The question assumes “{about[0]}”, which the closest passages do not report.")
        elif kind == "polarity" and len(about) == 2:
            said.append(f"The question says “{about[0]}” where the closest passages say “{about[1]}”.")
        elif kind == "polarity" and about:
            said.append(f"The question is negated (“{about[0]}”), but the closest passages are not.")
    text = [f"The closest passages do not mention {_quoted(absent)}."] if absent else []
    text += said
    if not text:
        text = ["The closest passages do not hold what the question asks about."]
    return Refused("not answerable: " + "; ".join(reasons),
                   RefusalReason(kind="not_mentioned" if absent else "contradicted", text=" ".join(text),
                                 missing=absent))


def not_disclosed(sentence: str) -> Refused:
    quote = sentence if len(sentence) <= _MAX_QUOTE else sentence[:_MAX_QUOTE].rsplit(" ", 1)[0] + " …"
    return Refused(f"not answerable: the evidence says it was not disclosed ({sentence!r})",
                   RefusalReason(kind="not_disclosed", text=f"An article says this was not made public or is not settled yet: “{quote}”"))


def model_declined(note: str) -> Refused:
    return Refused(note, RefusalReason(kind="model_declined",
                                       text="The model read the closest passages and found no answer in them."))


def unsupported(by_model: bool) -> Refused:
    text = ("The model's answer is not stated in the passages it cites, so it is not shown." if by_model else
            "No sentence of the closest passages was found to state the answer.")
    return Refused("verification found no supported sentence", RefusalReason(kind="unsupported", text=text))


def unlikely(note: str, p_correct: float | None, threshold: float) -> Refused:
    rated = "" if p_correct is None else (f": the answer check rated it {p_correct:.0%} likely to be right, "
                                          f"below the {threshold:.0%} it needs")
    return Refused(note, RefusalReason(kind="unlikely", text=f"A possible answer was found but not given{rated}."))
