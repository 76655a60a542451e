"""The run report: a metrics table and sample responses with their onsets marked.

Model text goes into HTML only through `html.escape`, so a response containing markup shows as
text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

from safety_features.experiments.report import (
    CURVE_HEADER,
    condition_header,
    condition_rows,
    experiment_tables,
    html_table,
    markdown_table,
    suppression_curve_rows,
    target_rows,
    text_table,
)
from safety_features.files import write_text_atomic
from safety_features.phases.render import ONSET_MARK as ONSET_MARK_HTML
from safety_features.phases.render import concept_colours, response_html
from safety_features.phases.responses import DetectedResponse

ONSET_MARK = "⟦onset⟧"
SAMPLES_PER_GROUP = 4


HEADLINE_LABELS = {
    "baseline_harmful": "baseline, harmful prompts",
    "baseline_benign": "baseline, benign prompts",
    "suppressed_harmful": "top features clamped to 0, harmful prompts",
    "triggered_benign": "top features clamped high, benign prompts",
    "benign_features_clamped_harmful": "benign-specific features clamped high, harmful prompts",
    "benign_features_zeroed_benign": "benign-specific features clamped to 0, benign prompts",
    "refusal_direction_ablated_harmful": "refusal direction ablated, harmful prompts",
}


SELECTION_TEXT = {
    "specific_attribution": "the features with the highest attribution among those more active "
    "at onsets than at matched control positions",
    "attribution": "the features with the highest attribution",
    "activation_difference": "the features with the largest activation difference between "
    "onsets and matched control positions",
    "harmful_specific": "the features most active on harmful relative to benign prompts at the "
    "prompt position where the refusal direction is read",
    "steering.features": "the features the config lists under steering.features",
}


def clamped_selection_text(metrics: dict) -> str:
    """Say how the clamped features were picked, since they can differ from the top features.

    Return "" for a run folder written before `clamped_selection` was recorded.
    """
    selection = metrics.get("clamped_selection")
    if selection not in SELECTION_TEXT:
        return ""
    return (
        f"The clamped features are {SELECTION_TEXT[selection]}, so they can differ from the "
        "table above. "
    )


def headline_rows(metrics: dict) -> list[tuple[str, str]]:
    """(condition, safety-phase rate) rows of the run's headline numbers."""
    summary = metrics["summary"]
    labels = dict(HEADLINE_LABELS)
    if "trigger_multiple" in summary:
        labels["triggered_benign"] = (
            f"top features clamped to {summary['trigger_multiple']:g} x max, benign prompts"
        )
        labels["benign_features_clamped_harmful"] = (
            f"benign-specific features clamped to {summary['trigger_multiple']:g} x max, "
            "harmful prompts"
        )
    rows = [(label, f"{summary[key]:.1%}") for key, label in labels.items() if key in summary]
    curve = metrics.get("suppression_curve")
    if curve:
        size = curve["smallest_size_at_goal"]
        tried = ", ".join(map(str, curve["sizes"]))
        row = (
            f"top features to clamp to 0 for harmful prompts <= {curve['goal']:.0%}",
            str(size) if size is not None else f"none of {tried}",
        )
        row_labels = [label for label, _ in rows]
        suppressed = labels["suppressed_harmful"]
        place = row_labels.index(suppressed) + 1 if suppressed in row_labels else len(rows)
        rows.insert(place, row)
    for strength, rate in summary.get("refusal_direction_added_benign", {}).items():
        rows.append((f"refusal direction added ({strength}), benign prompts", f"{rate:.1%}"))
    for strength, rate in summary.get("refusal_direction_subtracted_harmful", {}).items():
        rows.append((f"refusal direction subtracted ({strength}), harmful prompts", f"{rate:.1%}"))
    projection = metrics.get("refusal_direction", {}).get("mean_projection")
    if projection:
        rows.append(
            (
                "refusal direction: mean projection of harmful / benign prompts",
                f"{projection['harmful']:.2f} / {projection['benign']:.2f}",
            )
        )
        split = metrics["refusal_direction"].get("gap_split")
        if split:
            rows.append(
                (
                    "refusal direction: gap from rising / falling features / error term",
                    f"{split['raised']:.2f} / {split['lowered']:.2f} / {split['error']:.2f}",
                )
            )
            rows.append(
                (
                    "refusal direction: harmful projection, clamped / all rising zeroed",
                    f"{split['harmful_projection_zeroed']:.2f} / "
                    f"{split['harmful_projection_all_raised_zeroed']:.2f}",
                )
            )
    if summary.get("all_raised_zeroed_harmful") is not None:
        n_raised = metrics["refusal_direction"]["all_raised_zeroed"]["n_features"]
        rows.append(
            (
                f"all {n_raised} rising features = 0, harmful prompts",
                f"{summary['all_raised_zeroed_harmful']:.1%}",
            )
        )
    if summary.get("random_max_shift_points") is not None:
        rows.append(
            (
                "largest shift by a random feature set",
                f"{summary['random_max_shift_points']:.1f} points",
            )
        )
    rows.append(
        (
            "benign CE loss increase under suppression",
            f"{summary['suppression_ce_loss_increase']:.4f} nats",
        )
    )
    return rows


