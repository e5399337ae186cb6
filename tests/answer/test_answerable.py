"""The deterministic answerability check on realistic question/evidence pairs.

Evidence is the sentences of the seed article (Kata'ib Hezbollah / US embassy in Baghdad), split
by the same sentence splitter the product uses. Answerable questions must pass (false refusals are
the costly failure); questions whose key name, number, asked-for role or polarity is not in the
evidence must not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answer.answerable import Answerability, check, question_slot
from rag.text.sentences import sentences

ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "seeds" / "000_f6f2cdec14cd0e23.txt").read_text(encoding="utf-8")
EVIDENCE = sentences(SEED)
SQUAD = ROOT / "eval" / "external" / "squad2" / "dev-8-articles.json"
SQUAD_SHARED = Path("/work/shared/data/squad2/dev-8-articles.json")

ANSWERABLE = [
    "Who called the US embassy a nest of espionage?",
    "How many mortar rounds landed in the U.S. embassy compound?",
    "What did Lloyd Austin condemn?",
    "When were the explosions heard near the embassy?",
    "How many times have U.S. forces been attacked since Oct. 17?",
    "Which groups did Austin single out?",
    "What did al-Askari say about Friday's attacks?",
    "Who is Abu Ali al-Askari?",
    "What did Austin tell the Iraqi prime minister?",
    "How many militants have US strikes killed in Iraq?",
    "Did any group claim responsibility for the embassy attack?",
    "What happened at the Ain al-Asad airbase?",
    "What did the Pentagon statement say?",
    "Why did Iran-aligned militias start targeting American assets?",
    "What does Kata'ib Hezbollah's security chief think of the United States embassy?",
    "What are the two groups Austin blamed for targeting U.S. personnel?",  # "two" sizes the answer
]


@pytest.mark.parametrize("question", ANSWERABLE)
def test_answerable_questions_pass(question):
    v = check(question, EVIDENCE)
    assert v.answerable, (question, v.reasons)
    assert v.reasons == [] and v.missing == []


def test_ambassador_question_is_refused_by_the_slot_rule():
    # every name ("US", "Iraq") is in the article, so the entity rule alone would pass it: the asked-for
    # role "ambassador" is what the evidence lacks.
    for q in ("What is the name of the US ambassador to Iraq?", "Who is the US ambassador to Iraq?"):
        v = check(q, EVIDENCE)
        assert not v.answerable
        assert "ambassador" in v.missing
        assert any("ambassador" in r for r in v.reasons)
        assert not any(r.startswith("name") for r in v.reasons)


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("How many mortar rounds landed in the British embassy?", "British"),
        ("How many U.S. forces have been attacked since Oct. 12?", "12"),
        ("What did Nancy Pelosi say about the embassy attack?", "Nancy Pelosi"),
        ("What is the capital of France?", "France"),
        ("Who won the 2022 World Cup?", "2022"),
    ],
)
def test_missing_name_number_or_date_refuses(question, missing):
    v = check(question, EVIDENCE)
    assert not v.answerable
    assert missing in v.missing


def test_deleted_rules_no_longer_object():
    """The evidence-score floor and the date rule were deleted (their veto changed no dev outcome): a
    weak best score or a weekday the evidence does not repeat is left to the answer-or-refuse decision."""
    assert check("Who called the US embassy a nest of espionage?", EVIDENCE).answerable
    assert check("What did Kata'ib Hezbollah say on Monday?", EVIDENCE).answerable


def test_empty_evidence_refuses():
    v = check("Who is Abu Ali al-Askari?", [])
    assert isinstance(v, Answerability)
    assert not v.answerable and v.reasons == ["no evidence"] and v.kinds == []
    assert not check("Who is Abu Ali al-Askari?", ["  ", ""]).answerable


def test_polarity_antonyms_and_negation():
    ev = [
        "Witnesses said the militia convoy moved towards the embassy before dawn.",
        "The fighters were armed with rifles, police said.",
    ]
    assert check("Did the militia convoy move towards the embassy?", ev).answerable
    away = check("Did the militia convoy move away from the embassy?", ev)
    assert not away.answerable and any("away" in r for r in away.reasons)
    disarmed = check("Were the fighters disarmed by police?", ev)
    assert not disarmed.answerable and any("disarm" in r for r in disarmed.reasons)
    negated = check("Which fighters were not armed with rifles?", ev)
    assert not negated.answerable and any("negated" in r for r in negated.reasons)
    ev_neg = ["No group claimed responsibility for the attack on the embassy."]
    assert check(
        "Which group did not claim responsibility for the embassy attack?", ev_neg
    ).answerable


def test_question_words_are_not_names_and_forms_are_tolerated():
    ev = ["The United States embassy in Baghdad was hit by seven rounds, Austin's spokesman said."]
    for q in (
        "What hit the U.S. embassy in Baghdad?",
        "How many rounds hit the US embassy in Baghdad?",
        "Who spoke for Austin about the embassies?",
    ):
        v = check(q, ev)
        assert v.answerable, (q, v.reasons)


def test_question_slot_extraction():
    assert question_slot("What is the name of the US ambassador to Iraq?") == ["ambassador"]
    assert question_slot("Who was the leader of the group?") == ["leader"]
    assert question_slot("Which country refused?") == []  # answer types are not required
    assert question_slot("How many times was the base hit?") == []


def test_low_coverage_refuses():
    ev = ["The central bank raised interest rates by a quarter point on Thursday."]
    v = check("Why did the football club sack its coach after the derby defeat?", ev)
    assert not v.answerable
    assert any("covers" in r for r in v.reasons)


def test_squad_precision_recall_report():
    """On 120 SQuAD 2.0 questions (gold paragraph as evidence, no embeddings so the test stays light)
    the check passes most answerable questions and refuses some impossible ones."""
    from rag.answer.answerable import squad_report

    path = SQUAD if SQUAD.exists() else SQUAD_SHARED
    assert path.exists(), "the SQuAD 2.0 subset is part of the eval data"
    res = squad_report(str(path), limit=120, seed=3)
    assert res["n"] == 120 and res["answerable"] + res["unanswerable"] == 120
    assert res["recall"] >= 0.85  # false refusals stay rare
    assert res["refusal_precision"] >= 0.6  # a refusal is usually right
    assert res["refusal_recall"] > 0.2  # and it does catch unanswerable questions
    json.dumps(res)  # report is JSON-serialisable


def test_withheld_fact_is_not_answered():
    from rag.answer.answerable import withheld

    price = ("Health Minister Aurelio Fenk said the government had agreed to buy 500,000 doses at a total cost "
             "of 41 million dravs. He declined to give the price per dose, saying the contract was confidential.")
    ev = ["The medicines board on Tuesday approved Celvax-L, a vaccine against Lowmarsh fever.", price,
          "New cases have fallen since vaccination with Celvax-L began, with 48,300 people given at least one dose."]
    assert withheld("What is the price per dose of the Celvax-L vaccine?", ev) == price
    # the same sentence states what this question asks: what was withheld is something else
    assert withheld("How many doses did the government agree to buy?", ev) == ""
    # "which it declined to name": what was withheld is the clause before the pronoun
    named = "The company said it had signed supply agreements with two phone makers, which it declined to name."
    assert withheld("Which two phone makers signed supply agreements for the chip?",
                    ["Lumaris unveiled the Threnody chip on Tuesday.", named]) == named
    # a stated answer elsewhere wins over a withheld detail about the same thing
    assert withheld("What had the company offered?", ["The company has offered 4 percent.",
                    "He declined to say whether the company would improve its pay offer."]) == ""
    # a question about the withholding itself is answerable from it
    assert withheld("What did the minister decline to give?", ev) == ""
    assert withheld("What is the price per dose?", []) == ""


def test_what_will_not_be_known_is_said_of_what_comes_before():
    from rag.answer.answerable import withheld

    costly = "The governor said the cost of the grants would not be known until the damage had been assessed."
    assert withheld("How much will the grants cost?", ["Hail hit the farms.", costly]) == costly
    # a stated answer matches the question better: no refusal
    paid = "The grants will cost 4 million crowns in all, the governor said."
    later = "The cost of the second round would not be known until May."
    assert withheld("How much will the grants cost?", [paid, later]) == ""
    # the sentence before, shown with it as context, ties with it: a tie does not refuse
    promise = "The governor promised relief grants of 800 crowns to each family that lost its barn."
    held = promise + " She did not say when the grants would be paid."
    assert withheld("When will the relief grants to farm families be paid?", [promise, held]) == ""


def test_what_is_not_settled_yet_is_not_answered():
    from rag.answer.answerable import withheld

    cause = "Fire chief Ines Harrow said the cause of the warehouse blaze was under investigation."
    ev = ["A warehouse in the port district burned for nine hours on Friday.", cause]
    assert withheld("What caused the warehouse blaze?", ev) == cause
    awarded = "The contract for the new ferry terminal has not been awarded, the port authority said."
    ev = ["Work on the ferry terminal is due to begin next year.", awarded]
    assert withheld("Who was awarded the contract for the ferry terminal?", ev) == awarded
    # a yes/no question is answered by the same sentence ("no"): no refusal
    assert withheld("Has the contract for the ferry terminal been awarded?", ev) == ""
    # "It was unclear whether ...": what is unsettled follows the verb
    unclear = "It was unclear whether the ferry terminal would open before the summer."
    assert withheld("When will the ferry terminal open?", ["The terminal cost 90 million crowns.", unclear]) == unclear
    # a stated answer matches the question better than what is unsettled: no refusal
    assert withheld("When will the ferry terminal open?", [
        "The ferry terminal will open on 1 May, the port authority said.",
        "It was unclear whether the terminal's second berth would be ready."]) == ""
    # a passive form names what was withheld before the verb, not in its agent ("by the company")
    names = "The names of the two injured dockers were not released by the company."
    assert withheld("Who were the injured dockers?", ["A crane fell in the port on Monday.", names]) == names


def test_not_published_not_yet_known_and_going_to_are_read():
    from rag.answer.answerable import withheld

    ev = ["Turnout in the Osterby council by-election was 41 percent.",
          "The count of ballots cast by post in the Osterby by-election has not yet been published."]
    assert withheld("How many ballots were cast by post in the Osterby by-election?", ev) == ev[1]
    unknown = "Three sheep on the farm died; it was not yet known whether the blight caused their deaths."
    assert withheld("Did the blight cause the deaths of the sheep?",
                    ["The blight reached the farm in May.", unknown]) == unknown
    # "going to" is how the question says "will": the thing withheld is the challenge
    challenge = "Pruett thanked the returning officer but did not say whether she would challenge the result."
    assert withheld("Is Mara Pruett going to challenge the Osterby result?",
                    ["Tolland won by 88 votes.", challenge]) == challenge
    # a stated answer is not blocked by the new forms
    assert withheld("How many ballots were cast by post?", [
        "A total of 2,130 ballots were cast by post, the council said.",
        "The count of spoilt ballots has not yet been published."]) == ""


def test_withheld_fact_refused_through_the_chain(make_settings, tmp_path):
    from rag.api import Assistant

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vaccine.txt").write_text(
        "Government buys Celvax-L vaccine\n\nThe government agreed to buy 500,000 doses of the Celvax-L vaccine "
        "at a total cost of 41 million dravs, Health Minister Aurelio Fenk said on Monday. He declined to give "
        "the price per dose, saying the contract was commercially confidential. Vaccination will begin in "
        "December.\n", encoding="utf-8")
    a = Assistant(make_settings())
    try:
        assert not a.ingest([docs]).failed
        ans = a.ask("What is the price per dose of the Celvax-L vaccine?")
        assert ans.refused and any("not disclosed" in n for n in ans.notes)
        ans = a.ask("How many doses of the Celvax-L vaccine did the government agree to buy?")
        assert not ans.refused and "500,000" in ans.text
    finally:
        a.close()


def test_premise_of_a_when_clause_must_be_reported_of_the_questions_subject():
    from rag.question import premise_verbs

    assert premise_verbs("What did Juniper Hask-Morrow say when she conceded the 2032 election?") == ["conceded"]
    assert premise_verbs("What did officials tell the inquiry when they gave evidence in May?") == ["gave"]
    assert premise_verbs("What happened to the missing after the Korrin Dam collapse?") == []  # no event verb
    assert premise_verbs("Who said it?") == []
    assert premise_verbs("When did Maududi found the Jamaat-e-Islami party?") == []  # the question word itself
    ev = ["Prime Minister Casimir Odelund conceded defeat on Thursday evening.",
          "Green Vessa leader Juniper Hask-Morrow said her party would drive a hard bargain in the 2032 election."]
    v = check("What did Juniper Hask-Morrow say when she conceded the 2032 election?", ev)
    assert not v.answerable and any("assumes 'conceded'" in r for r in v.reasons)
    v = check("What did Casimir Odelund say when he conceded the 2032 election?",
              ev + ["Odelund said he had called Fenwright-Sollis to congratulate her on the 2032 election."])
    assert not any("assumes" in r for r in v.reasons)


def test_why_question_and_same_form_verbs_assume_their_event():
    from rag.answer.answerable import check
    from rag.question import premise_verbs

    assert premise_verbs("Why did Sorcha Penhallow-Ries resign as chief executive?") == ["resign"]
    assert premise_verbs("How many people died when the Korrin Dam's main embankment burst?") == ["burst"]
    assert premise_verbs("Why did he order a recount?") == []  # a pronoun: left to the condensed question
    ev = ["Anselm Drevitz, the chief executive of Quillan Gateway Terminals, said the offer remains.",
          "Sorcha Penhallow-Ries, the union's general secretary, addressed the strikers."]
    v = check("Why did Sorcha Penhallow-Ries resign as chief executive of Quillan Gateway Terminals?", ev)
    assert not v.answerable and "resign" in v.missing
    ev2 = ev + ["Sorcha Penhallow-Ries resigned as general secretary on Friday, citing her health."]
    assert check("Why did Sorcha Penhallow-Ries resign?", ev2).answerable


def test_every_objection_names_its_rule():
    """``kinds`` runs beside ``reasons``, one known rule per objection (the decision records them, so a
    rule's worth can be measured on its own)."""
    from rag.answer.answerable import RULE_KINDS, check

    v = check("How many people did Marta Quill evacuate on 3 May?", ["The council evacuated 412 people on Monday."])
    assert not v.answerable and len(v.kinds) == len(v.reasons) and set(v.kinds) <= set(RULE_KINDS)
    assert {"name", "number"} <= set(v.kinds)
    ok = check("How many people did the council evacuate?", ["The council evacuated 412 people on Monday."])
    assert ok.answerable and ok.kinds == [] and ok.reasons == []


def test_decision_features_count_each_rules_objections():
    from rag.answer.answerable import RULE_KINDS
    from rag.answer.decision import DecisionInput, features
    from rag.question import analyse

    d = DecisionInput(question=analyse("How many rounds landed?"), rules_ok=False, rule_reasons=3, withheld=False,
                      origin="extractive", answer="Seven [1].", rule_kinds=("name", "name", "polarity"))
    f = features(d)
    assert f["rule_name"] == 2.0 and f["rule_polarity"] == 1.0
    assert all(f[f"rule_{k}"] == 0.0 for k in RULE_KINDS if k not in ("name", "polarity"))
    assert "rule_date" not in f  # a deleted rule's count is no longer produced: a model naming it reads 0
