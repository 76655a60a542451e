"""Interventions on the residual stream: every hook the toolkit registers is built here.

Four interventions, each acting at chosen positions of one hook (`AblateDirection` at several):

    ClampFeatures     x' = x + sum_i (v_i - f_i(x)) D_i        (= decode(f') + error term)
    SteerFeatures     x' = x + sum_i c_i W_dec[i]
    AddDirection      x' = x + c r
    AblateDirection   x' = x - (x . r_hat) r_hat

where f = encode(x) are the SAE's feature activations, f' equals f except f'_i = v_i, and the
error term x - decode(f) is kept, so a clamp moves x only along the clamped features' decoder
rows D_i = decode(e_i) - decode(0) (W_dec[i], or W_dec[i] / |W_dec[i]| for SAEs that rescale
activations by decoder norm). When the SAE's decode is affine, `ClampFeatures` computes the first form with the rows
decode(e_i) - decode(0) and reads only the clamped features' activations (for standard,
JumpReLU and TopK SAEs, `selected_feature_reader`); otherwise it uses
decode(f') + (x - decode(f)) (SAEs with activation normalisation).

Positions are named by response index r: the position that predicts response token r. The last
prompt position has r = 0, earlier prompt positions r < 0, and the generated token j sits at
r = j + 1. So:

    "all"          every position (BOS included)
    "prompt"       r <= 0, BOS excluded
    "generated"    r >= 1: positions holding generated tokens; this leaves the first response
                   token unsteered, because it is predicted at r = 0
    "response"     r >= 0: every position that predicts a response token
    "last_prompt"  r == 0
    OnsetWindow(a, b)  onset + a <= r <= onset + b, for the onset (a response token index) given
                   per prompt; rows without an onset are left alone

Response indices depend only on the token's place in its own prompt and response, never on
padding or on whether the KV cache is used, so a steered prompt gets the same tokens alone, in a
left-padded batch, and with or without the cache. A forward pass learns the indices of its
positions from a `TokenLayout`, which `generate` keeps up to date pass by pass; a caller running
the model on whole transcripts builds one with `TokenLayout.for_transcripts`.

`intervene` registers the hooks and removes them on exit, also after an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch
from jaxtyping import Bool, Float, Int

from safety_features.models.loading import LoadedModel
from safety_features.saes.loading import LoadedSAE, check_sae_fits

PositionName = Literal["all", "prompt", "generated", "response", "last_prompt"]
POSITION_NAMES = ("all", "prompt", "generated", "response", "last_prompt")
ForwardHook = tuple[str, Callable]


class InterventionError(ValueError):
    """An intervention that cannot run on this model, SAE or input."""


@dataclass(frozen=True)
class OnsetWindow:
    """Positions predicting response tokens onset + start to onset + end (both included)."""

    start: int = -4
    end: int = 0

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise InterventionError(
                f"OnsetWindow(start={self.start}, end={self.end}) is empty: start must be <= end."
            )


Positions = PositionName | OnsetWindow


def check_positions(positions: Positions) -> None:
    if not isinstance(positions, OnsetWindow) and positions not in POSITION_NAMES:
        raise InterventionError(
            f"positions={positions!r} is invalid: use one of {', '.join(POSITION_NAMES)} "
            "or an OnsetWindow."
        )


NO_ONSET = -(10**9)


@dataclass
class TokenLayout:
    """Where the positions of the forward pass now running sit in their prompts and responses.

    For row b and position p of the pass, the response index is first[b] + p; positions before
    left_pad[b] or from left_pad[b] + length[b] on are padding. `rows` maps batch rows to
    prompt numbers for `onsets`, the onset response index of each prompt (NO_ONSET for none).
    """

    first: Int[torch.Tensor, " batch"] | None = None
    left_pad: Int[torch.Tensor, " batch"] | None = None
    length: Int[torch.Tensor, " batch"] | None = None
    rows: Int[torch.Tensor, " batch"] | None = None
    onsets: Int[torch.Tensor, " prompts"] | None = None
    has_bos: bool = True

    @classmethod
    def for_transcripts(
        cls,
        prompt_lengths: Sequence[int],
        lengths: Sequence[int],
        onsets: Sequence[int | None] | None = None,
        has_bos: bool = True,
    ) -> TokenLayout:
        """Layout of right-padded transcripts (prompt tokens, then response tokens) in one pass."""
        layout = cls(has_bos=has_bos)
        layout.set_onsets(onsets)
        layout.start_pass(
            first=torch.tensor([1 - n for n in prompt_lengths]),
            left_pad=torch.zeros(len(lengths), dtype=torch.long),
            length=torch.tensor(list(lengths)),
            rows=torch.arange(len(lengths)),
        )
        return layout

    def set_onsets(self, onsets: Sequence[int | None] | None) -> None:
        self.onsets = (
            None
            if onsets is None
            else torch.tensor([NO_ONSET if t is None else t for t in onsets], dtype=torch.long)
        )

    def start_pass(
        self,
        first: torch.Tensor,
        left_pad: torch.Tensor,
        length: torch.Tensor | None,
        rows: torch.Tensor,
    ) -> None:
        self.first, self.left_pad, self.length, self.rows = first, left_pad, length, rows

    def mask(
        self, positions: Positions, batch: int, width: int, device: torch.device
    ) -> Bool[torch.Tensor, "batch pos"]:
        """Positions of a [batch, width] pass that `positions` selects."""
        if positions == "all":
            return torch.ones((batch, width), dtype=torch.bool, device=device)
        if self.first is None or self.left_pad is None or self.rows is None:
            raise InterventionError(
                f"positions={positions!r} needs to know where each prompt ends: generate with "
                "`generate(..., interventions=...)`, or pass `TokenLayout.for_transcripts(...)` "
                "to `intervene`."
            )
        if self.first.shape[0] != batch:
            raise InterventionError(
                f"The token layout describes {self.first.shape[0]} rows but the forward pass has "
                f"{batch}: build the layout for the batch you run."
            )
        place = torch.arange(width, device=device)[None, :]
        index = self.first.to(device)[:, None] + place
        real = place >= self.left_pad.to(device)[:, None]
        if self.length is not None:
            real &= place < (self.left_pad + self.length).to(device)[:, None]
        if self.has_bos:
            # A pass that starts in the prompt starts at BOS: the row's first real position.
            starts_prompt = (self.first <= 0).to(device)[:, None]
            real &= ~(starts_prompt & (place == self.left_pad.to(device)[:, None]))
        return real & self.select(positions, index, device)

    def select(self, positions: Positions, index: torch.Tensor, device: torch.device):
        if positions == "prompt":
            return index <= 0
        if positions == "generated":
            return index >= 1
        if positions == "response":
            return index >= 0
        if positions == "last_prompt":
            return index == 0
        assert isinstance(positions, OnsetWindow)
        if self.onsets is None or self.rows is None:
            raise InterventionError(
                "An OnsetWindow needs the onset of each prompt: pass `onsets=` to `generate`, "
                "or to `TokenLayout.for_transcripts`."
            )
        onset = self.onsets.to(device)[self.rows.to(device)][:, None]
        return (
            (onset != NO_ONSET)
            & (index >= onset + positions.start)
            & (index <= onset + positions.end)
        )


@dataclass(frozen=True, kw_only=True)
class Intervention:
    """An edit of the activations at `hook_names`, at the positions `positions` selects."""

    positions: Positions = "all"

    @property
    def hook_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def check(self, loaded: LoadedModel) -> None:
        """Raise InterventionError if this intervention cannot run on `loaded`."""
        check_positions(self.positions)
        for name in self.hook_names:
            if name not in loaded.model.hook_dict:
                raise InterventionError(
                    f"Hook {name!r} does not exist in {loaded.name}; use a hook name such as "
                    "blocks.0.hook_resid_pre."
                )

    def edit(
        self, activation: Float[torch.Tensor, "batch pos d_in"], hook_name: str
    ) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> dict:
        """Describe this intervention as a JSON-ready record, for run manifests."""
        positions = self.positions
        return {
            "kind": type(self).__name__,
            "hook_names": list(self.hook_names),
            "positions": positions
            if isinstance(positions, str)
            else {"onset_window": [positions.start, positions.end]},
        }


def check_values(name: str, values: Sequence[float]) -> None:
    for value in values:
        if not math.isfinite(value):
            raise InterventionError(f"{name} value {value} is invalid: use a finite number.")


def check_feature_ids(feature_ids: Sequence[int], d_sae: int) -> None:
    for feature in feature_ids:
        if not 0 <= feature < d_sae:
            raise InterventionError(
                f"Feature id {feature} is out of range: this SAE has features 0 to {d_sae - 1}."
            )


@dataclass(frozen=True, kw_only=True)
class SAEIntervention(Intervention):
    loaded_sae: LoadedSAE
    feature_ids: tuple[int, ...]

    def __post_init__(self) -> None:
        check_positions(self.positions)
        check_feature_ids(self.feature_ids, self.sae.cfg.d_sae)

    @property
    def sae(self):
        return self.loaded_sae.sae

    @property
    def hook_names(self) -> tuple[str, ...]:
        return (self.loaded_sae.hook_name,)

    def check(self, loaded: LoadedModel) -> None:
        super().check(loaded)
        check_sae_fits(self.loaded_sae, loaded)

    def rows(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return self.sae.W_dec[list(self.feature_ids)].to(device=device, dtype=dtype)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "sae": str(self.loaded_sae.path),
            "feature_ids": list(self.feature_ids),
        }


def decoder_change_rows(sae, feature_ids: Sequence[int]) -> torch.Tensor | None:
    """Rows D_j = decode(e_j) - decode(0) for the given features, or None when decode is not
    affine (activation normalisation), checked on random feature vectors."""
    if getattr(sae.cfg, "normalize_activations", "none") not in ("none", None):
        # SAELens rescales the input in encode, and some normalisations undo it in decode with
        # the last encoded input's statistics, so decode alone is not a fixed affine map.
        return None
    with torch.no_grad():
        d_sae = sae.cfg.d_sae
        zero = sae.decode(torch.zeros(1, d_sae, dtype=sae.W_dec.dtype, device=sae.W_dec.device))
        generator = torch.Generator().manual_seed(0)
        a, b = torch.rand(2, 1, d_sae, generator=generator).to(sae.W_dec)
        if not torch.allclose(
            sae.decode(a + b) + zero, sae.decode(a) + sae.decode(b), rtol=1e-4, atol=1e-4
        ):
            return None
        units = torch.zeros(len(feature_ids), d_sae, dtype=sae.W_dec.dtype, device=sae.W_dec.device)
        units[torch.arange(len(feature_ids)), list(feature_ids)] = 1.0
        return sae.decode(units) - zero


class TopKFeatureReader:
    """The activations of a few features of a TopK SAE, without the full encoder product for
    most rows.

    A TopK feature is active when its pre-activation reaches the k-th largest of its row. The
    k-th largest within any subset of the features is at most that value. So when a row's chosen
    pre-activations all fall below it for a small probe subset, none of them is active, and only
    the other rows need every pre-activation. The probe subset is the `n_probe` features
    (default d_sae / 8) most often active in the first batch read (in generation, the prompt
    pass). Its choice changes the speed, never the result.
    """

    def __init__(self, sae, feature_ids: Sequence[int], n_probe: int | None = None) -> None:
        cfg = sae.cfg
        with torch.no_grad():
            b_in = sae.b_dec * cfg.apply_b_dec_to_input
            scale = (
                sae.W_dec.norm(dim=-1)
                if cfg.rescale_acts_by_decoder_norm
                else torch.ones_like(sae.b_enc)
            )
            # ((x - b_in) W_enc + b_enc) * scale, the pre-activation, as one affine map of x.
            self.weight = (sae.W_enc * scale).detach()
            self.bias = ((sae.b_enc - b_in @ sae.W_enc) * scale).detach()
        self.ids = list(feature_ids)
        # Each feature appears once among the probe columns, because a repeated column would
        # count twice and could lift the subset's k-th largest above the true one.
        self.unique_ids = list(dict.fromkeys(self.ids))
        self.k = int(cfg.k)
        self.n_probe = n_probe if n_probe is not None else max(self.k, cfg.d_sae // 8)
        self.probe_weight: torch.Tensor | None = None
        self.probe_bias: torch.Tensor | None = None

    def full(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the chosen features' activations from every pre-activation, and the indices
        of each row's k largest pre-activations."""
        hidden = torch.addmm(self.bias, rows, self.weight)
        top = torch.topk(hidden, self.k, dim=-1, sorted=False)
        kth = top.values.amin(-1, keepdim=True)
        chosen = hidden[:, self.ids]
        # NOTE: a pre-activation tied with the k-th largest counts as active here, while
        # torch.topk keeps only k of the tied values. Exact ties are unlikely in float.
        return torch.where(chosen >= kth, chosen.relu(), torch.zeros_like(chosen)), top.indices

    def choose_probe(self, top_indices: torch.Tensor) -> None:
        """Choose as probe features the ones that appear most often among the rows' k largest
        pre-activations."""
        counts = torch.bincount(top_indices.flatten(), minlength=self.weight.shape[1])
        counts[self.unique_ids] = -1  # the chosen features join the probe columns first
        n_probe = min(self.n_probe, counts.shape[0] - len(self.unique_ids))
        probe = torch.topk(counts, n_probe).indices.tolist()
        if len(self.unique_ids) + len(probe) >= self.k:
            columns = self.unique_ids + probe
            self.probe_weight = self.weight[:, columns].contiguous()
            self.probe_bias = self.bias[columns].contiguous()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).to(self.weight.dtype)
        if self.probe_weight is None or self.probe_bias is None:
            result, top_indices = self.full(rows)
            self.choose_probe(top_indices)
            return result.reshape(*x.shape[:-1], len(self.ids))
        probe = torch.addmm(self.probe_bias, rows, self.probe_weight)
        bound = torch.topk(probe, self.k, dim=-1, sorted=False).values.amin(-1, keepdim=True)
        unsure = (probe[:, : len(self.unique_ids)] >= bound).any(dim=-1)
        result = torch.zeros(rows.shape[0], len(self.ids), dtype=rows.dtype, device=rows.device)
        if bool(unsure.any()):
            result[unsure] = self.full(rows[unsure])[0]
        return result.reshape(*x.shape[:-1], len(self.ids))