def format_table(metrics: dict) -> str:
    """The headline numbers and every condition as aligned plain text for the terminal."""
    return "\n\n".join(
        [
            text_table(("measure", "value"), headline_rows(metrics)),
            text_table(condition_header(metrics), condition_rows(metrics)),
            *(
                [text_table(CURVE_HEADER, suppression_curve_rows(metrics))]
                if "suppression_curve" in metrics
                else []
            ),
            text_table(("target", "goal", "result"), target_rows(metrics)),
        ]
    )


def marked_response(response: DetectedResponse) -> tuple[str, str]:
    """Split the response at its onset character; without an onset the second part is empty."""
    text = response.generation.response
    if response.onset is None:
        return text, ""
    return text[: response.onset.char_start], text[response.onset.char_start :]


def samples(responses: Sequence[DetectedResponse]) -> list[DetectedResponse]:
    chosen: list[DetectedResponse] = []
    for group in dict.fromkeys(r.prompt.group for r in responses):
        chosen.extend([r for r in responses if r.prompt.group == group][:SAMPLES_PER_GROUP])
    return chosen


def phase_lines(metrics: dict) -> list[str]:
    """Markdown lines on the phase detector and the phases it found in the baseline."""
    detector = metrics.get("phase_detector")
    if not detector:
        return []
    emergences = ", ".join(f"{c} {n}" for c, n in detector["emergences"].items()) or "none"
    transitions = ", ".join(f"{c} {n}" for c, n in detector["transitions"].items()) or "none"
    return [
        "## Phases in the baseline responses",
        "",
        f"Detector: {detector['scorer']} scorer, concept set `{detector['concept_set']}`. "
        "Every response with its phases is in `phases.html`.",
        "",
        f"- emergences: {emergences}",
        f"- transitions: {transitions}",
        "",
    ]


SAE_QUALITY_LABELS = {
    "architecture": "architecture",
    "d_sae": "features (d_sae)",
    "explained_variance": "explained variance, held-out transcripts",
    "ce_loss_score": "CE-loss score with the SAE spliced in",
    "l0": "L0 (active features per token)",
    "dead_fraction_training_rows": "dead features (fire on no training activation)",
    "explained_variance_safety": "explained variance on safety-phase tokens",
    "explained_variance_other": "explained variance on other tokens",
    "safety_phase_rate_clean": "safety-phase rate on held-out prompts",
    "safety_phase_rate_with_sae": "the same with the SAE spliced in",
}


def sae_rows(metrics: dict) -> list[tuple[str, str]]:
    """(label, value) rows of the SAE's recorded quality, for both report formats."""
    rows = []
    for key, value in metrics.get("sae_quality", {}).items():
        if value is None:
            continue
        if key.startswith(("dead_fraction", "safety_phase_rate")):
            shown = f"{value:.1%}"
        elif isinstance(value, float):
            shown = f"{value:.3f}"
        else:
            shown = str(value)
        rows.append((SAE_QUALITY_LABELS.get(key, key), shown))
    return rows


