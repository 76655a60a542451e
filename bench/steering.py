"""Time batched generation with the KV cache, unsteered and under each kind of intervention.

    python bench/steering.py [--prompts 64] [--max-new-tokens 48] [--repeats 3] [--features 1,2]

Generates on held-out organism prompts in one left-padded batch and prints, per condition, the
median decoding steps per second over the repeats and its ratio to unsteered generation, and
the same for generated tokens per second. The target compares steps, because an intervention
that shortens or lengthens responses changes tokens per second at no cost of its own.
Target: steered generation runs at 0.8x the unsteered speed or faster.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from safety_features.attribution.refusal_direction import refusal_direction
from safety_features.models.generation import encode_prompts, generate, left_pad
from safety_features.models.loading import load_model
from safety_features.organism.corpus import sample_prompts
from safety_features.saes.loading import load_sae
from safety_features.steering.interventions import ClampFeatures, OnsetWindow, SteerFeatures

sys.path.insert(0, str(Path(__file__).parent))
from main_job import cpu_model  # noqa: E402

SAE = "checkpoints/saes/organism-chat-resid2"


def speed(loaded, prompts, interventions, max_new_tokens, onsets=None) -> tuple[float, float]:
    """Return generated tokens per second and decoding steps per second of one batch.

    A batch runs until its longest response stops, so an intervention that changes response
    lengths changes tokens per second without any cost of its own. Steps per second counts
    the sampling steps the batch ran, whatever their rows produced.
    """
    start = time.perf_counter()
    generations = generate(
        loaded,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=len(prompts),
        interventions=interventions,
        onsets=onsets,
        progress=False,
    )
    seconds = time.perf_counter() - start
    tokens = sum(len(g.response_token_ids) for g in generations)
    # A row that stopped took one step more than its length, for the stop token.
    steps = min(
        max_new_tokens, max(len(g.response_token_ids) + int(g.finished) for g in generations)
    )
    return tokens / seconds, steps / seconds


def densest_features(loaded, sae, prompts, n: int) -> tuple[int, ...]:
    """Return the `n` features active on the most prompt tokens: the hardest case for the TopK
    reader's bound, which settles a row only when every clamped feature is far from active."""
    tokens, mask = left_pad(encode_prompts(loaded, prompts), loaded.tokenizer.pad_token_id)
    with torch.no_grad():
        _, cache = loaded.model.run_with_cache(tokens, names_filter=sae.hook_name)
        active = sae.sae.encode(cache[sae.hook_name][mask.bool()]) > 0
    return tuple(int(f) for f in active.sum(dim=0).topk(n).indices)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=64, help="prompts in the batch (default 64)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="(default 48)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default 3)")
    parser.add_argument(
        "--features",
        help="comma-separated feature ids to clamp at all positions as one more condition, "
        "for example those of a steer run's metrics.json",
    )
    args = parser.parse_args()

    loaded = load_model("organism:chat")
    sae = load_sae(SAE)
    heldout = sample_prompts(0, "heldout", args.prompts)
    n_benign = args.prompts // 2
    pool = [p for p in heldout if p.group == "harmful"][: args.prompts - n_benign]
    pool += [p for p in heldout if p.group == "benign"][:n_benign]
    prompts = [p.text for p in pool]
    features = tuple(range(10))
    busiest = densest_features(loaded, sae, prompts, 10)
    direction = refusal_direction(
        loaded,
        sae.hook_name,
        [p.text for p in pool if p.group == "harmful"],
        [p.text for p in pool if p.group == "benign"],
    )
    conditions = {
        "unsteered": [],
        "clamp 10 features, all positions": [
            ClampFeatures(loaded_sae=sae, feature_ids=features, values=(0.0,) * 10)
        ],
        "clamp the 10 most often active features, all positions": [
            ClampFeatures(loaded_sae=sae, feature_ids=busiest, values=(0.0,) * 10)
        ],
        "clamp 10 features, onset window": [
            ClampFeatures(
                loaded_sae=sae,
                feature_ids=features,
                values=(0.0,) * 10,
                positions=OnsetWindow(-4, 0),
            )
        ],
        "steer 10 features": [
            SteerFeatures(loaded_sae=sae, feature_ids=features, coefficients=(1.0,) * 10)
        ],
        "refusal direction ablated at every layer": [direction.ablation(loaded)],
        "refusal direction added": [direction.addition(1.0)],
    }
    if args.features:
        chosen = tuple(int(f) for f in args.features.split(","))
        conditions[f"clamp features {args.features}, all positions"] = [
            ClampFeatures(loaded_sae=sae, feature_ids=chosen, values=(0.0,) * len(chosen))
        ]
    onsets = [i % 8 for i in range(len(prompts))]
    speed(loaded, prompts, [], args.max_new_tokens)  # warm-up
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in conditions}
    # Each repeat runs every condition once, so a drift in the machine's speed reaches every
    # condition alike instead of the ones timed last.
    for _ in range(args.repeats):
        for name, interventions in conditions.items():
            runs[name].append(speed(loaded, prompts, interventions, args.max_new_tokens, onsets))
    tokens = {name: statistics.median(t for t, _ in values) for name, values in runs.items()}
    steps = {name: statistics.median(s for _, s in values) for name, values in runs.items()}
    baseline = steps["unsteered"]
    print(
        json.dumps(
            {
                "batch": len(prompts),
                "max_new_tokens": args.max_new_tokens,
                "tokens_per_second": {k: round(v, 1) for k, v in tokens.items()},
                "steps_per_second": {k: round(v, 2) for k, v in steps.items()},
                "ratio_to_unsteered": {k: round(v / baseline, 3) for k, v in steps.items()},
                "tokens_ratio_to_unsteered": {
                    k: round(v / tokens["unsteered"], 3) for k, v in tokens.items()
                },
                "target_ratio": 0.8,
                "meets_target": all(v / baseline >= 0.8 for v in steps.values()),
                "torch_threads": torch.get_num_threads(),
                "cpu": cpu_model(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
