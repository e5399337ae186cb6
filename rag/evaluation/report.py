"""Presenting an eval result: the terminal table, ``report.md``/``report.json`` and the PNG chart.

Everything here reads the result dict the runner builds (the ``--json`` contract plus
``metrics_extra``); nothing here computes a metric.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# headline metrics in display order, with the direction that is better
HEADLINE = (
    ("accuracy_strict", "up"), ("wrong_among_answered", "down"), ("wrong_answer_rate", "down"),
    ("partial_rate", "down"), ("attribution_rate", "up"),
    ("hit_at_5", "up"), ("mrr", "up"), ("answer_accuracy", "up"), ("token_f1", "up"),
    ("faithfulness", "up"), ("citation_precision", "up"), ("citation_recall", "up"),
    ("refusal_precision", "up"), ("refusal_recall", "up"), ("false_refusal_rate", "down"),
    ("latency_p50_ms", "down"), ("latency_p95_ms", "down"),
)
EXTRA = ("faithfulness_raw", "hallucination_rate", "hallucination_rate_raw", "evidence_recall_at_5",
         "errors", "judge_answer_accuracy", "judge_faithfulness")
CHART_METRICS = ("hit_at_5", "answer_accuracy", "faithfulness_raw", "faithfulness", "citation_precision",
                 "refusal_recall", "false_refusal_rate")
META_COLUMNS = ("balanced_accuracy", "precision", "tpr", "tnr", "false_support_rate", "false_reject_rate")
CATEGORY_COLUMNS = ("n", "hit_at_5", "accuracy_strict", "answer_accuracy", "wrong_among_answered",
                    "faithfulness", "refused_share", "latency_p50_ms")
ORIGIN_COLUMNS = ("n", "correct", "answered_wrong", "correct_refusal", "false_refusal", "wrong_among_answered")
REFUSAL_COLUMNS = ("n", "correct_refusal", "false_refusal")
# narrow headers so the terminal table fits 80 columns
SHORT = {"hit_at_5": "hit@5", "answer_accuracy": "acc (any part)", "accuracy_strict": "acc strict",
         "wrong_among_answered": "wrong/answered", "answered_wrong": "wrong", "correct_refusal": "ok refusal",
         "false_refusal": "false refusal", "token_f1": "F1", "faithfulness_raw": "faith raw",
         "faithfulness": "faith", "refused_share": "refused", "latency_p50_ms": "p50 ms",
         "balanced_accuracy": "bal. acc", "false_support_rate": "false supp",
         "false_reject_rate": "false rej"}


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3f}"
    return str(v)


# --------------------------------------------------------------------------------------------------
# terminal
# --------------------------------------------------------------------------------------------------


def make_console(stderr: bool = False):
    """A rich console; 120 columns when output is a file or pipe (rich would assume 80 and wrap)."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 120)


