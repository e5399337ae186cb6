"""The text layer's lexical rules (rag/text/lexical.py): stems, numbers, dates, entities, polarity."""

from __future__ import annotations

from rag.text import lexical as tu


def test_content_stems_normalise_forms():
    assert tu.content_stems("The attacks rose; U.S. forces fell back.") == [
        "attack",
        "rise",
        "us",
        "forc",
        "fall",
        "back",
    ]
    assert tu.content_stems("What is the name of the United States ambassador?") == ["us", "ambassador"]
    assert "us" not in tu.content_stems("They told us nothing")  # the pronoun is a stopword
    assert tu.content_stems("seven rounds") == tu.content_stems("7 rounds")
    assert tu.content_stems("American embassy") == tu.content_stems("US embassy")
    assert "not" not in tu.content_stems("He did not go")


def test_extract_numbers_values():
    vals = [
        (n.text, n.value)
        for n in tu.extract_numbers(
            "nearly seven rounds, 1,150 people, $2.5 million, twenty-one, a dozen, 84 times, the 10th "
            "century, "
            "the 1990s, 5%, the third time, one of them, two hundred"
        )
    ]
    assert vals == [
        ("seven", 7),
        ("1,150", 1150),
        ("2.5 million", 2_500_000),
        ("twenty-one", 21),
        ("a dozen", 12),
        ("84", 84),
        ("10th", 10),
        ("1990s", 1990),
        ("5%", 5),
        ("third", 3),
        ("two hundred", 200),
    ]
    assert tu.number_values("2.5 million", permissive=True) == {2_500_000, 2.5}
    assert tu.extract_numbers("one of the groups") == []


def test_extract_dates():
    assert tu.extract_dates("since Oct. 17, on Friday, in August 2023, the 1990s") == {
        "month:10",
        "weekday:5",
        "month:8",
        "year:2023",
        "decade:1990",
    }
    assert tu.extract_dates("Officials may decide. Protesters march on.") == set()
    assert tu.extract_dates("in May 2020") == {"month:5", "year:2020"}


def test_extract_entities():
    text = (
        'U.S. Defense Secretary Lloyd Austin singled out Iran-aligned groups "Kata\'ib Hezbollah" and '
        '"Harakat Hezbollah al-Nujaba", said Abu Ali al-Askari. What did Austin say in Baghdad?'
    )
    ents = [e.text for e in tu.extract_entities(text)]
    assert ents == [
        "U.S. Defense Secretary Lloyd Austin",
        "Iran",
        "Kata'ib Hezbollah",
        "Harakat Hezbollah al-Nujaba",
        "Abu Ali al-Askari",
        "Austin",
        "Baghdad",
    ]
    assert [e.text for e in tu.extract_entities("Found in Merovale, Professor Deveraux-Lund said.")] == [
        "Merovale",
        "Professor Deveraux-Lund",
    ]
    assert [e.text for e in tu.extract_entities('He saw "The Old Man and the Sea" on Oct. 3.')] == [
        "The Old Man and the Sea"
    ]


def test_entity_matching_tolerates_forms_but_not_conflicts():
    ev = "Abu Ali al-Askari met U.S. Defense Secretary Lloyd Austin near the U.S. Embassy in Iraq's capital."
    assert tu.entity_in("al-Askari", ev)
    assert tu.entity_in("Askari", ev)
    assert tu.entity_in("Secretary Austin", ev)
    assert tu.entity_in("United States", ev)
    assert tu.entity_in("Iraqi", ev)
    assert not tu.entity_in("British Embassy", ev)
    assert not tu.entity_in("Jim Austin", ev)
    assert not tu.entity_in("Syria", ev)


def test_negation_cues_and_antonyms():
    cues = [
        (c.text, c.kind)
        for c in tu.negation_cues("No group claimed it; he didn't deny it and never refused.")
    ]
    assert cues == [
        ("No", "negation"),
        ("n't", "negation"),
        ("deny", "verb"),
        ("never", "negation"),
        ("refused", "verb"),
    ]
    assert not tu.has_negation("Not only did it rain, it poured.")
    assert tu.are_antonyms(tu.stem("rose"), tu.stem("fell"))
    assert tu.are_antonyms(tu.stem("armed"), tu.stem("disarmed"))
    assert tu.are_antonyms(tu.stem("towards"), tu.stem("away"))
    assert tu.are_antonyms(tu.stem("approved"), tu.stem("rejected"))
    assert not tu.are_antonyms(tu.stem("bought"), tu.stem("sold"))  # converses say the same thing


def test_entities_see_the_sentences_of_the_product_splitter():
    # "no." ends a sentence here: the capitalised word after it opens the next one, it is not a name
    assert [e.text for e in tu.extract_entities("Asked again, she said no. Lately prices fell.")] == []
    assert [e.text for e in tu.extract_entities("The answer is no. Police in Quenlow said so.")] == ["Quenlow"]
