"""Predicting the safety phase from the prompt alone: a linear probe at the last prompt token.

The probe is an L2-regularised logistic regression on the standardised activation at the last
prompt position. Its AUROC is the mean over the test folds of a stratified k-fold split.

The baseline projects the same activations onto many random unit directions, taking
max(AUROC, 1 - AUROC) so a direction may point either way, in two forms:

- best in sample: the best direction's AUROC on all prompts. With many directions and few
  prompts this is optimistic, so a probe that beats it carries real signal;
- best selected out of fold: in each fold, the direction and sign that are best on the
  training prompts, scored on the test prompts, as the probe is. This is the fair comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def column_aurocs(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AUROC of every column of `scores` [prompts, directions] at once, from average ranks
    (the Mann-Whitney U statistic over n_positive * n_negative)."""
    ranks = stats.rankdata(scores, axis=0)
    positive = labels.astype(bool)
    n_positive, n_negative = int(positive.sum()), int((~positive).sum())
    u = ranks[positive].sum(axis=0) - n_positive * (n_positive + 1) / 2
    return u / (n_positive * n_negative)


def probe_and_baselines(
    features: np.ndarray, labels: np.ndarray, folds: int, n_random: int, seed: int
) -> dict:
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(features.shape[1], n_random))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    projections = features @ directions
    probe, selected = [], []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(features, labels):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        model.fit(features[train], labels[train])
        probe.append(roc_auc_score(labels[test], model.predict_proba(features[test])[:, 1]))
        # Direction and sign are chosen on the training prompts only.
        train_aurocs = column_aurocs(projections[train], labels[train])
        best = int(np.argmax(np.maximum(train_aurocs, 1 - train_aurocs)))
        sign = 1.0 if train_aurocs[best] >= 0.5 else -1.0
        selected.append(roc_auc_score(labels[test], sign * projections[test, best]))
    in_sample = column_aurocs(projections, labels)
    in_sample = np.maximum(in_sample, 1 - in_sample)
    return {
        "probe_auroc": float(np.mean(probe)),
        "probe_auroc_by_fold": [float(a) for a in probe],
        "random_directions": {
            "n_directions": n_random,
            "best_in_sample": float(in_sample.max()),
            "mean_in_sample": float(in_sample.mean()),
            "best_selected_out_of_fold": float(np.mean(selected)),
        },
    }


def probe_report(
    features: np.ndarray,
    labels: np.ndarray,
    categories: Sequence[str],
    folds: int,
    n_random: int,
    seed: int,
) -> dict:
    """Probe and random-direction AUROCs over all prompts, and within each category that has at
    least `folds` prompts of each outcome."""
    result: dict = {"n_prompts": len(labels), "n_safety": int(labels.sum())}
    if min(labels.sum(), len(labels) - labels.sum()) < folds:
        result["note"] = f"fewer than {folds} prompts of one outcome: no probe"
        return result
    result.update(probe_and_baselines(features, labels, folds, n_random, seed))
    within = {}
    names = np.array(categories)
    for category in sorted(set(categories)):
        rows = names == category
        positives = int(labels[rows].sum())
        if min(positives, int(rows.sum()) - positives) >= folds:
            within[category] = {
                "n_prompts": int(rows.sum()),
                **probe_and_baselines(features[rows], labels[rows], folds, n_random, seed),
            }
    result["within_category"] = within
    return result