def selected_feature_reader(
    sae, feature_ids: Sequence[int]
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Build a function that returns the activations of `feature_ids` alone, [..., n_ids].

    It computes what SAELens' `encode` computes for standard (ReLU), JumpReLU and TopK SAEs
    without input normalisation, and returns None for any other SAE. Standard and JumpReLU
    features need only their own encoder columns; TopK features use `TopKFeatureReader`.
    """
    cfg = sae.cfg
    architecture = cfg.architecture()
    if (
        architecture not in ("standard", "jumprelu", "topk")
        or cfg.normalize_activations != "none"
        or getattr(cfg, "reshape_activations", "none") != "none"
    ):
        return None
    if architecture == "topk":
        return TopKFeatureReader(sae, feature_ids)
    ids = list(feature_ids)
    dtype = sae.W_enc.dtype
    with torch.no_grad():
        b_in = (sae.b_dec * cfg.apply_b_dec_to_input).detach()
        columns, bias = sae.W_enc[:, ids].detach(), sae.b_enc[ids].detach()
        threshold = sae.threshold[ids].detach() if architecture == "jumprelu" else None

    def read_columns(x: torch.Tensor) -> torch.Tensor:
        hidden = (x.to(dtype) - b_in) @ columns + bias
        active = hidden.relu()
        if threshold is not None:
            active = active * (hidden > threshold).to(active.dtype)
        return active

    return read_columns


@dataclass(frozen=True, kw_only=True)
class ClampFeatures(SAEIntervention):
    """Set SAE features to fixed values, keeping the SAE's error term."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.feature_ids) != len(self.values):
            raise InterventionError(
                f"ClampFeatures has {len(self.feature_ids)} feature ids but {len(self.values)} "
                "values: give one value per feature."
            )
        repeated = sorted({f for f in self.feature_ids if self.feature_ids.count(f) > 1})
        if repeated:
            raise InterventionError(
                f"ClampFeatures lists feature ids {repeated} more than once: a feature takes one "
                "value, so list each feature once."
            )
        check_values("Clamp", self.values)

    @cached_property
    def change_rows(self) -> torch.Tensor | None:
        return decoder_change_rows(self.sae, self.feature_ids)

    @cached_property
    def read_features(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The clamped features' activations: `selected_feature_reader`, or the full encode."""
        reader = selected_feature_reader(self.sae, self.feature_ids)
        if reader is not None:
            return reader
        ids = list(self.feature_ids)
        return lambda x: self.sae.encode(x.to(self.sae.W_dec.dtype))[..., ids]

    def edit(self, activation: torch.Tensor, hook_name: str) -> torch.Tensor:
        sae = self.sae
        rows = self.change_rows
        if rows is not None:  # decode is affine: only the clamped features' rows move
            current = self.read_features(activation)
            values = torch.tensor(self.values, dtype=current.dtype, device=current.device)
            change = (values - current) @ rows
            return activation + change.to(activation.dtype)
        x = activation.to(sae.W_dec.dtype)
        features = sae.encode(x)
        values = torch.tensor(self.values, dtype=features.dtype, device=features.device)
        error = x - sae.decode(features)
        features[..., list(self.feature_ids)] = values
        # SAELens keeps the input's normalisation statistics from encode for one decode and
        # then drops them, so encode again before the second decode.
        sae.encode(x)
        return (sae.decode(features) + error).to(activation.dtype)

    def describe(self) -> dict:
        return {**super().describe(), "values": list(self.values)}


@dataclass(frozen=True, kw_only=True)
class SteerFeatures(SAEIntervention):
    """Add each feature's decoder row times its coefficient."""

    coefficients: tuple[float, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.feature_ids) != len(self.coefficients):
            raise InterventionError(
                f"SteerFeatures has {len(self.feature_ids)} feature ids but "
                f"{len(self.coefficients)} coefficients: give one coefficient per feature."
            )
        check_values("Steering coefficient", self.coefficients)

    def edit(self, activation: torch.Tensor, hook_name: str) -> torch.Tensor:
        coefficients = torch.tensor(
            self.coefficients, dtype=activation.dtype, device=activation.device
        )
        return activation + coefficients @ self.rows(activation.dtype, activation.device)

    def describe(self) -> dict:
        return {**super().describe(), "coefficients": list(self.coefficients)}


def check_direction(direction: torch.Tensor) -> None:
    if direction.ndim != 1 or not bool(torch.isfinite(direction).all()):
        raise InterventionError(
            f"The direction must be one finite vector of size d_model; got shape "
            f"{tuple(direction.shape)} with finite={bool(torch.isfinite(direction).all())}."
        )
    if float(direction.norm()) == 0.0:
        raise InterventionError("The direction is the zero vector: it has no orientation.")


@dataclass(frozen=True, kw_only=True)
class DirectionIntervention(Intervention):
    direction: Float[torch.Tensor, " d_model"]

    def check(self, loaded: LoadedModel) -> None:
        super().check(loaded)
        if self.direction.shape[0] != loaded.model.cfg.d_model:
            raise InterventionError(
                f"The direction has size {self.direction.shape[0]} but {loaded.name} has d_model "
                f"{loaded.model.cfg.d_model}: compute it on this model."
            )

    def describe(self) -> dict:
        return {**super().describe(), "direction_norm": float(self.direction.norm())}


@dataclass(frozen=True, kw_only=True)
class AddDirection(DirectionIntervention):
    """Add `coefficient` times `direction` (not normalised) at one hook."""

    hook_name: str
    coefficient: float = 1.0

    def __post_init__(self) -> None:
        check_positions(self.positions)
        check_direction(self.direction)
        check_values("Direction coefficient", [self.coefficient])

    @property
    def hook_names(self) -> tuple[str, ...]:
        return (self.hook_name,)

    def edit(self, activation: torch.Tensor, hook_name: str) -> torch.Tensor:
        return activation + self.coefficient * self.direction.to(activation)

    def describe(self) -> dict:
        return {**super().describe(), "coefficient": self.coefficient}


@dataclass(frozen=True, kw_only=True)
class AblateDirection(DirectionIntervention):
    """Project `direction` out of the activations at every hook in `hooks`."""

    hooks: tuple[str, ...]

    def __post_init__(self) -> None:
        check_positions(self.positions)
        check_direction(self.direction)
        if not self.hooks:
            raise InterventionError(
                "AblateDirection needs hooks=, for example every block's hook_resid_pre."
            )

    @property
    def hook_names(self) -> tuple[str, ...]:
        return self.hooks

    def edit(self, activation: torch.Tensor, hook_name: str) -> torch.Tensor:
        unit = (self.direction / self.direction.norm()).to(activation)
        return activation - (activation @ unit)[..., None] * unit


def residual_hooks(loaded: LoadedModel) -> tuple[str, ...]:
    """Every hook where the residual stream can be read or written: the input of each block,
    between attention and MLP, and the output of the last block."""
    n_layers = loaded.model.cfg.n_layers
    hooks = [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)]
    hooks += [f"blocks.{layer}.hook_resid_mid" for layer in range(n_layers)]
    hooks.append(f"blocks.{n_layers - 1}.hook_resid_post")
    return tuple(h for h in hooks if h in loaded.model.hook_dict)


def check_interventions(loaded: LoadedModel, interventions: Sequence[Intervention]) -> None:
    for intervention in interventions:
        intervention.check(loaded)


def intervention_hooks(
    interventions: Sequence[Intervention], layout: TokenLayout
) -> list[ForwardHook]:
    """Build one forward hook per (intervention, hook name), editing the positions `layout` selects."""
    hooks = []
    for intervention in interventions:
        for name in intervention.hook_names:
            hooks.append((name, edit_hook(intervention, layout)))
    return hooks


def edit_hook(intervention: Intervention, layout: TokenLayout) -> Callable:
    def apply(activation: Float[torch.Tensor, "batch pos d_in"], hook) -> torch.Tensor:
        where = layout.mask(
            intervention.positions, activation.shape[0], activation.shape[1], activation.device
        )
        if not bool(where.any()):
            return activation
        if bool(where.all()):
            return intervention.edit(activation, hook.name)
        edited = activation.clone()
        edited[where] = intervention.edit(activation[where], hook.name)
        return edited

    return apply


@contextmanager
def intervene(
    loaded: LoadedModel,
    interventions: Sequence[Intervention],
    layout: TokenLayout | None = None,
    extra_hooks: Sequence[ForwardHook] = (),
) -> Iterator[TokenLayout]:
    """Apply `interventions` (and `extra_hooks`) to every forward pass inside the block.

    Yields the TokenLayout the hooks read; `generate` updates it before each pass. Hooks are
    removed on exit, also after an exception.
    """
    check_interventions(loaded, interventions)
    layout = layout or TokenLayout()
    hooks: list = [*intervention_hooks(interventions, layout), *extra_hooks]
    with loaded.model.hooks(fwd_hooks=hooks):
        yield layout


def splice_hook(
    sae, hook_name: str, keep: torch.Tensor | None = None, leave_alone: torch.Tensor | None = None
) -> ForwardHook:
    """Build a hook that replaces activations by the SAE's reconstruction decode(encode(x)).

    With `keep` (a [batch, pos] bool mask matching the hooked forward pass), only those
    positions are replaced. With `leave_alone` (a [d_in] vector, such as the BOS position's
    activation), positions whose activation equals it are kept as they are, which works
    during generation where padding moves the BOS position from row to row.
    """

    def apply(activation: Float[torch.Tensor, "batch pos d_in"], hook) -> torch.Tensor:
        replace = torch.ones(activation.shape[:2], dtype=torch.bool, device=activation.device)
        if keep is not None:
            replace &= keep.to(activation.device)
        if leave_alone is not None:
            same = torch.isclose(activation, leave_alone.to(activation), rtol=1e-4, atol=1e-4)
            replace &= ~same.all(dim=-1)
        reconstruction = sae.decode(sae.encode(activation))
        return torch.where(replace[..., None], reconstruction.to(activation.dtype), activation)

    return hook_name, apply


def zero_ablation_hook(hook_name: str, keep: torch.Tensor) -> ForwardHook:
    """Build a hook that sets the activations at the `keep` positions ([batch, pos]) to zero."""

    def apply(activation: Float[torch.Tensor, "batch pos d_in"], hook) -> torch.Tensor:
        return activation.masked_fill(keep.to(activation.device)[..., None], 0.0)

    return hook_name, apply
