"""rag/answer/verify.py: a number that counts another thing than the one asked for is no answer."""

from __future__ import annotations

from rag.answer.verify import counts_something_else
from rag.question import counted_terms

Q = "How many deckhands were hurt when the Velk barge ran aground?"


def _other(question: str, answer: str, evidence: str) -> str:
    return counts_something_else(counted_terms(question), answer, evidence, question)


def test_a_count_of_another_noun_is_named():
    ev = "The barge's crew fired 9 signal rockets before the tug arrived, and two deckhands were hurt."
    assert _other(Q, "9", ev) == "signal rockets"
    ev = "Harbour police said the grounding left 40 tonnes of grain in the river."
    assert _other(Q, "40", ev) == "tonnes"  # the phrase ends at "of"


def test_the_asked_thing_or_an_unnamed_count_passes():
    assert _other(Q, "two", "Two deckhands were hurt when the barge ran aground.") == ""
    assert _other(Q, "2", "Officials said 2 Velk deckhands were hurt.") == ""  # a name between number and noun
    assert _other(Q, "3", "The number of injured rose to 3, officials said.") == ""  # it does not say what
    assert _other(Q, "3", "Three people were hurt when the barge ran aground.") == ""  # people in general
    # one mention counts another thing, another the asked one
    assert _other(Q, "4", "The tug fired 4 rockets; 4 deckhands were hurt.") == ""


def test_numbers_the_question_gives_and_other_questions_are_not_checked():
    q = "For each of the 12 districts, how many wardens are appointed?"
    assert _other(q, "12", "Each of the 12 districts has one warden.") == ""
    assert _other("How much grain was spilled?", "40", "It left 40 tonnes of grain.") == ""
    assert _other("How many people were hurt?", "9", "The crew fired 9 rockets.") == ""


def test_a_sentence_with_several_numbers_counts_the_asked_thing_in_one_of_them():
    ev = "The crew fired 9 rockets and 4 flares."
    assert _other(Q, ev, ev) == "rockets"  # neither counts deckhands
    ev = "The crew fired 9 rockets, and 4 deckhands were hurt."
    assert _other(Q, ev, ev) == ""
    # a bare "one" is no number mention, but it says what it counts
    ev = "The storm hurt one deckhand and sank 3 barges in 1998."
    assert _other(Q, ev, ev) == ""
    # years and ordinals count nothing
    ev = "In 1998 Velk deckhands were hurt for the third time, and 3 barges sank."
    assert _other(Q, ev, ev) == "barges sank"
    assert _other(Q, "1998", "The barge carried 1998 sacks of grain.") == "sacks"


def test_units_and_names_in_the_counted_phrase_are_read():
    q = "How many kilometres is Velk from the coast?"
    assert _other(q, "300", "Velk lies about 300 km from the coast.") == ""
    assert _other(q, "300", "Velk lies about 300 mi from the coast.") == "mi"
    q = "How many Orrin pilgrims walked to the shrine?"
    assert _other(q, "4,000", "An estimated 4,000 Orrin pilgrims walked to the shrine.") == ""


def test_a_sum_of_money_or_a_share_is_no_count_of_people():
    q = "How many stewards did the ferry line hire for the summer?"
    ev = "The ferry line said it had spent €42,000 on extra stewards for the summer timetable."
    assert _other(q, ev, ev) == "a sum of money"
    assert _other(q, "42,000", ev) == "a sum of money"
    ev = "About 12% of stewards were hired from agencies."
    assert _other(q, ev, ev) == "a percentage"
    ev = "Twelve percent of the stewards came from agencies."
    assert _other(q, ev, ev) == "percent"  # a number word: "percent" is the word after it
    # unless money or a share is what is asked
    assert _other("How many pounds did each steward get?", "£300", "Each steward got £300.") == ""
    assert _other("How many percent of stewards were new?", "12", "12% of stewards were new.") == ""
    # the same sentence with a count of the asked thing passes
    ev = "The line spent €42,000 to hire 35 stewards."
    assert _other(q, ev, ev) == ""


def test_a_count_of_part_of_a_group_counts_what_follows_of():
    q = "How many harbour staff were taken ill?"
    ev = "The outbreak has affected 51 passengers and 17 members of staff since Friday."
    assert _other(q, "17", ev) == ""
    assert _other(q, "51", ev) == "passengers"
    q = "How many Pellow dockers will be offered jobs at the new terminal?"
    ev = "The operator said it would offer up to 60 of the permanent dockers jobs at its new terminal."
    assert _other(q, ev, ev) == ""
    assert _other("How many cranes will the new terminal have?", ev, ev).startswith("permanent dockers")
    # a unit before "of" still names what is counted
    assert _other(q, "40", "The ship left 40 tonnes of grain on the quay.") == "tonnes"


def test_a_short_count_cited_to_the_wrong_sentence_is_recited_to_the_right_one():
    """Small models often cite the wrong sentence: "9" cited to the rockets is re-cited to the sentence
    where 9 counts deckhands; with no such sentence it is dropped."""
    from types import SimpleNamespace

    from rag.answer.verify import Verification, VerifiedSentence, _drop_wrong_type

    items = {1: SimpleNamespace(n=1, display_text="The barge's crew fired 9 signal rockets before dawn."),
             2: SimpleNamespace(n=2, display_text="Officials said 9 deckhands were hurt in the grounding."),
             3: SimpleNamespace(n=3, display_text="The river port handled 9 barges that week.")}
    result = Verification(sentences=[VerifiedSentence("9", [1], "kept", 0.9)])
    _drop_wrong_type(result, Q, items)
    assert [(s.text, s.cites, s.action) for s in result.sentences] == [("9", [2], "recited")]

    result = Verification(sentences=[VerifiedSentence("9", [1], "kept", 0.9)])
    _drop_wrong_type(result, Q, {n: it for n, it in items.items() if n != 2})
    assert not result.sentences and "counts signal rockets" in result.dropped[0][1][0]