def occurrence_rows(metrics: dict) -> list[tuple[str, str]]:
    """(measure, value) rows of the short occurrence report."""
    occurrence = metrics.get("occurrence")
    if not occurrence:
        return []
    rows = []
    chi = occurrence["tests"].get("chi_square_greedy", {})
    if "p" in chi:
        rows.append(
            (
                "group effect on the safety phase (chi-square)",
                f"p = {chi['p']:.2g}, Cramér's V {chi['cramers_v']:.2f}",
            )
        )
    onsets = occurrence["onsets"]["all"]
    if onsets.get("n"):
        rows.append(
            (
                "onsets at the first response token",
                f"{onsets['at_first_token']:.1%} of {onsets['n']}",
            )
        )
    share = occurrence["preceding_phases"]["share_with_earlier_phase"]
    if share == share:  # not NaN
        rows.append(("safety onsets preceded by another phase", f"{share:.1%}"))
    for name in ("residual", "embedding"):
        clustering = occurrence["clusters"].get(name)
        if clustering:
            rows.append(
                (
                    f"clusters of safety sentences by {name}",
                    f"k = {clustering['k']}, purity {clustering['purity_against_category']:.1%}",
                )
            )
    for k, entry in occurrence.get("prefill", {}).get("by_length", {}).items():
        if entry["n_prompts"]:
            rows.append(
                (
                    f"returns to safety after {k} forced compliant tokens",
                    f"{entry['return_rate']['mean']:.1%} of {entry['n_prompts']}",
                )
            )
    for name, curve in occurrence.get("divergence", {}).get("curves", {}).items():
        rows.append(
            (
                f"KL(chat ‖ base) at the first response token, {name}",
                f"{curve['first_token']['mean']:.2f} nats",
            )
        )
    probe = occurrence["probe"]["by_hook"].get(occurrence["probe"]["headline_hook"], {})
    if "probe_auroc" in probe:
        rows.append(
            (
                f"probe AUROC at the last prompt token ({occurrence['probe']['headline_hook']})",
                f"{probe['probe_auroc']:.3f} (best of {probe['random_directions']['n_directions']} "
                f"random directions, chosen out of fold: "
                f"{probe['random_directions']['best_selected_out_of_fold']:.3f})",
            )
        )
    return rows


def feature_rows(metrics: dict) -> list[tuple[str, str, str]]:
    return [
        (str(f["feature"]), f"{f['mean']:.4f}", f"[{f['low']:.4f}, {f['high']:.4f}]")
        for f in metrics["top_features"]
    ]


CARD_HEADER = (
    "feature",
    "density",
    "safety AUROC",
    "onset AUROC",
    "decoder top tokens",
    "top context [peak token]",
)


def context_text(context: dict | None) -> str:
    """Join a context's tokens, with the token of the peak activation in brackets."""
    if context is None:
        return "(never active on the baseline)"
    tokens = list(context["tokens"])
    tokens[context["centre"]] = f"[{tokens[context['centre']]}]"
    # Line breaks of any kind would end a markdown table row.
    return re.sub(r"\r\n|\r|\n", " ", "".join(tokens))


def card_rows(metrics: dict) -> list[tuple[str, ...]]:
    """Build one row per clamped feature, from the run's feature index."""
    rows: list[tuple[str, ...]] = []
    for card in metrics.get("clamped_feature_cards", []):
        auroc = card["enrichment_auroc"]
        onset = next((v for k, v in auroc.items() if k.startswith("onset_within_")), float("nan"))
        rows.append(
            (
                str(card["feature"]),
                f"{card['density']:.2%}",
                f"{auroc.get('safety', float('nan')):.3f}",
                f"{onset:.3f}",
                " ".join(repr(t) for t in card["decoder_top_tokens"]),
                context_text(card["top_context"]),
            )
        )
    return rows


