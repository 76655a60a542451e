"""The occurrence report as HTML tables and plots; every piece of model text is HTML-escaped."""

from __future__ import annotations

import html
import math
from pathlib import Path

from safety_features.experiments.report import html_table, interval
from safety_features.files import write_text_atomic


def number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def rate_rows(metrics: dict) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for category, entry in metrics["rates"].items():
        sampled = interval(entry["sampled"], percent=True) if "sampled" in entry else "-"
        rows.append(
            (category, str(entry["n_prompts"]), interval(entry["greedy"], percent=True), sampled)
        )
    return rows


def test_rows(metrics: dict) -> list[tuple[str, ...]]:
    tests = metrics["tests"]
    rows: list[tuple[str, ...]] = []
    chi = tests.get("chi_square_greedy", {})
    if "p" in chi:
        rows.append(
            (
                "chi-square, category x safety phase (greedy)",
                f"chi2 = {chi['chi2']:.2f}, dof {chi['dof']}, Cramér's V {chi['cramers_v']:.2f}",
                number(chi["p"]),
            )
        )
    kruskal = tests.get("kruskal_wallis_sampled")
    if kruskal:
        rows.append(
            (
                "Kruskal-Wallis, per-prompt sampled rates",
                f"H = {kruskal['h']:.2f}",
                number(kruskal["p"]),
            )
        )
    for category, entry in tests.get("each_against_rest_greedy", {}).items():
        rows.append(
            (
                f"Fisher, {category} against the rest (Holm-corrected p)",
                f"odds ratio {number(entry['odds_ratio'], 2)}",
                number(entry["p_holm"]),
            )
        )
    return rows


def cluster_sections(metrics: dict) -> str:
    escape = html.escape
    parts = []
    for name in ("residual", "embedding"):
        clustering = metrics["clusters"].get(name)
        if clustering is None:
            parts.append(f"<h3>{name}</h3><p>Too few safety sentences to cluster.</p>")
            continue
        rows = []
        for number_, cluster in enumerate(clustering["clusters"]):
            categories = ", ".join(f"{escape(c)} {n}" for c, n in cluster["categories"].items())
            examples = "".join(f"<li>{escape(e)}</li>" for e in cluster["examples"])
            rows.append(
                f"<tr><td>{number_}</td><td>{cluster['size']}</td><td>{categories}</td>"
                f"<td><ul>{examples}</ul></td></tr>"
            )
        parts.append(
            f"<h3>By {name}</h3><p>k = {clustering['k']} (silhouette "
            f"{clustering['silhouette_by_k'][clustering['k']]:.3f}), purity against category "
            f"{clustering['purity_against_category']:.1%}.</p>"
            f'<p><img src="clusters_{name}.png" alt="{name} clusters"></p>'
            "<table><tr><th>cluster</th><th>size</th><th>categories</th><th>examples</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    return "".join(parts)


def prefill_rows(metrics: dict) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for k, entry in metrics["prefill"]["by_length"].items():
        if not entry["n_prompts"]:
            rows.append((k, "0", "-", "-"))
            continue
        rows.append(
            (
                k,
                str(entry["n_prompts"]),
                interval(entry["return_rate"], percent=True),
                interval(entry["return_delay"]),
            )
        )
    return rows


def probe_rows(metrics: dict) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for hook, entry in metrics["probe"]["by_hook"].items():
        if "probe_auroc" not in entry:
            rows.append((hook, entry.get("note", "-"), "-", "-"))
            continue
        random = entry["random_directions"]
        rows.append(
            (
                hook,
                f"{entry['probe_auroc']:.3f}",
                f"{random['best_selected_out_of_fold']:.3f}",
                f"{random['best_in_sample']:.3f}",
            )
        )
    return rows


def occurrence_html(metrics: dict) -> str:
    escape = html.escape
    preceding = metrics["preceding_phases"]
    sequences = [(k, str(v)) for k, v in list(preceding["sequences"].items())[:12]]
    onsets = metrics["onsets"]["all"]
    sections = [
        f"<h1>When the safety phase occurs</h1><p>{metrics['n_prompts']} prompts, "
        f"{metrics['n_responses']} responses, categories by <code>{escape(metrics['category_field'])}</code>.</p>",
        "<h2>Safety-phase rate by category (95% intervals)</h2>",
        html_table(("category", "prompts", "greedy", "sampled"), rate_rows(metrics)),
        '<p><img src="rates.png" alt="rates by category"></p>',
        "<h2>Category effects</h2>",
        html_table(("test", "statistic", "p"), test_rows(metrics)),
        "<h2>Onsets</h2>",
        f"<p>{onsets.get('n', 0)} onsets; median {number(onsets.get('median'), 1)} tokens, "
        f"{number(100 * onsets.get('at_first_token', math.nan), 1)}% at the first response token.</p>",
        '<p><img src="onsets.png" alt="onset histogram"></p>',
        "<h3>What precedes the safety phase</h3>",
        html_table(("phases up to the onset", "responses"), sequences),
        "<h2>Clusters of safety sentences</h2>",
        cluster_sections(metrics),
    ]
    if "prefill" in metrics:
        sections += [
            f"<h2>Prefilling compliant answers ({escape(metrics['prefill']['group'])} prompts)</h2>",
            html_table(
                ("k", "prompts", "returns to safety", "delay (tokens)"), prefill_rows(metrics)
            ),
            '<p><img src="prefill.png" alt="prefilling"></p>',
        ]
    if "divergence" in metrics:
        rows = [
            (
                name,
                number(curve["mean"]),
                interval(curve["first_token"]) if curve["first_token"] else "-",
            )
            for name, curve in metrics["divergence"]["curves"].items()
        ]
        sections += [
            f"<h2>KL(chat ‖ base) by response position, base {escape(metrics['divergence']['base_model'])}</h2>",
            html_table(("prompts", "mean over positions", "first response token"), rows),
            '<p><img src="divergence.png" alt="KL by position"></p>',
        ]
    sections += [
        "<h2>Predicting the safety phase from the last prompt token</h2>",
        "<p>AUROC of the probe on test folds, of the random direction that is best on the "
        "training folds (on the test folds), and of the best random direction on all prompts.</p>",
        html_table(
            ("hook", "probe", "random, selected out of fold", "random, best in sample"),
            probe_rows(metrics),
        ),
    ]
    style = "body{font-family:sans-serif;max-width:64em;margin:2em auto}td,th{padding:.2em .6em;vertical-align:top}"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>occurrence report</title>"
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def write_occurrence_report(folder: Path, metrics: dict) -> None:
    write_text_atomic(folder / "report.html", occurrence_html(metrics))
