"""Tables of the onset experiments, as terminal text, Markdown and HTML rows."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence


def interval(estimate: dict, percent: bool = False) -> str:
    mean, low, high = estimate["mean"], estimate["low"], estimate["high"]
    if mean is None or not math.isfinite(mean):
        return "-"
    if percent:
        return f"{mean:.1%} [{low:.1%}, {high:.1%}]"
    return f"{mean:.1f} [{low:.1f}, {high:.1f}]"


CONDITION_HEADER = (
    "condition",
    "prompts",
    "safety-phase rate",
    "onset delay (tokens)",
    "phase duration (tokens)",
)
CROSS_CHECK_KEY = "transition_probability_cross_check"


def condition_header(metrics: dict) -> tuple[str, ...]:
    """Return CONDITION_HEADER, plus a column for the cross-check scorer's rate if the run has one."""
    scorer = metrics.get("cross_check_scorer")
    return CONDITION_HEADER if scorer is None else (*CONDITION_HEADER, f"rate, {scorer} scorer")


def condition_rows(metrics: dict) -> list[tuple[str, ...]]:
    """Build one row per condition: rate, onset delay and phase duration with 95% intervals,
    and the cross-check scorer's rate when the run has one."""
    rows: list[tuple[str, ...]] = []
    for name, summary in metrics.get("conditions", {}).items():
        row: tuple[str, ...] = (
            name,
            summary["group"],
            interval(summary["transition_probability"], percent=True),
            interval(summary["onset_delay"]),
            interval(summary["phase_duration"]),
        )
        if metrics.get("cross_check_scorer") is not None:
            row += (interval(summary[CROSS_CHECK_KEY], percent=True),)
        rows.append(row)
    return rows


CURVE_HEADER = ("features clamped to 0", "top onset features", "random features")


def suppression_curve_rows(metrics: dict) -> list[tuple[str, str, str]]:
    """Build one row per size of the suppression curve: the rate on harmful prompts with the
    top onset features clamped to 0, and with a random set of as many features."""
    curve = metrics.get("suppression_curve")
    if not curve:
        return []
    chosen = curve["features"]["transition_probability"]
    random = curve["random"]["transition_probability"]
    return [
        (
            str(size),
            interval(own, percent=True),
            "-" if other is None else interval(other, percent=True),
        )
        for size, own, other in zip(curve["sizes"], chosen, random, strict=True)
    ]


def target_rows(metrics: dict) -> list[tuple[str, str, str]]:
    targets = metrics.get("summary", {}).get("targets", {})
    return [(name, t["goal"], "met" if t["met"] else "not met") for name, t in targets.items()]


def fit_rows(metrics: dict) -> list[tuple[str, str, str]]:
    rows = []
    for name, curve in metrics.get("dose_response", {}).items():
        fit = curve["fit"]
        low, high = fit["critical_strength_ci"]
        centre = fit["critical_strength"]
        shown = "-" if not math.isfinite(centre) else f"{centre:.2f} [{low:.2f}, {high:.2f}]"
        width = "-" if not math.isfinite(fit["width"]) else f"{fit['width']:.2f}"
        rows.append((name, shown + (f" ({fit['note']})" if fit["note"] else ""), width))
    return rows


def text_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    everything = [header, *rows]
    widths = [max(len(row[i]) for row in everything) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in everything
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_experiment(metrics: dict) -> str:
    """Format the terminal summary of an `attribute` or `steer` run."""
    shares = metrics["attribution"]["attribution_share"]
    source = metrics.get("features_source", "attribution")
    parts = [f"Clamped features from: {source}"] if source != "attribution" else []
    parts += [
        f"Attribution share of the top {metrics['attribution']['k']} features (this run's "
        "ranking): "
        f"attribution {shares['attribution_top_k']:.2f}, activation difference "
        f"{shares['activation_difference_top_k']:.2f}, random {shares['random_k_mean']:.4f}"
    ]
    direction = metrics.get("refusal_direction")
    if direction:
        projection = direction["mean_projection"]
        parts.append(
            f"Refusal direction at {direction['hook_name']}: norm {direction['norm']:.2f}, mean "
            f"projection {projection['harmful']:.2f} on harmful and {projection['benign']:.2f} "
            "on benign prompts (ablation sets it to 0)"
        )
        split = direction.get("gap_split")
        if split:
            parts.append(
                f"Of the gap of {split['gap']:.2f} between them, SAE features that rise on "
                f"harmful prompts carry {split['raised']:.2f}, features that fall carry "
                f"{split['lowered']:.2f} and the error term {split['error']:.2f}. With the "
                f"clamped features zeroed, harmful prompts project to "
                f"{split['harmful_projection_zeroed']:.2f}; with all {split['n_raised']} rising "
                f"features zeroed, to {split['harmful_projection_all_raised_zeroed']:.2f}"
            )
        zeroed = direction.get("all_raised_zeroed")
        if zeroed:
            parts.append(
                f"Zeroing all {zeroed['n_features']} rising features leaves "
                f"{zeroed['transition_probability']:.1%} of harmful prompts with a safety phase "
                f"(condition {zeroed['condition']})"
            )
    if "conditions" in metrics:
        parts.append(text_table(condition_header(metrics), condition_rows(metrics)))
        parts.append(text_table(("dose-response", "critical strength", "width"), fit_rows(metrics)))
        if "suppression_curve" in metrics:
            parts.append(text_table(CURVE_HEADER, suppression_curve_rows(metrics)))
        parts.append(text_table(("target", "goal", "result"), target_rows(metrics)))
    return "\n\n".join(parts)


def markdown_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(row) + " |" for row in rows],
    ]


def html_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def experiment_tables(
    metrics: dict,
) -> list[tuple[str, tuple[str, ...], Sequence[tuple[str, ...]]]]:
    """(title, header, rows) of every table of a steer run, in report order."""
    scorer = metrics.get("cross_check_scorer")
    title = "Conditions (95% intervals over prompts and seeds)"
    if scorer is not None:
        title = f"Conditions (95% intervals over prompts and seeds; last column: {scorer} scorer)"
    tables: list[tuple[str, tuple[str, ...], Sequence[tuple[str, ...]]]] = [
        (
            title,
            condition_header(metrics),
            condition_rows(metrics),
        ),
        ("Dose-response fits", ("curve", "critical strength", "width"), fit_rows(metrics)),
    ]
    if "suppression_curve" in metrics:
        tables.append(
            (
                "Suppression curve (harmful prompts, 95% intervals)",
                CURVE_HEADER,
                suppression_curve_rows(metrics),
            )
        )
    tables.append(("Targets", ("target", "goal", "result"), target_rows(metrics)))
    return tables