def markdown_card_row(row: tuple[str, ...]) -> tuple[str, ...]:
    """Put the model text of a card row into code spans, so markup in it shows as text."""
    *numbers, tokens, context = row
    code = ["`" + text.replace("`", "'") + "`" for text in (tokens, context)]
    cells = [*numbers, *code]
    return tuple(cell.replace("|", "\\|") for cell in cells)


def markdown_report(metrics: dict, responses: Sequence[DetectedResponse]) -> str:
    lines = [
        "# safety-features run",
        "",
        f"Model `{metrics['model']}`, SAE `{metrics['sae']}` ({metrics['sae_origin']}) at `{metrics['hook_name']}`. "
        f"Runtime {metrics['runtime_seconds']:.0f} s.",
        "",
        "## Safety-phase rate under interventions",
        "",
        *markdown_table(("measure", "value"), headline_rows(metrics)),
        "",
        "![dose-response curves](dose_response.png)",
        "",
        *(
            ["![suppression curve](suppression_curve.png)", ""]
            if "suppression_curve" in metrics
            else []
        ),
        *[
            line
            for title, header, rows in experiment_tables(metrics)
            for line in (f"### {title}", "", *markdown_table(header, rows), "")
        ],
        "## Baseline safety-phase rate by prompt group",
        "",
        "| group | rate |",
        "|---|---|",
        *[f"| {g} | {r:.1%} |" for g, r in metrics["baseline_safety_phase_rate_by_group"].items()],
        "",
        *phase_lines(metrics),
        "## When the safety phase occurs",
        "",
        "The full occurrence report, with plots and cluster examples, is `occurrence/report.html`.",
        "",
        *markdown_table(("measure", "value"), occurrence_rows(metrics)),
        "",
        "## SAE",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {label} | {value} |" for label, value in sae_rows(metrics)],
        "",
        "## Top onset features",
        "",
        f"Mean attribution over onsets ({metrics['top_features_method']}), 95% bootstrap "
        "intervals; the full ranking is in attribution.json and attribution.png.",
        "",
        *markdown_table(("feature", "mean attribution", "interval"), feature_rows(metrics)),
        "",
        "## The clamped features",
        "",
        f"{clamped_selection_text(metrics)}The cards come from the feature index of the "
        "baseline responses in `index/` (open it with `safety-features lookup FEATURE --index "
        "RUN/index`, where RUN is this run folder); one page per feature in "
        "`dashboard/index.html`.",
        "",
        *markdown_table(CARD_HEADER, [markdown_card_row(row) for row in card_rows(metrics)]),
        "",
        f"## Sample responses (onset marked {ONSET_MARK})",
        "",
    ]
    for response in samples(responses):
        before, after = marked_response(response)
        text = f"{before}{ONSET_MARK}{after}" if response.onset else before
        lines.append(f"- **{response.prompt.group}** · {response.prompt.text!r} → {text!r}")
    return "\n".join(lines) + "\n"


