"""Onset attribution over many transitions: feature rankings with bootstrap intervals and baselines.

The ranking orders features by their mean attribution over onsets (positive: the feature raises
the onset). Intervals come from resampling onsets with replacement. Two baselines put the
ranking in context:

- activation difference: features ranked by their mean activation at onset positions minus
  matched non-onset positions (`onset_contrast`), which needs no gradients;
- random features: sets of k live features drawn at random.

For each, the report gives the share of the total positive attribution that its top k carry,
and the overlap of its top k with the attribution's top k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from safety_features.attribution.gradients import Attributions, OnsetExample
from safety_features.phases.responses import DetectedResponse


def onset_examples(responses: Sequence[DetectedResponse]) -> list[OnsetExample]:
    """Build one OnsetExample per response with a safety onset at a known token."""
    examples = []
    for response in responses:
        onset = response.onset
        if onset is None or onset.token_index is None:
            continue
        generation = response.generation
        phase_end = None
        if response.phases is not None:
            phase = next(
                (
                    p
                    for p in response.phases.segmentation.phases
                    if p.token_start == onset.token_index
                ),
                None,
            )
            phase_end = None if phase is None else phase.token_end - 1
        examples.append(
            OnsetExample(
                token_ids=(*generation.prompt_token_ids, *generation.response_token_ids),
                n_prompt=len(generation.prompt_token_ids),
                onset=onset.token_index,
                phase_end=phase_end,
            )
        )
    return examples


@dataclass(frozen=True)
class FeatureAttribution:
    feature: int
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class OnsetRanking:
    """Features by mean attribution over onsets, with percentile bootstrap intervals."""

    method: str
    n_onsets: int
    top: list[FeatureAttribution]
    error: FeatureAttribution
    """The SAE error node, feature = -1."""
    order: np.ndarray
    """Every feature id, by decreasing mean attribution."""
    means: np.ndarray
    """Mean attribution of every feature, indexed by feature id."""
    target_mean: float

    def top_ids(self, k: int) -> list[int]:
        return [int(i) for i in self.order[:k]]

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "n_onsets": self.n_onsets,
            "target_mean": self.target_mean,
            "error_node": vars(self.error),
            "top": [vars(f) for f in self.top],
        }


def rank_attributions(
    attributions: Attributions,
    n_top: int = 50,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> OnsetRanking:
    """Rank features by mean attribution; bootstrap intervals for the top `n_top` and the error."""
    values = attributions.features
    n = values.shape[0]
    means = values.mean(axis=0)
    order = np.argsort(-means, kind="stable")
    chosen = order[:n_top]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_bootstrap, n))
    counts = np.zeros((n_bootstrap, n))
    np.add.at(counts, (np.arange(n_bootstrap)[:, None], draws), 1.0)
    columns = np.concatenate([values[:, chosen], attributions.error[:, None]], axis=1)
    replicates = counts @ columns / n
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=0)
    top = [
        FeatureAttribution(int(f), float(means[f]), float(low[j]), float(high[j]))
        for j, f in enumerate(chosen)
    ]
    error = FeatureAttribution(
        -1, float(attributions.error.mean()), float(low[-1]), float(high[-1])
    )
    return OnsetRanking(
        attributions.method, n, top, error, order, means, float(attributions.target.mean())
    )


def compare_with_baselines(
    ranking: OnsetRanking,
    contrast_ids: Sequence[int],
    live: Sequence[int],
    k: int,
    n_random: int = 100,
    seed: int = 0,
) -> dict:
    """Attribution share and top-k overlap of the attribution, contrast and random selections."""
    positive = float(ranking.means[ranking.means > 0].sum()) or float("nan")
    top = ranking.top_ids(k)

    def share(ids: Sequence[int]) -> float:
        return float(ranking.means[list(ids)].sum()) / positive

    rng = np.random.default_rng(seed)
    pool = np.asarray(list(live))
    random_shares = [
        share(rng.choice(pool, size=min(k, len(pool)), replace=False).tolist())
        for _ in range(n_random)
    ]
    contrast_top = list(contrast_ids[:k])
    return {
        "k": k,
        "attribution_share": {
            "attribution_top_k": share(top),
            "activation_difference_top_k": share(contrast_top),
            "random_k_mean": float(np.mean(random_shares)),
            "random_k_95th_percentile": float(np.percentile(random_shares, 95)),
        },
        "overlap_with_activation_difference": len(set(top) & set(contrast_top)) / k,
    }