def print_tables(result: dict[str, Any], console=None) -> None:
    from rich.table import Table

    console = console or make_console()
    m, x = result["metrics"], result.get("metrics_extra", {})
    model = f" ({result['model']})" if result.get("model") else ""
    title = f"{result['dataset']} · {result['backend']}{model} · n={result['n']}"
    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for name, _ in HEADLINE:
        t.add_row(name, fmt(m.get(name)))
    for name in EXTRA:
        if x.get(name) is not None:
            t.add_row(f"[dim]{name}[/dim]", fmt(x.get(name)))
    console.print(t)
    origin = m.get("origin") or {}
    if origin:
        o = Table(title="who answered: outcome per origin", header_style="bold")
        o.add_column("origin")
        for col in ORIGIN_COLUMNS:
            o.add_column(SHORT.get(col, col), justify="right")
        for name, row in origin.items():
            o.add_row(name, *(fmt(row.get(c)) for c in ORIGIN_COLUMNS))
        console.print(o)
    refusals = m.get("refusals") or {}
    if refusals:
        o = Table(title="why it refused: outcome per reason", header_style="bold")
        for col in ("reason", *REFUSAL_COLUMNS):
            o.add_column(SHORT.get(col, col), justify="left" if col == "reason" else "right")
        for name, row in refusals.items():
            o.add_row(name, *(fmt(row.get(c)) for c in REFUSAL_COLUMNS))
        console.print(o)

    sm = x.get("support_meta")
    if sm:
        s = Table(title=f"support scorer meta-eval: n={sm['n']}, threshold {fmt(sm.get('threshold'))}",
                  header_style="bold")
        for col in META_COLUMNS:
            s.add_column(SHORT.get(col, col), justify="right")
        s.add_row(*(fmt(sm.get(c)) for c in META_COLUMNS))
        console.print(s)

    cats = x.get("per_category") or {}
    if cats:
        c = Table(title="per category", header_style="bold")
        c.add_column("category", no_wrap=True)
        for col in CATEGORY_COLUMNS:
            c.add_column(SHORT.get(col, col), justify="right")
        for name, row in cats.items():
            c.add_row(name, *(fmt(row.get(col)) for col in CATEGORY_COLUMNS))
        console.print(c)


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _failures(items: list[dict[str, Any]], limit: int = 25) -> list[str]:
    """Short lines for the items that went wrong, worst kinds first."""
    lines: list[str] = []
    for rec in items:
        s = rec.get("scores", {})
        q = rec["question"].replace("|", "/")
        ans = (rec.get("answer") or "").replace("\n", " ")[:160]
        if rec.get("error"):
            lines.append(f"- **error** `{rec['id']}` {q} — {rec['error']}")
        elif not rec["answerable"] and not rec["refused"]:
            lines.append(f"- **answered an unanswerable question** `{rec['id']}` ({rec['category']}) "
                         f"{q} → {ans}")
        elif rec["answerable"] and rec["refused"]:
            lines.append(f"- **false refusal** `{rec['id']}` ({rec['category']}) {q} "
                         f"(hit@5={fmt(s.get('hit_at_5'))}; {'; '.join(rec.get('notes', []))[:160]})")
        elif rec["answerable"] and s.get("partial"):
            lines.append(f"- **partial answer** `{rec['id']}` ({rec['category']}) {q} → {ans} "
                         f"(needs all of: {' + '.join('/'.join(g[:2]) for g in rec.get('required', []))})")
        elif rec["answerable"] and s.get("correct_strict") is False:
            lines.append(f"- **wrong answer** `{rec['id']}` ({rec['category']}) {q} → {ans} "
                         f"(gold: {' / '.join(rec['gold_answers'][:2])})")
        elif s.get("faithfulness") is not None and s["faithfulness"] < 1:
            lines.append(f"- **unsupported sentence** `{rec['id']}` {q} → {ans}")
    return lines[:limit] + ([f"- … {len(lines) - limit} more"] if len(lines) > limit else [])


def markdown(result: dict[str, Any], chart_name: str | None = None) -> str:
    m, x = result["metrics"], result.get("metrics_extra", {})
    parts = [
        f"# Eval report: {result['dataset']} · {result['backend']}",
        "",
        f"- model: {result.get('model') or '–'}",
        f"- questions: {result['n']}" + (f" (limit {result['limit']}, seed {result['seed']})"
                                        if result.get("limit") else ""),
        f"- run: {result.get('started', '')}, {result.get('seconds', 0):.0f} s; "
        f"commit {result.get('commit') or '–'}",
        "",
        f"- split: {result.get('split', 'all')} (eval/splits.json: questions of the dev or test articles)",
        "",
        "## Metrics",
        "",
        "Accuracy is strict: every part a complete answer must contain (`required` groups) present and not "
        "refused; `answer_accuracy` is the old, lenient figure (any gold part). `wrong_among_answered` is "
        "the share of given answers that are wrong or incomplete (any answer to an unanswerable question "
        "counts as wrong). `attribution_rate`: of the correct answers, the share whose cited sentences "
        "include the gold evidence holding every required part (checked against the gold data, not by "
        "the product's scorer). "
        "Faithfulness is the share of answer sentences the support scorer finds supported by the passages "
        "they cite; `faithfulness_raw` scores the generation *before* verification against the evidence "
        "it cited. Hallucination rate = 1 − faithfulness.",
        "",
        _md_table(["metric", "value"], [[k, fmt(m.get(k))] for k, _ in HEADLINE]
                  + [[k, fmt(x.get(k))] for k in EXTRA if x.get(k) is not None]),
    ]
    origin = m.get("origin") or {}
    if origin:
        parts += ["", "## Who answered", "",
                  "Outcomes by the origin of the text: `model` (the LLM's own wording, verified), `recited` "
                  "(its wording with a citation moved by verification), `quote` (the LLM's answer failed "
                  "verification and the best evidence sentence was quoted instead), `extractive`, `refusal`.",
                  "", _md_table(["origin", *ORIGIN_COLUMNS],
                                [[k, *(fmt(v.get(c)) for c in ORIGIN_COLUMNS)] for k, v in origin.items()])]
    refusals = m.get("refusals") or {}
    if refusals:
        parts += ["", "## Why it refused", "",
                  "Refusals by the reason given to the reader (`Answer.refusal.kind`, rag/answer/refusal.py): "
                  "a `false_refusal` is a question the articles answer.",
                  "", _md_table(["reason", *REFUSAL_COLUMNS],
                                [[k, *(fmt(v.get(c)) for c in REFUSAL_COLUMNS)] for k, v in refusals.items()])]
    sm = x.get("support_meta")
    if sm:
        parts += ["", "## Support scorer meta-eval", "",
                  f"The scorer behind faithfulness and citation metrics, checked against {sm['n']} labelled "
                  f"claim/passage pairs (`{sm.get('file', '')}`), threshold {fmt(sm.get('threshold'))}:", "",
                  _md_table(["balanced accuracy", "precision", "TPR", "TNR", "false support", "false reject"],
                            [[fmt(sm.get(k)) for k in ("balanced_accuracy", "precision", "tpr", "tnr",
                                                       "false_support_rate", "false_reject_rate")]])]
        if sm.get("per_kind"):
            parts += ["", _md_table(["kind", "gold label", "n", "accuracy"],
                                    [[k, v["label"], str(v["n"]), fmt(v["accuracy"])]
                                     for k, v in sm["per_kind"].items()])]
    cats = x.get("per_category") or {}
    if cats:
        parts += ["", "## Per category", "",
                  _md_table(["category", *CATEGORY_COLUMNS],
                            [[k, *(fmt(v.get(c)) for c in CATEGORY_COLUMNS)] for k, v in cats.items()])]
    if chart_name:
        parts += ["", f"![metrics]({chart_name})"]
    fails = _failures(result.get("items", []))
    if fails:
        parts += ["", "## What went wrong", "", *fails]
    return "\n".join(parts) + "\n"


