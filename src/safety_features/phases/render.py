"""Phase outputs: JSONL records, an HTML view with tokens coloured by phase, and score plots.

All model text goes through html.escape before it reaches the HTML page.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from safety_features.files import write_text_atomic
from safety_features.phases.detect import PhaseResult
from safety_features.plotting import pyplot, save_figure

PALETTE = ("#f4a3a3", "#f7d08a", "#a8d5a2", "#d7b4f3", "#9cc9f2", "#f2b8d8", "#c9c9a0")
ONSET_MARK = "▶"


def concept_colours(concepts: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(concepts)}


def write_jsonl(
    path: str | Path, results: Sequence[PhaseResult], extra: Sequence[dict] | None = None
) -> None:
    """Write one record per result; `extra` adds fields (such as a prompt group) per record."""
    lines = []
    for index, result in enumerate(results):
        record = result.to_record()
        if extra is not None:
            record.update(extra[index])
        lines.append(json.dumps(record, ensure_ascii=False))
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))


def response_html(result: PhaseResult, colours: dict[str, str]) -> str:
    """Render one response as HTML: every token a span coloured by its phase, onsets marked."""
    onsets = {e.token_index: e.concept for e in result.segmentation.emergences}
    labels = result.segmentation.labels
    parts = []
    for index, (start, end) in enumerate(result.tokens.char_spans):
        token = html.escape(result.text[start:end])
        concept = labels[index]
        title = "; ".join(
            f"{name} {result.scores[index, column]:.2f}"
            for column, name in enumerate(result.concepts)
        )
        if index in onsets:
            parts.append(
                f'<span class="onset" title="onset of {html.escape(onsets[index])}">'
                f"{ONSET_MARK}</span>"
            )
        style = f' style="background:{colours[concept]}"' if concept else ""
        parts.append(f'<span class="tok"{style} title="{html.escape(title)}">{token}</span>')
    return "".join(parts)


def results_html(
    results: Sequence[PhaseResult], title: str, captions: Sequence[str] | None = None
) -> str:
    """Render a complete HTML page of `results`, with a legend of the concept colours."""
    concepts = results[0].concepts if results else ()
    colours = concept_colours(concepts)
    legend = " ".join(
        f'<span class="tok" style="background:{colour}">{html.escape(name)}</span>'
        for name, colour in colours.items()
    )
    rows = []
    for index, result in enumerate(results):
        caption = html.escape(captions[index]) if captions else html.escape(str(result.id))
        prompt = html.escape(result.prompt or "")
        phases = (
            ", ".join(
                f"{html.escape(p.concept)} [{p.token_start}, {p.token_end})"
                for p in result.segmentation.phases
            )
            or "none"
        )
        transitions = (
            ", ".join(
                f"{html.escape(t.from_concept)} → {html.escape(t.to_concept)} at token {t.token_index}"
                for t in result.segmentation.transitions
            )
            or "none"
        )
        rows.append(
            f'<div class="item"><div class="caption">{caption}</div>'
            f'<div class="prompt">{prompt}</div>'
            f'<div class="response">{response_html(result, colours)}</div>'
            f'<div class="meta">phases: {phases}; transitions: {transitions}</div></div>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Concepts: {legend}. "
        f"{ONSET_MARK} marks an onset; hover a token for its scores.</p>"
        + "".join(rows)
        + "</body></html>\n"
    )


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; }
.item { border-bottom: 1px solid #ddd; padding: 0.6rem 0; }
.caption { font-size: 0.8rem; color: #555; }
.prompt { color: #333; font-style: italic; margin: 0.2rem 0; white-space: pre-wrap; }
.response { font-family: ui-monospace, monospace; white-space: pre-wrap; line-height: 1.6; }
.tok { border-radius: 2px; }
.onset { color: #b00020; font-weight: bold; }
.meta { font-size: 0.8rem; color: #555; }
"""


def write_html(path: str | Path, results: Sequence[PhaseResult], title: str, captions=None) -> None:
    write_text_atomic(path, results_html(results, title, captions))


def plot_scores(
    path: str | Path, result: PhaseResult, thresholds: dict[str, float] | None = None
) -> None:
    """Save a PNG of the per-token scores of one response, phases shaded, onsets marked."""
    plt = pyplot()
    colours = concept_colours(result.concepts)
    figure, axis = plt.subplots(figsize=(10, 3.2))
    positions = range(len(result.tokens))
    for column, name in enumerate(result.concepts):
        axis.plot(positions, result.scores[:, column], label=name, color=colours[name], linewidth=2)
        if thresholds and name in thresholds:
            axis.axhline(thresholds[name], color=colours[name], linestyle=":", linewidth=1)
    for phase in result.segmentation.phases:
        axis.axvspan(
            phase.token_start - 0.5, phase.token_end - 0.5, color=colours[phase.concept], alpha=0.2
        )
    for emergence in result.segmentation.emergences:
        axis.axvline(emergence.token_index - 0.5, color="black", linestyle="--", linewidth=1)
    axis.set_xlabel("response token")
    axis.set_ylabel("score")
    axis.set_title(f"Phase scores of response {result.id}")
    axis.legend(loc="upper left", fontsize=8, ncol=len(result.concepts))
    save_figure(figure, path)