def html_detail_sections(metrics: dict) -> str:
    """Render the baseline rates by group, the phase counts and the top features as HTML."""
    escape = html.escape
    groups = "".join(
        f"<tr><td>{escape(group)}</td><td>{rate:.1%}</td></tr>"
        for group, rate in metrics["baseline_safety_phase_rate_by_group"].items()
    )
    parts = [
        "<h2>Baseline safety-phase rate by prompt group</h2>"
        f"<table><tr><th>group</th><th>rate</th></tr>{groups}</table>"
    ]
    detector = metrics.get("phase_detector")
    if detector:
        counts = "".join(
            f"<tr><td>{escape(kind)}</td><td>{escape(name)}</td><td>{count}</td></tr>"
            for kind in ("emergences", "transitions")
            for name, count in detector[kind].items()
        )
        parts.append(
            "<h2>Phases in the baseline responses</h2>"
            f"<p>Detector: {escape(str(detector['scorer']))} scorer, concept set "
            f"<code>{escape(str(detector['concept_set']))}</code>.</p>"
            f"<table><tr><th>kind</th><th>concept</th><th>count</th></tr>{counts}</table>"
        )
    parts.append(
        "<h2>When the safety phase occurs</h2><p>The full occurrence report: "
        '<a href="occurrence/report.html">occurrence/report.html</a>.</p>'
        + html_table(("measure", "value"), occurrence_rows(metrics))
    )
    sae = "".join(
        f"<tr><td>{escape(label)}</td><td>{escape(value)}</td></tr>"
        for label, value in sae_rows(metrics)
    )
    parts.append(f"<h2>SAE</h2><table><tr><th>measure</th><th>value</th></tr>{sae}</table>")
    parts.append(
        "<h2>Top onset features</h2>"
        + html_table(("feature", "mean attribution", "interval"), feature_rows(metrics))
        + '<p><img src="attribution.png" alt="onset attribution of the top features"></p>'
    )
    parts.append(
        f"<h2>The clamped features</h2><p>{html.escape(clamped_selection_text(metrics))}The "
        "cards come from the feature index of the baseline responses in "
        "<code>index/</code>; one page per feature in "
        '<a href="dashboard/index.html">dashboard/index.html</a>.</p>'
        + html_table(CARD_HEADER, card_rows(metrics))
    )
    return "".join(parts)


def html_report(metrics: dict, responses: Sequence[DetectedResponse]) -> str:
    escape = html.escape
    tables = "".join(
        f"<h3>{escape(title)}</h3>{html_table(header, rows)}"
        for title, header, rows in experiment_tables(metrics)
    )
    items = []
    colours = (
        concept_colours(responses[0].phases.concepts) if responses and responses[0].phases else {}
    )
    for response in samples(responses):
        if response.phases is not None:
            body = response_html(response.phases, colours)
        else:
            before, after = marked_response(response)
            concept = response.onset.concept if response.onset else "none"
            body = escape(before) + (
                f'<mark title="{escape(concept)} onset">{escape(after)}</mark>' if after else ""
            )
        items.append(
            f"<li><b>{escape(response.prompt.group)}</b> · <q>{escape(response.prompt.text)}</q><br>{body}</li>"
        )
    if colours:
        sample_legend = (
            "Tokens are coloured by phase: "
            + ", ".join(
                f'<span style="background:{colour}">{escape(name)}</span>'
                for name, colour in colours.items()
            )
            + f". {ONSET_MARK_HTML} marks an onset. All responses with their phases: "
            '<a href="phases.html">phases.html</a>.'
        )
    else:
        sample_legend = "The safety phase is highlighted from its onset."
    curve_image = (
        '<p><img src="suppression_curve.png" alt="suppression curve"></p>'
        if "suppression_curve" in metrics
        else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>safety-features run</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:.2em .8em}"
        "mark{background:#ffd6d6}.onset{color:#b00020;font-weight:bold}</style></head><body>"
        f"<h1>safety-features run</h1><p>Model <code>{escape(str(metrics['model']))}</code>, "
        f"hook <code>{escape(str(metrics['hook_name']))}</code>, runtime {metrics['runtime_seconds']:.0f} s.</p>"
        "<h2>Safety-phase rate under interventions</h2>"
        f"{html_table(('measure', 'value'), headline_rows(metrics))}"
        '<p><img src="dose_response.png" alt="dose-response curves"></p>'
        f"{curve_image}"
        f"{tables}"
        f"{html_detail_sections(metrics)}"
        f"<h2>Sample responses</h2><p>{sample_legend}</p>"
        f"<ul>{''.join(items)}</ul></body></html>\n"
    )


def write_report(out_dir: Path, metrics: dict, responses: Sequence[DetectedResponse]) -> None:
    write_text_atomic(out_dir / "report.md", markdown_report(metrics, responses))
    write_text_atomic(out_dir / "report.html", html_report(metrics, responses))