def _other_reports(report_dir: Path, dataset: str) -> dict[str, dict[str, Any]]:
    """Headline metrics of sibling reports (eval/reports/*/report.json) on the same dataset, by backend."""
    out: dict[str, dict[str, Any]] = {}
    parent = report_dir.resolve().parent
    for f in sorted(parent.glob("*/report.json")):
        if f.parent.resolve() == report_dir.resolve():
            continue
        try:
            r = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if r.get("dataset") == dataset and isinstance(r.get("metrics"), dict):
            extra = {k: v for k, v in (r.get("metrics_extra") or {}).items() if isinstance(v, (int, float))}
            label = str(r.get("backend"))
            if f.parent.name != label:
                label += f" ({f.parent.name})"
            out[label] = {**extra, **r["metrics"]}
    return out


def chart(result: dict[str, Any], path: Path, others: dict[str, dict[str, Any]] | None = None) -> Path:
    """Grouped bars: key metrics per category; a second panel per backend when other reports exist."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cats = result.get("metrics_extra", {}).get("per_category") or {}
    panels = 2 if others else 1
    fig, axes = plt.subplots(panels, 1, figsize=(max(8, 1.1 * len(cats) + 3), 4.2 * panels), squeeze=False)

    def bars(ax, groups: dict[str, dict[str, Any]], title: str) -> None:
        names = list(groups)
        x = np.arange(len(names))
        width = 0.8 / len(CHART_METRICS)
        for i, metric in enumerate(CHART_METRICS):
            vals = [groups[g].get(metric) for g in names]
            ax.bar(x + (i - (len(CHART_METRICS) - 1) / 2) * width, [np.nan if v is None else v for v in vals],
                   width, label=metric)
        ax.set_xticks(x, names, rotation=25, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)

    overall = {"all": {**result["metrics"], **{k: v for k, v in result.get("metrics_extra", {}).items()
                                               if isinstance(v, (int, float))}}}
    bars(axes[0][0], {**overall, **cats}, f"{result['dataset']} · {result['backend']}: metrics per category")
    axes[0][0].legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    if others:
        groups = {result["backend"] + " (this run)": overall["all"], **others}
        bars(axes[1][0], groups, f"{result['dataset']}: metrics per backend (eval/reports/*)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(result: dict[str, Any], report_dir: str | Path) -> list[Path]:
    """``report.json`` (the full result), ``chart.png`` and ``report.md`` in ``report_dir``."""
    d = Path(report_dir)
    d.mkdir(parents=True, exist_ok=True)
    js = d / "report.json"
    js.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    png = chart(result, d / "chart.png", _other_reports(d, result["dataset"]))
    md = d / "report.md"
    md.write_text(markdown(result, png.name), encoding="utf-8")
    return [md, js, png]
