"""The word lists are data (rag/data/words.toml): they load, once, as the types the rules expect."""

from rag.text import lexical as tu
from rag.text.words import _lists, words


def test_word_lists_load_once_and_bind_with_their_types():
    assert _lists() is _lists()  # parsed once
    assert isinstance(tu.STOPWORDS, frozenset) and "the" in tu.STOPWORDS
    assert tu.IRREGULAR["rose"] == "rise"
    assert tu.MONTHS["sept"] == 9 and tu.WEEKDAYS["thurs"] == 4
    assert isinstance(tu._SCALE_SUFFIX["thousand"], float) and tu._SCALE_SUFFIX["%"] == 1
    assert ("toward", "away") in tu.ANTONYM_PAIRS
    assert tu.stem("rose") == tu.stem("rise")


def test_every_list_is_non_empty():
    for section, lists in _lists().items():
        for name, value in lists.items():
            assert value, f"{section}.{name} is empty"
            assert words(section, name) is value
