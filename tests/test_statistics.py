import math

import numpy as np
import pytest

from safety_features.experiments.statistics import bootstrap_mean, fit_logistic


def test_bootstrap_of_constant_is_exact():
    estimate = bootstrap_mean(np.full((10, 3), 0.4), n_bootstrap=200)
    assert (estimate.mean, estimate.low, estimate.high, estimate.n) == pytest.approx(
        (0.4, 0.4, 0.4, 30)
    )


def test_bootstrap_skips_undefined_values():
    values = np.array([[1.0, np.nan], [3.0, np.nan], [np.nan, np.nan]])
    estimate = bootstrap_mean(values, n_bootstrap=500)
    assert estimate.mean == 2.0
    assert estimate.n == 2
    assert 1.0 <= estimate.low <= 2.0 <= estimate.high <= 3.0
    assert math.isnan(bootstrap_mean(np.full((2, 2), np.nan)).mean)


def test_bootstrap_interval_covers_the_true_rate():
    # 95% intervals from samples of a 30% rate should cover 0.3 in most of 100 repetitions.
    rng = np.random.default_rng(0)
    covered = 0
    for repetition in range(100):
        outcomes = (rng.random((60, 2)) < 0.3).astype(float)
        estimate = bootstrap_mean(outcomes, n_bootstrap=300, seed=repetition)
        covered += estimate.low <= 0.3 <= estimate.high
    assert 85 <= covered <= 100


def test_logistic_fit_recovers_planted_curve():
    rng = np.random.default_rng(1)
    strengths = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
    centre, width = 1.2, 0.3
    outcomes = [
        (rng.random((200, 1)) < 1 / (1 + math.exp(-(s - centre) / width))).astype(float)
        for s in strengths
    ]
    fit = fit_logistic(strengths, outcomes, n_bootstrap=100)
    assert fit.converged
    assert fit.critical_strength == pytest.approx(centre, abs=0.1)
    assert fit.width == pytest.approx(width, abs=0.1)
    low, high = fit.critical_strength_ci
    assert low < fit.critical_strength < high
    assert fit.predict(np.array([centre]))[0] == pytest.approx(0.5, abs=0.05)


def test_logistic_fit_notes_centre_outside():
    # Rates of 10%, 20% and 30% put the 50% point beyond the largest strength.
    outcomes = [np.repeat([1.0, 0.0], [k, 10 - k])[:, None] for k in (1, 2, 3)]
    fit = fit_logistic([0.25, 0.5, 1.0], outcomes, n_bootstrap=10)
    assert fit.critical_strength > 1.0
    assert fit.note == "outside the fitted 0.25 to 1"


def test_logistic_fit_of_flat_outcomes():
    fit = fit_logistic([0.0, 1.0], [np.zeros((5, 1)), np.zeros((5, 1))], n_bootstrap=10)
    assert math.isnan(fit.critical_strength) or fit.note
    single = fit_logistic([1.0], [np.ones((5, 1))])
    assert single.note == "needs two strengths"
