"""The support scorer and its meta-evaluation (its text helpers: tests/text/).

The dev set below (79 claim/passage pairs over the seed article and four corpus articles, written
independently of ``eval/qa/support.jsonl``) covers every kind: exact, paraphrase and summary claims
that the passage supports, and number, date, entity-swap, negation, wrong-speaker and absent-fact
claims that it does not. Embedding tests use the real all-MiniLM-L6-v2 model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rag.evaluation.support_meta import evaluate, format_table, load_pairs, squad_pairs
from rag.support import SupportResult, SupportScorer, claim_speaker

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SUPPORT_JSONL = ROOT / "eval" / "qa" / "support.jsonl"
SQUAD = ROOT / "eval" / "external" / "squad2" / "dev-8-articles.json"
SQUAD_SHARED = Path("/work/shared/data/squad2/dev-8-articles.json")

# ---------------------------------------------------------------------------------------------------
# dev set
# ---------------------------------------------------------------------------------------------------

P_ASKARI = (
    "In a statement on its Telegram channel, the militia's security chief, Abu Ali al-Askari, said that the "
    'group\'s attacks on Friday were "just the beginning of a new phase of the conflict."'
)
P_AUSTIN = (
    "U.S. Defense Secretary Lloyd Austin condemned the attacks on his country's embassy in Baghdad and "
    "singled "
    'out Iran-aligned armed groups "Kata\'ib Hezbollah" and "Harakat Hezbollah al-Nujaba" for the recent '
    'targeting of U.S. personnel. "The United States reserves the right to respond decisively against those '
    'groups," Austin told Iraqi Prime Minister Mohammad Shia al-Sudani over the phone, according to a '
    "Pentagon statement summarizing the call."
)
P_MORTAR = (
    "Early on Friday, nearly seven mortar rounds landed in the U.S. Embassy compound in Baghdad. The attack "
    "marked the first time it had been fired on in more than a year, apparently widening the range of "
    "targets. "
    "No group claimed responsibility, but previous attacks against U.S. forces have been carried out by "
    "Iran-aligned groups operating under the banner of the Islamic Resistance in Iraq."
)
P_84 = (
    "U.S. forces in Iraq and Syria have been attacked at least 84 times since Oct. 17. The U.S. has "
    "responded with "
    "a series of strikes that have killed at least 15 militants in Iraq and up to seven in Syria."
)
P_EXPL = (
    "Explosions were heard near the embassy, in the center of Baghdad, at about 4 a.m. on Friday. Sirens "
    "calling "
    "on people to take cover were activated. State media said the attack damaged the headquarters of an "
    "Iraqi "
    "security agency."
)
P_DAM1 = (
    "The number of people evacuated below the damaged Korrin Dam rose to 1,150 on Monday after engineers "
    "widened "
    "the danger zone along the Vessa River, and two residents of the village of Oskeld were reported missing."
)
P_DAM2 = (
    '"We are lowering the reservoir as fast as the river downstream can safely take it," chief engineer '
    "Ilsabet "
    "Varro-Quent said. She said the authority aimed to bring the water level down by four metres within "
    "72 hours."
)
P_DAM3 = (
    "Interior Minister Teodric Hallowmere visited the evacuation centre at the Tavrin Falls sports hall and "
    'announced a 25 million drav emergency fund for families who had been forced from their homes. "No '
    "family in "
    'the valley will be left to face this alone," Hallowmere said. He added that 300 soldiers had been '
    "deployed "
    "to help police, fill sandbags and guard empty homes against looting."
)
P_DAM4 = (
    "Police said the two missing residents had been living on adjoining farms at the edge of Oskeld and "
    "had not "
    "been seen since Sunday afternoon. Their names were not released. Divers and a helicopter from the "
    "air force "
    "base at Haldane Cross were searching the flooded fields on Monday."
)
P_DOCK1 = (
    "Dockworkers at the Port of Quillan Bay returned to work at 6 a.m. on Thursday after union members "
    "voted to "
    "accept a deal that ends a seven-day strike, the longest in the port's history. Under the agreement "
    "brokered "
    "by mediator Petra Vellacourt, workers will receive a 6.5 percent pay rise spread over two years, "
    "and Quillan "
    "Gateway Terminals has promised that there will be no compulsory redundancies linked to the "
    "automation of "
    "cranes before 2036."
)
P_DOCK2 = (
    "Anselm Drevitz, chief executive of Quillan Gateway Terminals, said the company accepted the deal "
    '"with open '
    'eyes". "It is a fair deal, and it is an expensive one," he said. He said the company would pass part of '
    "the cost on to shipping lines through higher handling fees."
)
P_DOCK3 = (
    "Vellacourt said the breakthrough came late on Monday night, when both sides agreed to set up a joint "
    'committee to oversee the introduction of remote-controlled cranes. "In the end it was not about '
    "money. It "
    'was about trust," she said.'
)
P_VAX1 = (
    "The Merovale Medicines Board on Tuesday approved Celvax-L, a vaccine against Lowmarsh fever made by "
    "Dunmarrow-based Celvane Biologics, for emergency use, as confirmed cases of the tick-borne disease "
    "passed "
    "1,000. The decision follows a clinical trial in 4,800 adults that found the vaccine to be 87 percent "
    "effective at preventing symptomatic illness, the board said."
)
P_VAX2 = (
    "Health Minister Aurelio Fenk said the government had agreed to buy 500,000 doses at a total cost of 41 "
    "million dravs. He declined to give the price per dose, saying the contract was commercially "
    "confidential."
)
P_VAX3 = (
    "Some doctors urged caution. Dr. Piet Ammerhaven, a specialist in infectious diseases at Esterby "
    "district "
    "hospital, said the trial had included too few people over 80 to be sure how well the vaccine worked "
    "in the "
    'very old. "It is good news, but it is not a magic wand," he said.'
)
P_JAIL1 = (
    "Former transport minister Lorcan Vey-Abernathy was sentenced to six years in prison on Thursday "
    "after the "
    "Dunmarrow High Court found him guilty of taking bribes from Tessaly Construction in return for the "
    "contract "
    "to build the Pellmoor Bridge. Judge Tomasz Elverhoy convicted Vey-Abernathy on three of the five "
    "charges, "
    "two of bribery and one of money laundering, and acquitted him of the remaining two. He ordered him "
    "to repay "
    "1.9 million dravs."
)
P_JAIL2 = (
    "Vey-Abernathy stood with his hands clasped as the sentence was read and showed no visible reaction. His "
    "lawyer, Fabian Mortlake-Ives, said he would appeal. Prosecutor Ines Caldwater-Roe said the verdict "
    "showed "
    'that "nobody is too senior to be held to account". She said prosecutors would consider whether to '
    "appeal "
    "against the two acquittals."
)

DEV: list[dict] = []


def add(kind: str, supported: bool, claim: str, passage: str) -> None:
    DEV.append({"kind": kind, "supported": supported, "claim": claim, "passage": passage})


# supported: exact
add(
    "exact",
    True,
    "Nearly seven mortar rounds landed in the U.S. Embassy compound in Baghdad early on Friday.",
    P_MORTAR,
)
add("exact", True, "No group claimed responsibility for the attack.", P_MORTAR)
add("exact", True, "U.S. forces in Iraq and Syria have been attacked at least 84 times since Oct. 17.", P_84)
add("exact", True, "The number of people evacuated below the Korrin Dam rose to 1,150 on Monday.", P_DAM1)
add("exact", True, "Workers will receive a 6.5 percent pay rise spread over two years.", P_DOCK1)
add("exact", True, "Vey-Abernathy was sentenced to six years in prison on Thursday.", P_JAIL1)
add(
    "exact",
    True,
    "The trial found the vaccine to be 87 percent effective at preventing symptomatic illness.",
    P_VAX1,
)
add("exact", True, "Fenk declined to give the price per dose.", P_VAX2)
add("exact", True, "Interior Minister Teodric Hallowmere announced a 25 million drav emergency fund.", P_DAM3)
add("exact", True, "The two missing residents had not been seen since Sunday afternoon, police said.", P_DAM4)
# supported: paraphrase
add(
    "paraphrase",
    True,
    "About seven mortar shells hit the American embassy compound in Baghdad on Friday morning.",
    P_MORTAR,
)
add(
    "paraphrase",
    True,
    "Abu Ali al-Askari said Friday's attacks were just the start of a new phase of the conflict.",
    P_ASKARI,
)
add(
    "paraphrase",
    True,
    "Al-Askari, the militia's security chief, called the attacks the beginning of a new phase.",
    P_ASKARI,
)
add("paraphrase", True, "Austin condemned the attacks on the U.S. embassy in Baghdad.", P_AUSTIN)
add(
    "paraphrase",
    True,
    "According to a Pentagon statement, Austin told al-Sudani that the United States reserves the right "
    "to respond decisively.",
    P_AUSTIN,
)
add("paraphrase", True, "US strikes have killed at least 15 militants in Iraq.", P_84)
add("paraphrase", True, "Blasts were heard close to the embassy at around 4 a.m. on Friday.", P_EXPL)
add("paraphrase", True, "Two people from Oskeld were reported missing.", P_DAM1)
add(
    "paraphrase",
    True,
    "Varro-Quent said the authority wanted to lower the water level by four metres within 72 hours.",
    P_DAM2,
)
add("paraphrase", True, "Hallowmere said 300 soldiers had been sent to help the police.", P_DAM3)
add(
    "paraphrase",
    True,
    "The strike at Quillan Bay lasted seven days, the longest in the port's history.",
    P_DOCK1,
)
add("paraphrase", True, "Drevitz said the company would pass some of the cost on to shipping lines.", P_DOCK2)
add("paraphrase", True, "Vellacourt said that in the end the dispute was about trust, not money.", P_DOCK3)
add(
    "paraphrase",
    True,
    "The health ministry's government agreed to purchase 500,000 doses for 41 million dravs.",
    P_VAX2,
)
add("paraphrase", True, "Ammerhaven said the trial included too few people over 80.", P_VAX3)
add("paraphrase", True, "The judge acquitted Vey-Abernathy of two of the five charges.", P_JAIL1)
add("paraphrase", True, "Mortlake-Ives, his lawyer, said Vey-Abernathy would appeal.", P_JAIL2)
add(
    "paraphrase", True, "Vey-Abernathy did not show any visible reaction when the sentence was read.", P_JAIL2
)
# supported: summary
add(
    "summary",
    True,
    "Vey-Abernathy was convicted of bribery and money laundering and must repay 1.9 million dravs.",
    P_JAIL1,
)
add(
    "summary",
    True,
    "The Medicines Board approved Celvax-L for emergency use after a trial in 4,800 adults.",
    P_VAX1,
)
add(
    "summary",
    True,
    "The dock strike ended with a pay deal and a promise of no compulsory redundancies before 2036.",
    P_DOCK1,
)
add(
    "summary",
    True,
    "Hallowmere visited evacuees in Tavrin Falls, set up an emergency fund and deployed soldiers.",
    P_DAM3,
)
add(
    "summary",
    True,
    "US forces have been attacked dozens of times since mid-October and the US has struck back.",
    P_84,
)
# unsupported: number
add("number", False, "Nearly twelve mortar rounds landed in the U.S. Embassy compound in Baghdad.", P_MORTAR)
add(
    "number", False, "U.S. forces in Iraq and Syria have been attacked at least 48 times since Oct. 17.", P_84
)
add("number", False, "The number of people evacuated rose to 1,500 on Monday.", P_DAM1)
add("number", False, "Workers will receive a 7.5 percent pay rise.", P_DOCK1)
add("number", False, "Vey-Abernathy was sentenced to eight years in prison.", P_JAIL1)
add("number", False, "The government agreed to buy 50,000 doses.", P_VAX2)
add("number", False, "The US strikes killed at least 15 militants in Syria.", P_84)
add("number", False, "Hallowmere announced a 52 million drav emergency fund.", P_DAM3)
# unsupported: date
add("date", False, "Nearly seven mortar rounds landed in the U.S. Embassy compound on Saturday.", P_MORTAR)
add("date", False, "U.S. forces have been attacked at least 84 times since Nov. 17.", P_84)
add("date", False, "The evacuation rose to 1,150 people on Tuesday.", P_DAM1)
add("date", False, "The Medicines Board approved Celvax-L on Thursday.", P_VAX1)
add("date", False, "Automation will bring no compulsory redundancies before 2046.", P_DOCK1)
# unsupported: entity swap
add("entity_swap", False, "Austin condemned the attacks on the U.S. embassy in Damascus.", P_AUSTIN)
add(
    "entity_swap",
    False,
    "Nearly seven mortar rounds landed in the British Embassy compound in Baghdad.",
    P_MORTAR,
)
add("entity_swap", False, "Two residents of the village of Pellmoor were reported missing.", P_DAM1)
add("entity_swap", False, "The agreement was brokered by mediator Sorcha Penhallow-Ries.", P_DOCK1)
add("entity_swap", False, "The vaccine is made by Tessaly Construction.", P_VAX1)
add(
    "entity_swap",
    False,
    "Vey-Abernathy was found guilty of taking bribes from Quillan Gateway Terminals.",
    P_JAIL1,
)
add(
    "entity_swap",
    False,
    "Kata'ib Hezbollah claimed responsibility for the mortar attack in Baghdad.",
    P_MORTAR,
)
# unsupported: negation
add("negation", False, "A group claimed responsibility for the mortar attack.", P_MORTAR)
add("negation", False, "Austin did not condemn the attacks on the embassy in Baghdad.", P_AUSTIN)
add("negation", False, "The two missing residents had been seen on Sunday afternoon.", P_DAM4)
add(
    "negation",
    False,
    "Quillan Gateway Terminals did not promise anything about compulsory redundancies.",
    P_DOCK1,
)
add("negation", False, "Vellacourt said that in the end it was about money.", P_DOCK3)
add("negation", False, "Fenk agreed to give the price per dose.", P_VAX2)
add("negation", False, "The judge convicted Vey-Abernathy on all five charges.", P_JAIL1)
add("negation", False, "Ammerhaven said the vaccine was a magic wand.", P_VAX3)
add("negation", False, "The number of evacuated people fell to 1,150 on Monday.", P_DAM1)
add("negation", False, "Vey-Abernathy showed a visible reaction as the sentence was read.", P_JAIL2)
# unsupported: wrong speaker
add(
    "wrong_speaker",
    False,
    "Austin said the attacks were just the beginning of a new phase of the conflict.",
    P_ASKARI + " " + P_AUSTIN,
)
add(
    "wrong_speaker",
    False,
    "Hallowmere said the authority aimed to bring the water level down by four metres.",
    P_DAM2 + " " + P_DAM3,
)
add(
    "wrong_speaker",
    False,
    "Drevitz said that in the end it was not about money but about trust.",
    P_DOCK2 + " " + P_DOCK3,
)
add("wrong_speaker", False, "Caldwater-Roe said Vey-Abernathy would appeal.", P_JAIL2)
add("wrong_speaker", False, "Fenk said the trial had included too few people over 80.", P_VAX2 + " " + P_VAX3)
add(
    "wrong_speaker",
    False,
    "According to State media, the attack damaged the U.S. embassy's headquarters.",
    P_MORTAR,
)
# unsupported: absent fact
add("absent_fact", False, "The US ambassador to Iraq was evacuated after the attack.", P_MORTAR)
add("absent_fact", False, "Several embassy staff were injured by the mortar rounds.", P_MORTAR)
add("absent_fact", False, "Austin announced new sanctions against Kata'ib Hezbollah.", P_AUSTIN)
add("absent_fact", False, "The dam was built by a foreign construction company.", P_DAM1)
add("absent_fact", False, "The soldiers were paid overtime for guarding homes.", P_DAM3)
add("absent_fact", False, "Dockworkers will also receive an extra week of paid holiday.", P_DOCK1)
add("absent_fact", False, "The vaccine must be stored at minus 70 degrees.", P_VAX1)
add("absent_fact", False, "Vey-Abernathy's brother was also charged with bribery.", P_JAIL1)
add("absent_fact", False, "The mediator was paid by the government to settle the strike.", P_DOCK3)
add("absent_fact", False, "The Celvane chief executive resigned after the trial results.", P_VAX3)


# ---------------------------------------------------------------------------------------------------
# the scorer: hard checks and reasons (lexical only, fast)
# ---------------------------------------------------------------------------------------------------

LEX = SupportScorer()


@pytest.mark.parametrize(
    ("claim", "passage", "reason"),
    [
        (
            "Nearly twelve mortar rounds landed in the U.S. Embassy compound in Baghdad.",
            P_MORTAR,
            "number twelve",
        ),
        ("U.S. forces have been attacked at least 84 times since Nov. 17.", P_84, "date month:11"),
        (
            "Nearly seven mortar rounds landed in the British Embassy compound in Baghdad.",
            P_MORTAR,
            "entity 'British",
        ),
        ("Austin did not condemn the attacks on the embassy in Baghdad.", P_AUSTIN, "negation mismatch"),
        ("A group claimed responsibility for the mortar attack.", P_MORTAR, "negation mismatch"),
        ("The number of evacuated people fell to 1,150 on Monday.", P_DAM1, "antonym mismatch"),
        (
            "Austin said the attacks were just the beginning of a new phase of the conflict.",
            P_ASKARI + " " + P_AUSTIN,
            "speaker 'Austin'",
        ),
        ("The US strikes killed at least 15 militants in Syria.", P_84, "not attached"),
        (
            "Lumaris must sell the unit within six weeks.",
            "Lumaris must sell the unit within six months.",
            "number 6 week",
        ),
        (
            "Sanne Ilvary was found alive on a barn roof by an air force helicopter crew.",
            "Sanne Ilvary was found alive on the roof of a hay barn.",
            "'an air force helicopter crew' not in evidence",
        ),
    ],
)
def test_hard_checks_give_reasons(claim, passage, reason):
    r = LEX.score(claim, passage)
    assert not r.supported
    assert any(reason in x for x in r.reasons), r.reasons
    assert 0.0 <= r.score < LEX.threshold


@pytest.mark.parametrize(
    ("claim", "passage"),
    [
        (
            "Nearly seven mortar rounds landed in the U.S. Embassy compound in Baghdad early on Friday.",
            P_MORTAR,
        ),
        ("No group claimed responsibility for the attack.", P_MORTAR),
        (
            "7 mortar rounds landed in the American embassy compound in Baghdad.",
            P_MORTAR,
        ),  # 7 == seven, US == American
        ("Al-Askari said the group's attacks on Friday were just the beginning of a new phase.", P_ASKARI),
        ("Vey-Abernathy did not show any visible reaction when the sentence was read.", P_JAIL2),
        ("Fenk would not give the price per dose.", P_VAX2),  # "declined to" ~ "would not"
        ("The two missing residents had not been seen since Sunday afternoon, police said.", P_DAM4),
        ("When did nearly seven mortar rounds land in the U.S. Embassy compound? Early on Friday", P_MORTAR),
    ],
)
def test_supported_claims_pass(claim, passage):
    r = LEX.score(claim, passage)
    assert r.supported, r
    assert r.score >= LEX.threshold and r.reasons == []


def test_speaker_rules():
    assert claim_speaker("Abu Ali al-Askari said the attacks would continue.") == "Abu Ali al-Askari"
    assert claim_speaker("Mortlake-Ives, his lawyer, said he would appeal.") == "Mortlake-Ives"
    assert claim_speaker('"We held the line," said Sorcha Penhallow-Ries.') == "Sorcha Penhallow-Ries"
    assert (
        claim_speaker("According to a Pentagon statement, Austin told al-Sudani to act.")
        == "Pentagon statement"
    )
    assert claim_speaker("He said the attacks would continue.") is None
    assert claim_speaker("The attack was reported on Friday.") is None
    # "he said" resolves to the nearest named speaker before it
    ev = "Abu Ali al-Askari spoke on Telegram. He said the attacks were only the beginning."
    assert LEX.score("Al-Askari said the attacks were only the beginning.", ev).supported
    assert not LEX.score(
        "Austin said the attacks were only the beginning.", ev + " Austin disagreed."
    ).supported


def test_quoted_words_must_stand_in_the_evidence_as_written():
    ev = ('Al-Askari also said that the US embassy in Baghdad is still a "forward base" and a '
          '"nest of espionage."')
    assert LEX.score('Al-Askari called the US embassy in Baghdad a "nest of espionage".', ev).supported
    r = LEX.score('Al-Askari called the US embassy in Baghdad a "den of spies".', ev)
    assert not r.supported and any(x.startswith("quote") for x in r.reasons)
    # the quote is another sentence's: the words around it match, the quoted ones do not
    lede = ("The club from the Upper Vessa town, which was hit by flooding in March, will donate its share of "
            "the gate receipts to families who lost their homes.")
    r = LEX.score('The club said "This is for every family that lost a home in March" after the final.', lede)
    assert not r.supported and any(x.startswith("quote") for x in r.reasons)
    # an ellipsis joins pieces; curly quotes count; two-word quotes are not checked
    ev2 = "\u201cWe will rebuild every house, and we will do it this year,\u201d the mayor said."
    assert LEX.score("The mayor said \u201cwe will rebuild every house ... this year\u201d.", ev2).supported
    assert not LEX.score('The mayor said "we will rebuild every school".', ev2).supported


def test_list_evidence_is_joined_and_empty_inputs_fail():
    parts = [
        "Early on Friday, nearly seven mortar rounds landed.",
        "They hit the U.S. Embassy compound in Baghdad.",
    ]
    assert LEX.score("Nearly seven mortar rounds hit the U.S. Embassy compound in Baghdad.", parts).supported
    assert LEX.score("anything", []).reasons == ["no evidence"]
    assert LEX.score("", "text").reasons == ["empty claim"]
    assert not LEX.score("   ", "text").supported


def test_best_and_score_many_agree_with_score():
    cands = [P_EXPL, P_84, P_MORTAR]
    claim = "Nearly seven mortar rounds landed in the U.S. Embassy compound."
    i, r = LEX.best(claim, cands)
    assert i == 2 and r.supported
    assert LEX.best(claim, []) == (-1, SupportResult(0.0, False, ["no evidence"]))
    many = LEX.score_many([claim, claim], [P_MORTAR, P_EXPL])
    assert [m.score for m in many] == [LEX.score(claim, P_MORTAR).score, LEX.score(claim, P_EXPL).score]
    with pytest.raises(ValueError):
        LEX.score_many([claim], [])


def test_scores_are_deterministic_and_bounded():
    a = [LEX.score(c["claim"], c["passage"]) for c in DEV[:20]]
    b = [LEX.score(c["claim"], c["passage"]) for c in DEV[:20]]
    assert a == b
    assert all(0.0 <= r.score <= 1.0 for r in a)


def test_lexical_only_dev_balanced_accuracy():
    res = evaluate(DEV, LEX)
    assert res["n"] == len(DEV)
    assert res["balanced_accuracy"] >= 0.85, format_table("dev (lexical)", res)


# ---------------------------------------------------------------------------------------------------
# with the real embedding model
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scorer() -> SupportScorer:
    from rag.index.embeddings import get_embedder
    from rag.settings import Settings

    return SupportScorer(embed=get_embedder().encode, threshold=Settings().support_threshold)


def test_embedding_dev_balanced_accuracy(scorer):
    res = evaluate(DEV, scorer)
    assert res["balanced_accuracy"] >= 0.88, format_table("dev", res)
    assert res["tpr"] >= 0.85 and res["tnr"] >= 0.85
    for kind in ("exact", "date", "number", "entity_swap", "wrong_speaker"):
        assert res["per_kind"][kind]["accuracy"] >= 0.85, (kind, res["per_kind"][kind])


def test_support_jsonl_meets_the_ci_bar(scorer):
    """The CI bar: balanced accuracy >= 0.85 on the team's labelled support pairs."""
    pairs = load_pairs(SUPPORT_JSONL)
    assert len(pairs) >= 220
    res = evaluate(pairs, scorer)
    assert res["balanced_accuracy"] >= 0.85, format_table(str(SUPPORT_JSONL), res)


