"""Cleaning and loading, on the seed article and on generic inputs."""

from __future__ import annotations

from conftest import SEED_FILE

from rag.ingest.clean import clean_text, find_date, guess_source, normalise
from rag.ingest.loaders import load_file

TITLE = "Kata'ib Hezbollah commander says the attack on US embassy heralds a \"new phase of the conflict\""


def _seed_record():
    recs, fails = load_file(SEED_FILE, 10_000_000)
    assert not fails and len(recs) == 1
    return recs[0]


def test_seed_title_once_and_metadata():
    rec = _seed_record()
    assert rec.title == TITLE
    assert rec.source == "Shafaq News"
    text = clean_text(rec.text, rec.title)
    assert text.count(TITLE) == 1
    assert text.startswith(TITLE)


def test_seed_furniture_removed_body_intact():
    rec = _seed_record()
    text = clean_text(rec.text, rec.title)
    assert "Shafaq Live" not in text
    assert "Radio" not in text and "radio icon" not in text
    raw = SEED_FILE.read_text()
    # first and last body paragraphs survive word for word
    assert "Shafaq News/ A commander of the Kata'ib Hezbollah" in text
    assert text.endswith("killed at least 15 militants in Iraq and up to seven in Syria.")
    # every body sentence of the original is still there
    for para in raw.split("\n\n")[2:-1]:
        para = para.strip()
        if para and "Shafaq Live" not in para:
            assert para in text


def test_generic_furniture_rules():
    raw = ("Budget passes\n\nBudget passes\n\nThe council approved the budget on Monday. It was close.\n\n"
           "Share this\nFollow us\nTags: council budget\n")
    text = clean_text(raw)
    assert text.count("Budget passes") == 1
    assert "Follow us" not in text and "Share this" not in text and "Tags" not in text
    assert "It was close." in text


def test_cross_document_furniture_dropped():
    text = clean_text("Story line one is here.\n\nSubscribe to our newsletter now\n\nMore text follows here.",
                      furniture={"subscribe to our newsletter now"})
    assert "Subscribe" not in text and "More text follows here." in text


def test_normalise_whitespace_controls_nfc():
    s = "Cafe\u0301  \t here\u200b\x07\r\n\n\n\nNext"
    out = normalise(s)
    assert out == "Caf\u00e9 here\n\nNext"


def test_dates_and_source():
    assert find_date("Published March 3, 2024 by staff") == "2024-03-03"
    assert find_date("on 2023-11-05 the") == "2023-11-05"
    assert find_date("12 August 2023") == "2023-08-12"
    assert find_date("no date here") == ""
    assert guess_source("Reuters/ The minister said") == "Reuters"


def test_html_loader_extracts_text_and_metadata(tmp_path):
    html = """<html><head><title>Port strike ends</title>
    <meta property="og:site_name" content="Harbour Times">
    <meta name="date" content="2032-04-02"></head>
    <body><nav>Home | World | Sport</nav><article><h1>Port strike ends</h1>
    <p>Dock workers in Velmora returned to work on Tuesday after a nine-day strike over pay.</p>
    <p>The union said members had accepted a 6 percent rise, according to a statement.</p>
    </article><footer>Copyright Harbour Times</footer></body></html>"""
    p = tmp_path / "a.html"
    p.write_text(html)
    recs, fails = load_file(p, 10_000_000)
    assert not fails
    rec = recs[0]
    assert rec.title == "Port strike ends"
    assert "nine-day strike" in rec.text and "6 percent" in rec.text
    assert "Home | World" not in rec.text
    assert rec.published == "2032-04-02"


def test_jsonl_loader_fields_and_errors(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"id": "x1", "title": "T", "text": "Body one is here.", "source": "S", "published": "2031-01-02",'
                 ' "fictional": true}\n'
                 "{not json\n"
                 '{"title": "no text"}\n'
                 '{"text": 5}\n'
                 '[1, 2]\n'
                 '{"text": "Fine too.", "title": ["list"]}\n')
    recs, fails = load_file(p, 10_000_000)
    assert len(recs) == 1
    r = recs[0]
    assert (r.title, r.source, r.published, r.key) == ("T", "S", "2031-01-02", f"{p}#x1")
    assert r.extra == {"fictional": True, "ext_id": "x1"}
    reasons = {f.path: f.reason for f in fails}
    assert set(reasons) == {f"{p}:2", f"{p}:3", f"{p}:4", f"{p}:5", f"{p}:6"}
    assert "malformed JSON" in reasons[f"{p}:2"]
    assert '"text" is required' in reasons[f"{p}:3"]
    assert '"text" is required' in reasons[f"{p}:4"]
    assert "JSON object" in reasons[f"{p}:5"]
    assert "title" in reasons[f"{p}:6"]


def test_encoding_detection(tmp_path):
    p = tmp_path / "latin.txt"
    body = ("Título del artículo\n\nEl ministro habló en la capital de España sobre el acuerdo. "
            "La comisión aprobó la decisión después de la reunión del miércoles, según la información "
            "publicada por el Gobierno. Además, el portavoz señaló que la situación económica mejoró.")
    p.write_bytes(body.encode("cp1252"))
    recs, fails = load_file(p, 10_000_000)
    assert not fails
    assert "habló" in recs[0].text and "España" in recs[0].text
