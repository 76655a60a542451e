"""PNG plots of the occurrence report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from safety_features.plotting import pyplot, save_figure


def error_bars(estimates: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    means = np.array([e["mean"] for e in estimates], dtype=float)
    errors = np.array(
        [[e["mean"] - e["low"] for e in estimates], [e["high"] - e["mean"] for e in estimates]],
        dtype=float,
    )
    return means, np.nan_to_num(errors)


def plot_rates(path: Path, rates: dict) -> None:
    """Greedy and sampled safety-phase rate per category, with 95% intervals."""
    plt = pyplot()
    categories = list(rates)
    figure, axis = plt.subplots(figsize=(max(6, 1.1 * len(categories)), 3.6))
    positions = np.arange(len(categories))
    kinds = [k for k in ("greedy", "sampled") if all(k in rates[c] for c in categories)]
    width = 0.8 / len(kinds)
    for offset, kind in enumerate(kinds):
        means, errors = error_bars([rates[c][kind] for c in categories])
        axis.bar(positions + offset * width, means, width, yerr=errors, capsize=2, label=kind)
    axis.set_xticks(positions + width * (len(kinds) - 1) / 2, categories, rotation=30, ha="right")
    axis.set_ylabel("safety-phase rate")
    axis.set_ylim(0, 1.05)
    axis.legend(fontsize=8)
    save_figure(figure, path)


def plot_onsets(path: Path, onsets: list[int]) -> None:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.2))
    if onsets:
        axis.hist(onsets, bins=np.arange(max(onsets) + 2) - 0.5)
    axis.set_xlabel("onset (response token index)")
    axis.set_ylabel("responses")
    axis.set_title("Where the safety phase starts")
    save_figure(figure, path)


def plot_clusters(
    path: Path, projection: np.ndarray, labels: np.ndarray, categories: list[str], title: str
) -> None:
    """2-D projection coloured by cluster, with one marker per category."""
    plt = pyplot()
    markers = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
    names = sorted(set(categories))
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for number, name in enumerate(names):
        rows = np.array([c == name for c in categories])
        axis.scatter(
            projection[rows, 0],
            projection[rows, 1],
            c=labels[rows],
            cmap="tab10",
            vmin=0,
            vmax=9,
            marker=markers[number % len(markers)],
            label=name,
            s=18,
        )
    axis.set_xlabel("PC 1")
    axis.set_ylabel("PC 2")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, title="category (marker)", title_fontsize=7)
    save_figure(figure, path)


def plot_prefill(path: Path, prefill: dict) -> None:
    plt = pyplot()
    lengths = [k for k, v in prefill.items() if v["n_prompts"]]
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    if lengths:
        x = np.array([int(k) for k in lengths])
        means, errors = error_bars([prefill[k]["return_rate"] for k in lengths])
        axes[0].errorbar(x, means, yerr=errors, fmt="o-", capsize=3)
        delays, delay_errors = error_bars([prefill[k]["return_delay"] for k in lengths])
        axes[1].errorbar(x, delays, yerr=delay_errors, fmt="o-", capsize=3)
    axes[0].set_ylim(-0.05, 1.05)
    axes[0].set_ylabel("returns to the safety phase")
    axes[1].set_ylabel("tokens from the prefix to the onset")
    for axis in axes:
        axis.set_xlabel("forced compliant tokens k")
    save_figure(figure, path)


def plot_divergence(path: Path, curves: dict) -> None:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 3.4))
    for name, curve in curves.items():
        means, errors = error_bars(curve["by_position"])
        x = np.arange(len(means))
        axis.plot(x, means, label=name)
        axis.fill_between(x, means - errors[0], means + errors[1], alpha=0.2)
    axis.set_xlabel("response position")
    axis.set_ylabel("KL(chat ‖ base), nats")
    axis.legend(fontsize=8)
    save_figure(figure, path)
