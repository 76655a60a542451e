"""Evaluations of an SAE during and after training, as flat metric dicts for W&B and JSON."""

from __future__ import annotations

from collections import defaultdict

import torch

from safety_features.models.generation import generate
from safety_features.models.loading import LoadedModel
from safety_features.organism.corpus import sample_prompts
from safety_features.phases.detect import PhaseDetector
from safety_features.saes.cache import ActivationCache
from safety_features.saes.config import SAETrainingConfig
from safety_features.saes.metrics import (
    ce_loss_score,
    reconstruction_metrics,
    safety_reconstruction,
)
from safety_features.steering.interventions import splice_hook


class SAEEvaluator:
    """Held-out evaluations of an SAE trained on `cache`: reconstruction, CE-loss score, safety."""

    def __init__(
        self,
        loaded: LoadedModel,
        cache: ActivationCache,
        config: SAETrainingConfig,
        detector: PhaseDetector,
    ) -> None:
        self.loaded = loaded
        self.cache = cache
        self.config = config
        self.detector = detector
        self.eval = cache.eval_activations()
        self.transcripts = cache.eval_transcripts()[: config.tracking.ce_eval_transcripts]

    @torch.no_grad()
    def during_training(self, sae) -> dict[str, float]:
        """Reconstruction and CE-loss metrics on held-out data, under the W&B prefix `eval/`."""
        was_training = sae.training
        sae.eval()
        values = self.reconstruction(sae)
        sae.train(was_training)
        return {f"eval/{key}": value for key, value in values.items()}

    def reconstruction(self, sae) -> dict[str, float]:
        metrics = reconstruction_metrics(sae, self.eval.activations)
        safety = safety_reconstruction(sae, self.eval.activations, self.eval.in_safety_phase)
        ce = ce_loss_score(self.loaded, sae, self.config.hook_name, self.transcripts)
        return {
            **metrics.as_dict(),
            "ce_loss_score": ce.score,
            "ce_loss_clean": ce.ce_clean,
            "ce_loss_with_sae": ce.ce_spliced,
            "ce_loss_zero_ablated": ce.ce_zero_ablated,
            **safety.as_dict(),
        }

    @torch.no_grad()
    def final(self, sae, progress: bool = False) -> dict[str, float]:
        """Everything `during_training` measures, plus the safety-phase rate with the SAE in."""
        values = self.reconstruction(sae)
        values["dead_fraction_training_rows"] = self.dead_fraction_on_training_rows(sae)
        if self.config.tracking.safety_eval_prompts_per_group > 0:
            values.update(self.safety_phase_rates(sae, progress))
        return values

    def dead_fraction_on_training_rows(self, sae, batch_size: int = 4096) -> float:
        """Share of features that fire on none of the cached training activations, one shard
        at a time. Unlike SAELens' dead-feature window, it uses the final weights throughout."""
        fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
        for index in range(len(self.cache.shard_sizes)):
            rows = self.cache.load_shard(index)
            for start in range(0, len(rows), batch_size):
                features = sae.encode(rows[start : start + batch_size].to(sae.W_dec.device))
                fired |= (features > 0).any(dim=0).cpu()
        return 1 - float(fired.float().mean())

    def bos_activation(self) -> torch.Tensor | None:
        """Return the hook's activation at a lone BOS token, which the splice leaves alone."""
        bos = self.loaded.tokenizer.bos_token_id
        if bos is None:
            return None
        tokens = torch.tensor([[bos]], device=self.loaded.model.cfg.device)
        _, cache = self.loaded.model.run_with_cache(tokens, names_filter=self.config.hook_name)
        return cache[self.config.hook_name][0, 0]

    def safety_phase_rates(self, sae, progress: bool) -> dict[str, float]:
        """Share of held-out prompts, overall and per group, whose greedy response has a
        safety phase, without and with the SAE spliced in at every position but BOS."""
        prompts = sample_prompts(
            self.config.seed, "heldout", self.config.tracking.safety_eval_prompts_per_group
        )
        hook = splice_hook(sae, self.config.hook_name, leave_alone=self.bos_activation())
        values: dict[str, float] = {}
        for label, hooks in (("clean", []), ("with_sae", [hook])):
            generations = generate(
                self.loaded,
                [p.text for p in prompts],
                max_new_tokens=self.config.data.max_new_tokens,
                hooks=hooks,
                progress=progress,
                description=f"safety-phase rate, {label.replace('_', ' ')}",
            )
            results = self.detector.detect(
                token_ids=[g.response_token_ids for g in generations],
                prompts=[g.prompt for g in generations],
            )
            by_group: dict[str, list[bool]] = defaultdict(list)
            for prompt, result in zip(prompts, results, strict=True):
                by_group[prompt.group].append(result.has_phase())
            everything = [flag for flags in by_group.values() for flag in flags]
            values[f"safety_phase_rate_{label}"] = sum(everything) / len(everything)
            for group, flags in by_group.items():
                values[f"safety_phase_rate_{label}/{group}"] = sum(flags) / len(flags)
        values["safety_phase_rate_change"] = (
            values["safety_phase_rate_with_sae"] - values["safety_phase_rate_clean"]
        )
        return values
