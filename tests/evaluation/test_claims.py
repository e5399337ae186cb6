"""The eval's claim for a fragment answer: its question, less the calendar premise the evidence omits."""

from rag.evaluation.claims import eval_claim, premise_free


def test_year_the_evidence_does_not_repeat_is_the_askers_premise():
    q = "How many lanterns were lit at the 2041 harbour festival?"
    assert premise_free(q, ["Volunteers lit 3,200 lanterns at the harbour festival on Saturday."]) == (
        "How many lanterns were lit at the harbour festival?")


def test_another_year_in_the_evidence_keeps_the_premise():
    # the sentence may date another festival: the claim keeps the question's year, and then fails
    q = "How many lanterns were lit at the 2041 harbour festival?"
    assert premise_free(q, ["In 2039 volunteers lit 3,200 lanterns at the harbour festival."]) == q


def test_day_goes_with_its_month_and_a_stated_weekday_stays():
    q = "How many ferries were cancelled by Friday 9 June 2041?"
    assert premise_free(q, ["Forty ferries were cancelled by Friday as the storm moved north."]) == (
        "How many ferries were cancelled by Friday?")
    # the evidence states the month: nothing of the month is dropped, the year is
    assert premise_free(q, ["Forty ferries were cancelled by Friday, June 9."]) == (
        "How many ferries were cancelled by Friday 9 June?")


def test_a_question_without_dates_and_a_full_sentence_answer_are_unchanged():
    q = "Who opened the new library?"
    assert premise_free(q, ["The mayor opened it in 2040."]) == q
    sentence = "The mayor opened the new library in 2041 after a long delay."
    assert eval_claim(sentence, "When was the library opened in 2041?", ["It opened in 2040."]) == sentence


def test_fragment_claim_keeps_its_question_minus_the_omitted_year():
    claim = eval_claim("3,200", "How many lanterns were lit at the 2041 harbour festival?",
                       ["Volunteers lit 3,200 lanterns at the harbour festival on Saturday."])
    assert claim == "How many lanterns were lit at the harbour festival? 3,200"
