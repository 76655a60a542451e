"""Confidence intervals over prompts and seeds, and the logistic dose-response fit.

Outcomes are arrays of shape [prompts, seeds], NaN where a value is undefined (the onset of a
response without a safety phase). A bootstrap replicate draws prompts with replacement and,
inside each drawn prompt, seeds with replacement, then takes the mean of the defined values.
The interval is the percentile interval of the replicates.

The dose-response curve is the two-parameter logistic

    p(s) = 1 / (1 + exp(-(s - s_c) / w))

fitted by maximum likelihood to the binary outcomes of every response at every strength s.
s_c is the critical strength (p = 1/2) and w the width (p goes from 27% to 73% over 2w).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from jaxtyping import Float


@dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap confidence interval; NaN when no value is defined."""

    mean: float
    low: float
    high: float
    n: int
    """Defined values the mean is over."""

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_mean(
    values: Float[np.ndarray, "prompts seeds"],
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Mean of the defined values with a two-level (prompts, then seeds) bootstrap interval."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    defined = ~np.isnan(values)
    if not defined.any():
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(np.nanmean(values))
    rng = np.random.default_rng(seed)
    n_prompts, n_seeds = values.shape
    prompts = rng.integers(0, n_prompts, size=(n_bootstrap, n_prompts))
    seeds = rng.integers(0, n_seeds, size=(n_bootstrap, n_prompts, n_seeds))
    drawn = values[prompts[..., None], seeds]
    # A replicate that drew only undefined values has no mean; it is dropped below.
    sums = np.nansum(drawn.reshape(n_bootstrap, -1), axis=1)
    counts = (~np.isnan(drawn)).reshape(n_bootstrap, -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = sums / counts
    replicates = replicates[~np.isnan(replicates)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Estimate(mean, float(low), float(high), int(defined.sum()))


@dataclass(frozen=True)
class LogisticFit:
    critical_strength: float
    width: float
    critical_strength_ci: tuple[float, float]
    converged: bool
    note: str = ""

    def predict(self, strengths: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(np.asarray(strengths) - self.critical_strength) / self.width))

    def to_dict(self) -> dict:
        return asdict(self)


def fit_logistic_parameters(
    strengths: np.ndarray, outcomes: np.ndarray, iterations: int = 100
) -> tuple[float, float, bool]:
    """Newton's method on the log-likelihood of p = sigmoid(a + b s); return a, b, converged.

    A small ridge penalty on b keeps the fit finite when the outcomes separate perfectly.
    """
    x = np.stack([np.ones_like(strengths), strengths], axis=1)
    params = np.zeros(2)
    ridge = np.diag([0.0, 1e-3])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(x @ params, -30, 30)))
        gradient = x.T @ (outcomes - p) - ridge @ params
        hessian = -(x.T * (p * (1 - p))) @ x - ridge
        step = np.linalg.solve(hessian, gradient)
        params -= step
        if np.abs(step).max() < 1e-8:
            return float(params[0]), float(params[1]), True
    return float(params[0]), float(params[1]), False


def fit_logistic(
    strengths: Sequence[float],
    outcomes: Sequence[Float[np.ndarray, "prompts seeds"]],
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> LogisticFit:
    """Fit p(s) to binary outcomes, one [prompts, seeds] array per strength, same prompts in each.

    The interval of s_c comes from refitting on bootstrap resamples of the prompts.
    """
    levels = np.asarray(strengths, dtype=float)
    stacked = np.stack([np.asarray(o, dtype=float).reshape(len(o), -1) for o in outcomes])
    if len(levels) < 2 or len(set(levels.tolist())) < 2:
        return LogisticFit(math.nan, math.nan, (math.nan, math.nan), False, "needs two strengths")

    def fit(rows: np.ndarray) -> tuple[float, float, bool]:
        chosen = stacked[:, rows]
        x = np.repeat(levels, chosen[0].size)
        return fit_logistic_parameters(x, chosen.reshape(-1))

    a, b, converged = fit(np.arange(stacked.shape[1], dtype=np.int64))
    if abs(b) < 1e-9:
        return LogisticFit(math.nan, math.nan, (math.nan, math.nan), converged, "flat: no effect")
    rng = np.random.default_rng(seed)
    centres = []
    for _ in range(n_bootstrap):
        ra, rb, _ = fit(np.asarray(rng.integers(0, stacked.shape[1], size=stacked.shape[1])))
        if abs(rb) > 1e-9:
            centres.append(-ra / rb)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(centres, [tail, 100 - tail]) if centres else (math.nan, math.nan)
    inside = levels.min() <= -a / b <= levels.max()
    note = "" if inside else f"outside the fitted {levels.min():g} to {levels.max():g}"
    return LogisticFit(-a / b, 1 / b, (float(low), float(high)), converged, note)
