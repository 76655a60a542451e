"""Feature cards for the terminal, and static HTML dashboards; model text is always escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from safety_features.files import (
    atomic_directory,
    check_output_folder,
    write_json_atomic,
    write_text_atomic,
)
from safety_features.lookup.query import feature_card, top_features
from safety_features.lookup.store import FeatureIndex

BOLD_RED = "\033[1;31m"
RESET = "\033[0m"


def visible(token: str) -> str:
    """Show line breaks and tabs in a token as escapes, so a context stays on one line."""
    return token.replace("\n", "\\n").replace("\t", "\\t")


def context_line(context: dict, colour: bool) -> str:
    parts = []
    for position, token in enumerate(context["tokens"]):
        shown = visible(token)
        if position == context["centre"]:
            shown = f"{BOLD_RED}{shown}{RESET}" if colour else f"[[{shown}]]"
        parts.append(shown)
    return "".join(parts)


def format_card(card: dict, colour: bool = False) -> str:
    """Format the terminal card of one feature. The activating token is bold red, or in [[ ]]."""
    lines = [
        f"Feature {card['feature']} of {card['sae']} at {card['hook_name']}",
        f"  density {card['density']:.4%}, mean when active {card['mean_nonzero']:.3f}, "
        f"max {card['max']:.3f}",
        "  decoder, top tokens:    "
        + " ".join(repr(t["token"]) for t in card["decoder_top_tokens"]),
        "  decoder, bottom tokens: "
        + " ".join(repr(t["token"]) for t in card["decoder_bottom_tokens"]),
        "  enrichment AUROC: "
        + ", ".join(f"{label} {value:.3f}" for label, value in card["enrichment_auroc"].items()),
    ]
    ranks = card["attribution_ranks"]
    if ranks:
        lines.append(
            "  attribution rank: "
            + ", ".join(
                (f"{r['rank']} of {r['of']}" if r["rank"] else f"not in the top {r['of']}")
                + f" ({r['run']})"
                for r in ranks
            )
        )
    else:
        lines.append("  attribution rank: no attribution run with this SAE found")
    for title, key in (("top contexts", "top_contexts"), ("quantile samples", "quantile_samples")):
        lines.append(f"  {title}:")
        for item in card[key]:
            copies = f"  ({item['copies']} copies)" if item.get("copies", 1) > 1 else ""
            lines.append(f"    {item['value']:7.3f}  {context_line(item, colour)}{copies}")
        if not card[key]:
            lines.append("    (the feature never fires on the corpus)")
    return "\n".join(lines)


STYLE = (
    "body{font-family:sans-serif;max-width:64em;margin:2em auto}td,th{padding:.2em .6em;"
    "vertical-align:top;text-align:left}.ctx{font-family:monospace;white-space:pre-wrap}"
    ".centre{outline:2px solid #b00020}"
)


def token_spans(context: dict, peak: float) -> str:
    spans = []
    for position, (token, value) in enumerate(
        zip(context["tokens"], context["activations"], strict=True)
    ):
        strength = 0.0 if value is None or peak <= 0 else max(0.0, min(1.0, value / peak))
        css = f"background:rgba(255,120,0,{strength:.2f})"
        extra = ' class="centre"' if position == context["centre"] else ""
        title = "" if value is None else f' title="{value:.3f}"'
        spans.append(f'<span{extra} style="{css}"{title}>{html.escape(visible(token))}</span>')
    return "".join(spans)


def feature_page(card: dict) -> str:
    escape = html.escape
    peak = card["max"]
    rows = []
    for title, key in (
        ("Top contexts", "top_contexts"),
        ("Samples at activation quantiles", "quantile_samples"),
    ):
        items = "".join(
            f"<tr><td>{item['value']:.3f}</td><td>{item.get('copies', 1)}</td>"
            f"<td>{escape(str(item['group']))}</td>"
            f"<td class='ctx'>{token_spans(item, peak)}</td></tr>"
            for item in card[key]
        )
        rows.append(
            f"<h2>{title}</h2><table><tr><th>activation</th><th>copies</th><th>group</th><th>context</th></tr>{items}</table>"
        )
    enrichment = "".join(
        f"<tr><td>{escape(label)}</td><td>{value:.3f}</td></tr>"
        for label, value in card["enrichment_auroc"].items()
    )
    decoder = "".join(
        f"<tr><td>{escape(repr(top['token']))}</td><td>{top['logit']:.2f}</td>"
        f"<td>{escape(repr(bottom['token']))}</td><td>{bottom['logit']:.2f}</td></tr>"
        for top, bottom in zip(
            card["decoder_top_tokens"], card["decoder_bottom_tokens"], strict=True
        )
    )
    ranks = (
        "".join(
            f"<li>{escape(str(r['rank']) + ' of ' + str(r['of']) if r['rank'] else 'not in the top ' + str(r['of']))}"
            f" in {escape(r['run'])}</li>"
            for r in card["attribution_ranks"]
        )
        or "<li>no attribution run with this SAE found</li>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Feature {card['feature']}</title>"
        f"<style>{STYLE}</style></head><body><p><a href='index.html'>all features</a></p>"
        f"<h1>Feature {card['feature']}</h1><p>{escape(card['sae'])} at {escape(card['hook_name'])}: "
        f"density {card['density']:.4%}, mean when active {card['mean_nonzero']:.3f}, max {card['max']:.3f}.</p>"
        f"<h2>Phase enrichment (AUROC)</h2><table>{enrichment}</table>"
        "<h2>Decoder direction through the unembedding</h2><table><tr><th>top token</th><th>logit</th>"
        f"<th>bottom token</th><th>logit</th></tr>{decoder}</table>"
        f"<h2>Attribution rank</h2><ul>{ranks}</ul>{''.join(rows)}</body></html>\n"
    )


def page_name(feature: int) -> str:
    return f"feature-{feature:06d}.html"


def write_dashboard(
    index: FeatureIndex,
    out_dir: str | Path,
    features: Sequence[int],
    roots: list[Path],
    progress: bool = True,
    overwrite: bool = False,
    ranks: dict[int, list[dict]] | None = None,
    recorded_index: str | None = None,
) -> Path:
    """Write one page per feature in `features` and an index page that links them.

    Attribution ranks come from the runs under `roots`, or from `ranks` (per feature) when
    given. dashboard.json records `recorded_index`, default the index's path.

    The pages go into a temporary folder that replaces `out_dir` whole at the end, so an
    earlier dashboard leaves no stale pages behind.
    """
    out_dir = check_output_folder(Path(out_dir), "dashboard.json", overwrite)
    with atomic_directory(out_dir) as folder:
        rows = [
            index_row(
                feature_card(index, feature, roots, None if ranks is None else ranks[feature]),
                folder,
                index.labels[0],
            )
            for feature in tqdm(features, desc="dashboard", disable=not progress, unit="page")
        ]
        write_index_page(index, folder, rows)
        write_json_atomic(
            folder / "dashboard.json",
            {"index": recorded_index or str(index.path), "features": list(features)},
        )
    return out_dir


def index_row(card: dict, folder: Path, ranking: str) -> str:
    """Write the feature's page into `folder` and return its row of the index page."""
    feature = card["feature"]
    write_text_atomic(folder / page_name(feature), feature_page(card))
    best = max(
        card["enrichment_auroc"].items(), key=lambda item: item[1] if item[1] == item[1] else -1
    )
    tokens = " ".join(repr(t["token"]) for t in card["decoder_top_tokens"][:5])
    return (
        f"<tr><td><a href='{page_name(feature)}'>{feature}</a></td><td>{card['density']:.4%}</td>"
        f"<td>{card['max']:.3f}</td><td>{card['enrichment_auroc'][ranking]:.3f}</td>"
        f"<td>{html.escape(best[0])} {best[1]:.3f}</td><td>{html.escape(tokens)}</td></tr>"
    )


def write_index_page(index: FeatureIndex, folder: Path, rows: list[str]) -> None:
    ranking = index.labels[0]
    leaders = ", ".join(str(f["feature"]) for f in top_features(index, ranking, 10))
    write_text_atomic(
        folder / "index.html",
        f"<!doctype html><html><head><meta charset='utf-8'><title>SAE features</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Features of {html.escape(index.meta['sae']['path'])}</h1>"
        f"<p>Corpus: {index.meta['corpus']['n_transcripts']} transcripts, "
        f"{index.meta['corpus']['n_tokens']} tokens. Across the whole index, the 10 features "
        f"most enriched for {html.escape(ranking)} are {leaders}. The table lists the "
        f"{len(rows)} features of this dashboard.</p>"
        "<table><tr><th>feature</th><th>density</th><th>max</th>"
        f"<th>{html.escape(ranking)} AUROC</th><th>highest AUROC (phase)</th>"
        f"<th>decoder top tokens</th></tr>{''.join(rows)}</table></body></html>\n",
    )
