"""What the int8 embedding model is calibrated on (rag/index/embeddings.py, ``embed_precision=int8``).

A reproducible synthetic news generator (the same seed gives byte-identical articles): 300-1,500 words of
plausible wire copy with names, places, organisations, numbers and dates, and one checkable fact per
article. The benchmarks (bench/corpus.py) draw their articles from the same generator with seed 0; the
calibration uses its own seed, so neither the benchmark's articles nor the eval sets fit the activation
ranges. It lives here, not in bench/, because rag never imports bench.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

_FIRST = ("Amara", "Bogdan", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hamid", "Irena", "Jonas", "Kavya",
          "Lucien", "Marisol", "Nadim", "Oksana", "Pieter", "Quentin", "Rania", "Soren", "Tamsin", "Ulrich",
          "Valeria", "Wiktor", "Ximena", "Yusuf", "Zofia")
_LAST = ("Adeyemi", "Brandt", "Castellanos", "Dragomir", "Ekwueme", "Fontaine", "Garrido", "Halvorsen",
         "Ibrahimi", "Jankowski", "Kovacs", "Lindqvist", "Moreau", "Nakagawa", "Okonkwo", "Petrescu",
         "Quispe", "Rautio", "Szabo", "Tanaka", "Uribe", "Vasquez", "Wojcik", "Yilmaz", "Zelenko")
_PLACE_A = ("Vel", "Kor", "Ash", "Mar", "Tor", "Bel", "Osk", "Dra", "Lun", "Fen", "Gal", "Hol", "Ise", "Jor")
_PLACE_B = ("mora", "rin", "ford", "ava", "holm", "grad", "port", "ica", "wick", "esti", "ania", "burg")
_ORGS = ("Ministry of Transport", "Harbour Authority", "National Grid Company", "Water Board", "Central Bank",
         "Farmers' Union", "Port Workers' Federation", "Rail Safety Agency", "Health Directorate",
         "Civil Aviation Office", "Mining Council", "Statistics Office")
_TOPICS = (
    ("flood", "flood barriers", "households were evacuated", "the river rose"),
    ("strike", "dock workers", "ships were waiting", "the union walked out"),
    ("budget", "the city budget", "million crowns were allocated", "the council voted"),
    ("outage", "power lines", "homes lost electricity", "the storm hit"),
    ("harvest", "grain silos", "tonnes of wheat were stored", "the season ended"),
    ("election", "polling stations", "ballots were counted", "the polls closed"),
    ("bridge", "the new bridge", "vehicles crossed", "the span opened"),
    ("outbreak", "field clinics", "patients were treated", "the fever spread"),
)
_VERBS = ("said", "told reporters", "confirmed", "announced", "warned", "added", "estimated", "reported")
_FILLER = (
    "Residents gathered near the square as officials outlined the next steps.",
    "The announcement came after weeks of talks between the regional government and local groups.",
    "Critics argued that the measures came too late and would cost more than planned.",
    "Engineers inspected the site throughout the afternoon and the night.",
    "Several shops stayed closed while volunteers handed out water and blankets.",
    "The opposition demanded a full inquiry and the publication of all internal reports.",
    "Traffic on the coastal road was diverted for most of the day.",
    "Local radio carried live updates, and schools sent pupils home early.",
    "A spokesperson declined to comment on how long the work would take.",
    "Loss adjusters said it was too early to put a figure on the damage.",
)


@dataclass(frozen=True)
class SyntheticArticle:
    id: str
    title: str
    text: str
    source: str
    published: str
    question: str  # answerable from exactly this article
    answer: str

    def record(self) -> dict:
        return {"id": self.id, "title": self.title, "text": self.text, "source": self.source,
                "published": self.published}


def _person(r: random.Random) -> str:
    return f"{r.choice(_FIRST)} {r.choice(_LAST)}"


def _place(r: random.Random) -> str:
    return r.choice(_PLACE_A) + r.choice(_PLACE_B)


def make_article(i: int, r: random.Random) -> SyntheticArticle:
    topic, thing, unit_phrase, trigger = r.choice(_TOPICS)
    # a unique place name per article (index-suffixed) carries the one checkable fact
    town = f"{_place(r)}{_LAST[i % len(_LAST)][:3].lower()}{i}"
    org = r.choice(_ORGS)
    official = _person(r)
    day = date(2021, 1, 1) + timedelta(days=r.randrange(0, 1400))
    fact = r.randrange(100, 99_999)
    n_words = r.randrange(300, 1501)
    title = f"{topic.capitalize()} in {town}: {fact:,} {unit_phrase.split()[0]} affected"
    lead = (f"{town.upper()}, {day:%B} {day.day}, {day.year} - {fact:,} {unit_phrase} in {town} after {trigger}, "
            f"{official} of the {org} {r.choice(_VERBS)} on {day:%A}.")
    paras = [lead]
    words = len(lead.split())
    while words < n_words:
        sents = []
        for _ in range(r.randrange(2, 6)):
            kind = r.randrange(4)
            if kind == 0:
                sents.append(f"{_person(r)}, a spokesperson for the {r.choice(_ORGS)}, {r.choice(_VERBS)} that "
                             f"{r.randrange(2, 900)} people had worked on {thing} near {_place(r)} since "
                             f"{(day - timedelta(days=r.randrange(1, 90))):%d %B %Y}.")
            elif kind == 1:
                sents.append(f"Figures published on {(day + timedelta(days=r.randrange(1, 30))).isoformat()} "
                             f"showed a {r.randrange(2, 60)} percent change compared with the year before.")
            elif kind == 2:
                sents.append(f"In nearby {_place(r)}, {r.randrange(3, 5000):,} residents were affected, "
                             f"according to {_person(r)}.")
            else:
                sents.append(r.choice(_FILLER))
        para = " ".join(sents)
        paras.append(para)
        words += len(para.split())
    if words > 1500:  # the last paragraph overshot: without it the article is still >= 300 words
        words -= len(paras.pop().split())
    question = f"How many {unit_phrase.split(' were ')[0]} in {town} after {trigger}?"
    source = r.choice(("Northern Wire", "Coastal Herald", "Daily Meridian", "Riverside Post"))
    return SyntheticArticle(id=f"syn-{i:06d}", title=title, text="\n\n".join(paras), source=source,
                            published=day.isoformat(), question=question, answer=f"{fact:,}")


def generate(n: int, seed: int = 0) -> list[SyntheticArticle]:
    r = random.Random(seed)
    return [make_article(i, r) for i in range(n)]


CALIBRATION_SEED = 20261206


def calibration_texts(tokenizer, max_tokens: int, n_articles: int = 40, seed: int = CALIBRATION_SEED) -> list[str]:
    """News-like passages as ingest embeds them (whole windows of ``max_tokens`` tokens and the shorter tail
    of each article) plus question-shaped queries and titles. ``tokenizer``: a ``tokenizers.Tokenizer``."""
    texts: list[str] = []
    for art in generate(n_articles, seed):
        offs = tokenizer.encode(art.text, add_special_tokens=False).offsets
        for i in range(0, len(offs), max_tokens):
            part = offs[i:i + max_tokens]
            texts.append(art.text[part[0][0]:part[-1][1]])
        texts.append(art.question)
        texts.append(art.title)
    return texts
