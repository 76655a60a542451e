"""Safety-phase rates per prompt category, tests of category effects, onsets and what precedes them.

Responses to one prompt are not independent, so every test runs on units that are:

- a chi-square test of independence between category and safety phase, on the greedy
  responses (one per prompt), with Cramér's V as the effect size;
- a Kruskal-Wallis test of the per-prompt rates over the sampled responses, across categories;
- each category against all others: Fisher's exact test on the greedy responses, with Holm's
  correction over the categories.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import stats

from safety_features.experiments.occurrence.suite import Samples, category_of
from safety_features.experiments.statistics import bootstrap_mean
from safety_features.phases.responses import DetectedResponse
from safety_features.phases.segment import Phase


def phase_matrix(runs: Sequence[Sequence[DetectedResponse]], rows: Sequence[int]) -> np.ndarray:
    """[prompts, runs] array of 0/1 safety-phase outcomes for the prompts at `rows`."""
    return np.array([[float(run[i].has_safety_phase) for run in runs] for i in rows])


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(p_values) - rank) * p_values[index])
        adjusted[index] = min(1.0, running)
    return adjusted.tolist()


def category_rates(samples: Samples, field: str, n_bootstrap: int) -> dict:
    """Greedy and sampled safety-phase rates per category, with intervals over prompts."""
    categories = sorted({category_of(p, field) for p in samples.prompts})
    result = {}
    for category in categories:
        rows = [i for i, p in enumerate(samples.prompts) if category_of(p, field) == category]
        entry = {
            "n_prompts": len(rows),
            "greedy": bootstrap_mean(phase_matrix([samples.greedy], rows), n_bootstrap).to_dict(),
        }
        if samples.sampled:
            sampled = phase_matrix(samples.sampled, rows)
            entry["sampled"] = bootstrap_mean(sampled, n_bootstrap).to_dict()
        result[category] = entry
    return result


def category_tests(samples: Samples, field: str) -> dict:
    """Run the three tests of the module docstring."""
    categories = sorted({category_of(p, field) for p in samples.prompts})
    labels = np.array([category_of(p, field) for p in samples.prompts])
    greedy = np.array([r.has_safety_phase for r in samples.greedy])
    result: dict = {"categories": categories}
    if len(categories) < 2:
        result["note"] = "one category: nothing to compare"
        return result

    table = np.array(
        [[np.sum(greedy[labels == c] == v) for v in (True, False)] for c in categories]
    )
    kept = table[:, table.sum(axis=0) > 0]
    if kept.shape[1] == 2:
        chi2, p, dof, _ = stats.chi2_contingency(kept)
        cramers_v = math.sqrt(chi2 / (kept.sum() * (min(kept.shape) - 1)))
        result["chi_square_greedy"] = {
            "chi2": chi2,
            "dof": int(dof),
            "p": p,
            "cramers_v": cramers_v,
        }
    else:
        result["chi_square_greedy"] = {"note": "every greedy response has the same outcome"}

    if samples.sampled:
        per_prompt = phase_matrix(samples.sampled, range(len(samples.prompts))).mean(axis=1)
        groups = [per_prompt[labels == c] for c in categories]
        if len({float(v) for v in per_prompt}) > 1:
            statistic, p = stats.kruskal(*groups)
            result["kruskal_wallis_sampled"] = {"h": float(statistic), "p": float(p)}

    raw = []
    for category in categories:
        inside = greedy[labels == category]
        outside = greedy[labels != category]
        contingency = [
            [inside.sum(), len(inside) - inside.sum()],
            [outside.sum(), len(outside) - outside.sum()],
        ]
        odds, p = stats.fisher_exact(contingency)
        raw.append((category, float(odds), float(p)))
    adjusted = holm([p for _, _, p in raw])
    result["each_against_rest_greedy"] = {
        category: {"odds_ratio": odds, "p": p, "p_holm": p_holm}
        for (category, odds, p), p_holm in zip(raw, adjusted, strict=True)
    }
    return result


def onset_distribution(samples: Samples, field: str) -> dict:
    """Onset token indices of every response with a safety phase, overall and per category."""

    def summary(values: list[int]) -> dict:
        if not values:
            return {"n": 0}
        array = np.array(values)
        return {
            "n": len(values),
            "mean": float(array.mean()),
            "median": float(np.median(array)),
            "quartiles": [float(q) for q in np.percentile(array, [25, 75])],
            "at_first_token": float(np.mean(array == 0)),
            "histogram": dict(sorted(Counter(values).items())),
        }

    everything: list[int] = []
    per_category: dict[str, list[int]] = {}
    for run in samples.runs():
        for response in run:
            if response.onset is None or response.onset.token_index is None:
                continue
            everything.append(response.onset.token_index)
            per_category.setdefault(category_of(response.prompt, field), []).append(
                response.onset.token_index
            )
    return {
        "all": summary(everything),
        "by_category": {c: summary(v) for c, v in sorted(per_category.items())},
        "values": everything,
    }


def preceding_phases(responses: Sequence[DetectedResponse]) -> dict:
    """Count the sequences of earlier phases' concepts that precede each safety onset."""
    sequences: Counter = Counter()
    transitions: Counter = Counter()
    for response in responses:
        if response.onset is None or response.phases is None:
            continue
        onset = response.onset.token_index
        earlier: list[Phase] = [
            p
            for p in response.phases.segmentation.phases
            if onset is not None and p.token_end <= onset
        ]
        names = [p.concept for p in earlier] or ["(none)"]
        sequences[" -> ".join([*names, response.onset.concept])] += 1
        for transition in response.phases.segmentation.transitions:
            transitions[f"{transition.from_concept} -> {transition.to_concept}"] += 1
    total = sum(sequences.values())
    return {
        "n_onsets": total,
        "sequences": {k: v for k, v in sequences.most_common()},
        "share_with_earlier_phase": (
            sum(v for k, v in sequences.items() if not k.startswith("(none)")) / total
            if total
            else math.nan
        ),
        "transitions": dict(transitions.most_common()),
    }
