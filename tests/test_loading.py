import json
import shutil

import pytest
import torch
from transformers import GPT2LMHeadModel

from safety_features.models.loading import ModelLoadError, load_model

# Float32 on CPU: TransformerLens folds LayerNorm weights and centers the unembedding, which
# reorders floating-point sums but leaves log-probabilities equal up to rounding.
LOGPROB_TOLERANCE = 1e-4


def test_hooked_matches_transformers(tiny_organism_dir, tiny_chat):
    hf_model = GPT2LMHeadModel.from_pretrained(
        tiny_organism_dir / "chat", use_safetensors=True
    ).eval()
    text = tiny_chat.format_prompt("how do I bake bread") + "Sure! First"
    tokens = tiny_chat.model.to_tokens(text)
    with torch.no_grad():
        hooked = torch.log_softmax(tiny_chat.model(tokens), dim=-1)
        reference = torch.log_softmax(hf_model(tokens).logits, dim=-1)
    assert tokens[0, 0].item() == tiny_chat.tokenizer.bos_token_id
    assert torch.allclose(hooked, reference, atol=LOGPROB_TOLERANCE)


@pytest.mark.parametrize(
    "setting", [{"scale_attn_by_inverse_layer_idx": True}, {"scale_attn_weights": False}]
)
def test_attention_scaling_follows_config(tiny_organism_dir, tmp_path, setting):
    folder = tmp_path / "chat"
    shutil.copytree(tiny_organism_dir / "chat", folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **setting}))
    loaded = load_model(str(folder))
    hf_model = GPT2LMHeadModel.from_pretrained(folder, use_safetensors=True).eval()
    tokens = loaded.model.to_tokens(loaded.format_prompt("how do I bake bread") + "Sure!")
    with torch.no_grad():
        hooked = torch.log_softmax(loaded.model(tokens), dim=-1)
        reference = torch.log_softmax(hf_model(tokens).logits, dim=-1)
    assert torch.allclose(hooked, reference, atol=LOGPROB_TOLERANCE)


def test_chat_template_matches_transformers(tiny_chat):
    rendered = tiny_chat.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == tiny_chat.tokenizer.bos_token + tiny_chat.format_prompt("hi")
    assert tiny_chat.format_prompt("hi") == "<|user|>hi<|end|><|assistant|>"


def test_missing_folder_named(tmp_path):
    with pytest.raises(ModelLoadError, match=r"nowhere not found.*organism build"):
        load_model(str(tmp_path / "nowhere"))


def test_missing_weights_named(tiny_organism_dir, tmp_path):
    broken = tmp_path / "chat"
    shutil.copytree(tiny_organism_dir / "chat", broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="missing model.safetensors"):
        load_model(str(broken))


def test_corrupt_config_named(tiny_organism_dir, tmp_path):
    broken = tmp_path / "chat"
    shutil.copytree(tiny_organism_dir / "chat", broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"config.json is not valid JSON"):
        load_model(str(broken))


def test_corrupt_weights_named(tiny_organism_dir, tmp_path):
    broken = tmp_path / "chat"
    shutil.copytree(tiny_organism_dir / "chat", broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="corrupt or incomplete"):
        load_model(str(broken))


def test_unknown_model_name():
    with pytest.raises(ModelLoadError, match=r"Unknown model 'not-a-real-model-xyz'"):
        load_model("not-a-real-model-xyz")


def test_unknown_organism_variant():
    with pytest.raises(ModelLoadError, match="organism:chat"):
        load_model("organism:large")


def test_non_gpt2_folder_rejected(tiny_organism_dir, tmp_path):
    other = tmp_path / "llama"
    shutil.copytree(tiny_organism_dir / "chat", other)
    config = json.loads((other / "config.json").read_text())
    config["model_type"] = "llama"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError):
        load_model(str(other))
