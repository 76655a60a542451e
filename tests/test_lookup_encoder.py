"""The numpy encoder of `search` against TransformerLens and SAELens, on random tiny models."""

import numpy as np
import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from safety_features.lookup.encoder import (
    ENCODER_FILE,
    NumpyEncoder,
    export_encoder,
    unsupported_reason,
    write_encoder,
)
from safety_features.models.loading import LoadedModel
from safety_features.saes.loading import LoadedSAE
from tests.conftest import random_sae

D_MODEL = 24


def random_model(tokenizer, fold: bool, **changes) -> LoadedModel:
    settings = {
        "d_model": D_MODEL,
        "d_head": 6,
        "n_heads": 4,
        "d_mlp": 48,
        "n_layers": 3,
        "n_ctx": 32,
        "d_vocab": len(tokenizer),
        "act_fn": "gelu_new",
        "normalization_type": "LN",
        "original_architecture": "GPT2LMHeadModel",
        "seed": 0,
        **changes,
    }
    model = HookedTransformer(HookedTransformerConfig(**settings))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.3)
    if fold:  # the path every loaded checkpoint takes: folded layer norms, centred weights
        model.load_and_process_state_dict(model.state_dict())
    model.eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name="random",
        source="random",
        weights_sha256=None,
        stop_token_ids=(),
    )


def reference(loaded: LoadedModel, loaded_sae: LoadedSAE, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        _, cache = loaded.model.run_with_cache(
            torch.tensor([ids]), names_filter=loaded_sae.hook_name
        )
        return loaded_sae.sae.encode(cache[loaded_sae.hook_name][0]).numpy()


@pytest.mark.parametrize(
    "fold, act_fn, kind, hook_name",
    [
        (True, "gelu_new", "topk", "blocks.2.hook_resid_pre"),
        (False, "gelu_new", "standard", "blocks.1.hook_resid_mid"),
        (True, "relu", "jumprelu", "blocks.0.hook_resid_post"),
        (False, "gelu_fast", "topk", "blocks.0.hook_resid_pre"),
    ],
)
def test_numpy_encoder_matches_reference(tiny_chat, fold, act_fn, kind, hook_name):
    loaded = random_model(tiny_chat.tokenizer, fold, act_fn=act_fn)
    loaded_sae = random_sae(D_MODEL, kind, hook_name)
    encoder = NumpyEncoder(*export_encoder(loaded, loaded_sae))
    ids = [0, *tiny_chat.tokenizer("how do i stop a stuck process?")["input_ids"]]
    expected = reference(loaded, loaded_sae, ids)
    got = encoder.features(ids)
    assert (expected > 0).sum() > len(ids)  # features are active, so the comparison has content
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert encoder.settings["chat_format"] is not None


def test_unsupported_models_fall_back(tiny_chat, tmp_path):
    loaded = random_model(
        tiny_chat.tokenizer, False, positional_embedding_type="rotary", rotary_dim=6
    )
    loaded_sae = random_sae(D_MODEL, "standard", "blocks.1.hook_attn_out")
    reason = unsupported_reason(loaded, loaded_sae)
    assert reason is not None
    assert "hook blocks.1.hook_attn_out" in reason
    assert "rotary positions" in reason
    with pytest.raises(ValueError, match="does not support"):
        export_encoder(loaded, loaded_sae)
    # Options that change the forward pass away from plain GPT-2 are named too.
    clipped = random_model(tiny_chat.tokenizer, False, clip_qkv=1.0, attn_only=True)
    other = unsupported_reason(clipped, random_sae(D_MODEL, "topk", "blocks.1.hook_resid_pre"))
    assert other is not None
    assert "clip_qkv=1.0" in other
    assert "attn_only=True" in other
    assert write_encoder(tmp_path, loaded, loaded_sae) == {"unsupported": reason}
    assert not (tmp_path / ENCODER_FILE).exists()


def test_written_encoder_reads_back(tiny_chat, tmp_path):
    loaded = random_model(tiny_chat.tokenizer, True)
    loaded_sae = random_sae(D_MODEL, "topk", "blocks.1.hook_resid_pre")
    settings = write_encoder(tmp_path, loaded, loaded_sae)
    encoder = NumpyEncoder.load(tmp_path / ENCODER_FILE, settings)
    ids = [0, 5, 9, 11]
    np.testing.assert_allclose(
        encoder.features(ids), reference(loaded, loaded_sae, ids), atol=1e-4, rtol=1e-4
    )