def test_embedding_cache_reuses_vectors():
    calls: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        rng = np.random.default_rng(abs(hash(tuple(texts))) % 2**32)
        v = rng.normal(size=(len(texts), 8)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    s = SupportScorer(embed=embed)
    s.score("Nearly seven mortar rounds landed.", P_MORTAR)
    first = sum(calls)
    s.score("Nearly seven mortar rounds landed.", P_MORTAR)
    assert first > 0 and sum(calls) == first  # nothing re-embedded


# ---------------------------------------------------------------------------------------------------
# meta-evaluation
# ---------------------------------------------------------------------------------------------------


class _Fixed:
    """A scorer that says "supported" exactly for the claims listed."""

    def __init__(self, yes: set[str]):
        self.yes = yes

    def score_many(self, claims, evidences):
        return [SupportResult(1.0 if c in self.yes else 0.0, c in self.yes, []) for c in claims]


def test_evaluate_hand_computed():
    pairs = [
        {"claim": "a", "passage": "", "supported": True, "kind": "exact"},
        {"claim": "b", "passage": "", "supported": True, "kind": "paraphrase"},
        {"claim": "c", "passage": "", "supported": False, "kind": "number"},
        {"claim": "d", "passage": "", "supported": False, "kind": "number"},
        {"claim": "e", "passage": "", "supported": False, "kind": "negation"},
    ]
    res = evaluate(pairs, _Fixed({"a", "c"}))
    # tp=1 fn=1 fp=1 tn=2
    assert res["n"] == 5
    assert res["tpr"] == pytest.approx(0.5) and res["recall"] == pytest.approx(0.5)
    assert res["tnr"] == pytest.approx(2 / 3)
    assert res["precision"] == pytest.approx(0.5)
    assert res["balanced_accuracy"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert res["per_kind"]["number"] == {"n": 2, "label": "unsupported", "accuracy": 0.5}
    assert res["per_kind"]["exact"]["accuracy"] == 1.0
    perfect = evaluate(pairs, _Fixed({"a", "b"}))
    assert perfect["balanced_accuracy"] == 1.0
    only_pos = evaluate(pairs[:2], _Fixed(set()))
    assert only_pos["tnr"] is None and only_pos["balanced_accuracy"] == 0.0 and only_pos["precision"] is None


def test_squad_pairs_from_official_json(tmp_path):
    data = {
        "version": "v2.0",
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": "Rollo led the Norse.",
                        "qas": [
                            {
                                "question": "Who led the Norse?",
                                "id": "1",
                                "answers": [{"text": "Rollo", "answer_start": 0}],
                                "is_impossible": False,
                            },
                            {
                                "question": "Who led the Franks?",
                                "id": "2",
                                "answers": [],
                                "is_impossible": True,
                                "plausible_answers": [{"text": "Rollo", "answer_start": 0}],
                            },
                            {"question": "Who?", "id": "3", "answers": [], "is_impossible": True},
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    pairs = sorted(squad_pairs(path), key=lambda p: p["id"])
    assert [(p["claim"], p["supported"], p["kind"]) for p in pairs] == [
        ("Who led the Norse? Rollo", True, "squad_answerable"),
        ("Who led the Franks? Rollo", False, "squad_impossible"),
    ]
    assert all(p["passage"] == "Rollo led the Norse." for p in pairs)


def test_squad_pairs_real_file_counts_and_sampling():
    path = SQUAD if SQUAD.exists() else SQUAD_SHARED
    pairs = squad_pairs(path)
    assert sum(p["supported"] for p in pairs) == 1505  # answerable questions
    assert sum(not p["supported"] for p in pairs) == 1576  # impossible ones, all with plausible answers
    sample = squad_pairs(path, limit=100, seed=7)
    assert len(sample) == 100 and sum(p["supported"] for p in sample) == 50
    assert sample == squad_pairs(path, limit=100, seed=7)  # seeded
    res = evaluate(sample, LEX)
    assert res["balanced_accuracy"] > 0.55  # SQuAD's adversarial negatives are hard; better than chance
