"""PNG plots of the onset experiments: dose-response curves, the suppression curve and the
attribution ranking."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from safety_features.plotting import pyplot, save_figure

CURVE_LABELS = {
    "features": ("top onset features, clamped on benign prompts", "clamp value / max activation"),
    "refusal_direction": ("refusal direction, added on benign prompts", "coefficient"),
}


def plot_dose_response(path: str | Path, dose_response: dict) -> None:
    """Plot one panel per curve: transition probability with intervals, and the logistic fit."""
    plt = pyplot()
    names = [n for n in CURVE_LABELS if n in dose_response]
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        curve = dose_response[name]
        strengths = np.asarray(curve["strengths"], dtype=float)
        estimates = curve["transition_probability"]
        means = np.array([e["mean"] for e in estimates])
        errors = np.array(
            [[e["mean"] - e["low"] for e in estimates], [e["high"] - e["mean"] for e in estimates]]
        )
        fit = curve["fit"]
        fitted = np.isin(strengths, np.asarray(fit["fitted_strengths"], dtype=float))
        for chosen, style, label in (
            (fitted, "o", "measured, fitted"),
            (~fitted, "o", "measured, not fitted"),
        ):
            if chosen.any():
                axis.errorbar(
                    strengths[chosen],
                    means[chosen],
                    yerr=errors[:, chosen],
                    fmt=style,
                    capsize=3,
                    label=label,
                    mfc="none" if label.endswith("not fitted") else None,
                )
        centre, width = fit["critical_strength"], fit["width"]
        if (
            centre is not None
            and width is not None
            and math.isfinite(centre)
            and math.isfinite(width)
        ):
            grid = np.linspace(strengths[fitted].min(), strengths[fitted].max(), 200)
            curve_values = 1 / (1 + np.exp(-(grid - centre) / width))
            axis.plot(grid, curve_values, label=f"logistic fit, s_c={centre:.2f}, w={width:.2f}")
        title, xlabel = CURVE_LABELS[name]
        axis.set_title(title, fontsize=10)
        axis.set_xlabel(xlabel)
        axis.set_ylabel("safety-phase rate")
        axis.set_ylim(-0.05, 1.05)
        axis.legend(fontsize=8, loc="best")
    save_figure(figure, path)


def plot_suppression_curve(path: str | Path, curve: dict, baseline: dict) -> None:
    """Plot the safety-phase rate on harmful prompts against the number of features clamped to
    0, for the top onset features and for random sets, with 95% intervals."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 3.6))
    sizes = np.asarray(curve["sizes"], dtype=float)
    for key, label, marker in (
        ("features", "top onset features", "o-"),
        ("random", "random features", "s--"),
    ):
        estimates = curve[key]["transition_probability"]
        measured = [i for i, estimate in enumerate(estimates) if estimate is not None]
        if not measured:
            continue
        means = np.array([estimates[i]["mean"] for i in measured])
        lows = np.array([estimates[i]["low"] for i in measured])
        highs = np.array([estimates[i]["high"] for i in measured])
        axis.errorbar(
            sizes[measured],
            means,
            yerr=[means - lows, highs - means],
            fmt=marker,
            capsize=3,
            label=label,
        )

    axis.axhline(baseline["mean"], color="gray", linewidth=0.8, label="no clamp")
    axis.axhline(curve["goal"], color="tab:red", linestyle=":", label="suppression goal")
    axis.set_xscale("log")
    axis.set_xticks(sizes, [f"{int(s)}" for s in sizes])
    axis.minorticks_off()
    axis.set_xlabel("features clamped to 0")
    axis.set_ylabel("safety-phase rate, harmful prompts")
    axis.set_ylim(-0.05, 1.05)
    axis.set_title("Suppression by number of clamped features", fontsize=10)
    axis.legend(fontsize=8, loc="best")
    save_figure(figure, path)


def write_plots(folder: Path, metrics: dict) -> None:
    """Write dose_response.png, and suppression_curve.png when the run has the curve."""
    plot_dose_response(folder / "dose_response.png", metrics["dose_response"])
    if "suppression_curve" in metrics:
        baseline = metrics["conditions"]["baseline_harmful"]["transition_probability"]
        plot_suppression_curve(
            folder / "suppression_curve.png", metrics["suppression_curve"], baseline
        )


def plot_attribution(path: str | Path, ranking: dict, n: int = 20) -> None:
    """Bar chart of the top features' mean attribution with intervals, and the error node."""
    plt = pyplot()
    rows = [*ranking["top"][:n], {**ranking["error_node"], "feature": "error"}]
    labels = [str(r["feature"]) for r in rows]
    means = np.array([r["mean"] for r in rows])
    errors = np.array([means - [r["low"] for r in rows], [r["high"] for r in rows] - means])
    figure, axis = plt.subplots(figsize=(10, 3.6))
    colours = ["tab:blue"] * (len(rows) - 1) + ["tab:gray"]
    axis.bar(range(len(rows)), means, yerr=errors, color=colours, capsize=2)
    axis.set_xticks(range(len(rows)), labels, rotation=60, fontsize=8)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xlabel("feature")
    axis.set_ylabel(f"mean attribution ({ranking['method']})")
    axis.set_title(f"Onset attribution over {ranking['n_onsets']} onsets (95% intervals)")
    save_figure(figure, path)
