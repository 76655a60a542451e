"""Measure SAE training throughput against its floor, in one process.

    python bench/sae_training.py [--config configs/sae/organism.yaml] [--warmup-steps 300]
                                 [--steps 1000] [--bare-steps 300]

Three numbers, measured back to back on the same machine and thread count:

1. matrix-multiply throughput (float32 GFLOP/s of a square matmul), the machine's ceiling;
2. the bare SAE step: SAELens' training forward pass, backward pass and Adam update of the
   configured SAE on activations already in memory, nothing else. It gets the dead-feature
   mask that the full loop had at its end, so both compute the same losses. A TopK SAE adds
   an auxiliary loss once any feature is dead, which made a step about half again as long;
3. the full training loop of `safety_features.saes.training`: batches streamed from the
   on-disk activation cache, SAELens' trainer with its dead-feature statistics, logging,
   evaluations and checkpoints at the config's intervals.

The target is a full loop at 80% or more of the bare-step throughput. The activation cache is
built first if it does not exist (not timed). Prints one JSON object for docs/benchmarks.md.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from sae_lens.saes.sae import TrainStepInput

from safety_features.config import load_config
from safety_features.models.loading import load_model
from safety_features.phases.detect import PhaseDetector
from safety_features.saes.cache import ActivationCache, open_or_build_cache
from safety_features.saes.config import SAETrainingConfig
from safety_features.saes.evaluation import SAEEvaluator
from safety_features.saes.stream import ActivationStream
from safety_features.saes.tracking import start_tracking
from safety_features.saes.training import RunPaths, make_trainer, make_training_sae, train_steps


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def bare_step_tokens_per_second(
    config: SAETrainingConfig, activations: torch.Tensor, dead_mask: torch.Tensor, steps: int
) -> float:
    sae = make_training_sae(config, activations.shape[1], "bench")
    optimizer = torch.optim.Adam(sae.parameters(), lr=config.learning_rate)
    batches = activations[: len(activations) // config.batch_size * config.batch_size]
    batches = batches.view(-1, config.batch_size, activations.shape[1])
    coefficients = {"l1": config.l1_coefficient, "l0": config.l1_coefficient}

    def step(index: int) -> None:
        output = sae.training_forward_pass(
            TrainStepInput(
                sae_in=batches[index % len(batches)],
                coefficients=coefficients,
                dead_neuron_mask=dead_mask,
                n_training_steps=index,
                is_logging_step=False,
            )
        )
        output.loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    for index in range(10):
        step(index)
    start = time.perf_counter()
    for index in range(steps):
        step(index)
    return steps * config.batch_size / (time.perf_counter() - start)


def full_loop_tokens_per_second(
    config: SAETrainingConfig,
    loaded,
    detector: PhaseDetector,
    cache: ActivationCache,
    warmup_steps: int,
    steps: int,
) -> dict:
    """Time `steps` steps of the configured run after `warmup_steps` untimed ones.

    The warm-up lets SAELens' dead-feature window pass, so the timed steps compute the
    auxiliary loss whenever features are dead, as in the rest of a run.
    """
    with tempfile.TemporaryDirectory() as folder:
        paths = RunPaths(Path(folder) / "sae", Path(folder) / "work")
        sae = make_training_sae(config, cache.d_in, loaded.name)
        trainer = make_trainer(config, sae, "cpu")
        trainer.data_provider = ActivationStream(
            cache, config.batch_size, config.seed, config.data.buffer_shards
        )
        evaluator = SAEEvaluator(loaded, cache, config, detector)
        tracker = start_tracking(config.tracking.wandb_mode, "bench", "bench", {}, paths.work)
        train_steps(
            trainer, config, evaluator, tracker, paths, progress=False, until_step=warmup_steps
        )
        start = time.perf_counter()
        train_steps(
            trainer,
            config,
            evaluator,
            tracker,
            paths,
            progress=False,
            until_step=warmup_steps + steps,
        )
        seconds = time.perf_counter() - start
        tracker.finish()
    return {
        "tokens_per_second": steps * config.batch_size / seconds,
        "seconds": seconds,
        "evaluations": count_multiples(warmup_steps, steps, config.tracking.eval_every),
        "checkpoints": count_multiples(warmup_steps, steps, config.checkpoint_every),
        "dead_mask": trainer.dead_neurons.clone(),
    }


def count_multiples(first: int, count: int, every: int) -> int:
    """Count the step numbers in (first, first + count] that are multiples of `every`."""
    return (first + count) // every - first // every


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="configs/sae/organism.yaml")
    parser.add_argument(
        "--steps",
        type=int,
        default=1000,
        help="steps of the full loop; cover eval_every and checkpoint_every to include them",
    )
    parser.add_argument(
        "--warmup-steps",
        type=int,
        default=300,
        help="untimed steps first; exceed the dead-feature window (max(50, steps / 10))",
    )
    parser.add_argument("--bare-steps", type=int, default=300, help="steps of the bare SAE step")
    args = parser.parse_args()
    config = load_config(SAETrainingConfig, args.config)
    loaded = load_model(config.model)
    detector = PhaseDetector(loaded.tokenizer, scorer=config.tracking.phase_scorer)
    cache = open_or_build_cache(loaded, config.hook_name, config.data, config.seed, detector)

    full = full_loop_tokens_per_second(
        config, loaded, detector, cache, args.warmup_steps, args.steps
    )
    dead_mask = full.pop("dead_mask")
    bare = bare_step_tokens_per_second(config, cache.load_shard(0), dead_mask, args.bare_steps)
    no_dead = torch.zeros_like(dead_mask)
    bare_no_dead = bare_step_tokens_per_second(
        config, cache.load_shard(0), no_dead, args.bare_steps
    )
    gflops = matmul_gflops()
    # Encoder and decoder: one d_in x d_sae matmul each, 2 flops per multiply-add forward and
    # twice that backward, so 12 d_in d_sae flops per token.
    step_flops_per_token = 12 * config.d_sae * cache.d_in
    print(
        json.dumps(
            {
                "config": args.config,
                "architecture": config.architecture,
                "d_sae": config.d_sae,
                "batch_size": config.batch_size,
                "full_loop_steps": args.steps,
                "bare_steps": args.bare_steps,
                "threads": torch.get_num_threads(),
                "matmul_gflops": round(gflops, 1),
                "warmup_steps": args.warmup_steps,
                "bare_step_tokens_per_second": round(bare),
                "bare_step_tokens_per_second_no_dead_features": round(bare_no_dead),
                "bare_step_gflops": round(bare * step_flops_per_token / 1e9, 1),
                "full_loop_tokens_per_second": round(full["tokens_per_second"]),
                "full_loop_seconds": round(full["seconds"], 1),
                "full_loop_evaluations": full["evaluations"],
                "full_loop_checkpoints": full["checkpoints"],
                "dead_features_in_both": int(dead_mask.sum()),
                "full_over_bare": round(full["tokens_per_second"] / bare, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
