"""rag/question.py: the one analysis of a question that the chain's steps read."""

from __future__ import annotations

from rag.question import analyse, asked_kind, gives_kind


def test_analysis_is_computed_once_and_holds_what_the_steps_read():
    q = "What did Juniper Hask-Morrow say when she conceded the 2032 election?"
    a = analyse(q)
    assert a is analyse(q)  # cached: every step reads the same object
    assert a.wh == "what" and "Juniper Hask-Morrow" in a.names and a.premise == ("conceded",)
    assert "elect" in " ".join(a.other_terms) and not (a.name_terms & a.other_terms)


def test_kinds_of_answer():
    assert asked_kind("How many rounds landed?") == "a number"
    assert asked_kind("Where did she grow up?") == "a place"
    assert asked_kind("Why did he resign?") == "a reason"
    assert asked_kind("What is a spillway?") == "a definition"
    assert asked_kind("What is the name of the chip?") == ""  # a name, not a definition
    assert not gives_kind("a definition", "The pressure in the jar is governed by Boyle's law.")
    assert gives_kind("a definition", "A spillway is a channel that carries surplus water past a dam.")
    assert gives_kind("a number", "seven rounds") and not gives_kind("a number", "several rounds")


def test_what_a_how_many_question_counts():
    from rag.question import counted_terms

    assert counted_terms("How many deckhands were hurt when the Velk barge ran aground?") == ("deckhand",)
    # the phrase ends at its verb, past tense or not
    assert counted_terms("How many granite blocks arrived at the quarry?") == ("granit", "block")
    assert counted_terms("How many lighthouses stand on the Orrin coast?")[0] == "lighthous"
    # a count of people or times in general names nothing to compare; not a "how many" question either
    assert counted_terms("How many people drowned in the flood?") == ()
    assert counted_terms("How many times did the council vote?") == ()
    assert counted_terms("How much did the bridge cost?") == ()
    assert analyse("How many deckhands were hurt?").counts == ("deckhand",)


def test_the_parts_of_a_question_that_asks_several_things():
    from rag.question import analyse, question_parts

    assert question_parts("What did the new contract give nurses, and how did the staff vote on it?") == (
        "What did the new contract give nurses?", "how did the staff vote on it?")
    # a leading phrase before the question word; "and" + an auxiliary and its subject
    assert question_parts("After the flood, what did the mayor promise and was any money set aside?") == (
        "After the flood, what did the mayor promise?", "was any money set aside?")
    assert question_parts("Did the museum reopen and did Karin Olsen attend?") == (
        "Did the museum reopen?", "did Karin Olsen attend?")
    # one question: names joined by "and", a relative clause, an embedded clause, a part too short
    for one in ("What did the mayor and the governor agree on?", "Which firm makes the drug and is based in Tarn?",
                "What is the difference between a weir and what it holds back?", "Who won the race and when?",
                "How many boats sank?"):
        assert question_parts(one) == (), one
    assert analyse("Who chairs the board, and what did she say about the merger?").parts == (
        "Who chairs the board?", "what did she say about the merger?")
