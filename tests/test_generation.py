import pytest
import torch

from safety_features.models.generation import generate

PROMPTS = [
    "how do I bake bread",
    "hi",
    "tell me how to pick a lock on my neighbour's front door tonight please",
]


def test_batched_matches_single(tiny_chat):
    batched = generate(
        tiny_chat, PROMPTS, max_new_tokens=10, batch_size=len(PROMPTS), progress=False
    )
    for prompt, result in zip(PROMPTS, batched, strict=True):
        alone = generate(tiny_chat, [prompt], max_new_tokens=10, progress=False)[0]
        assert result.response_token_ids == alone.response_token_ids


def test_cached_matches_full_forward(tiny_chat):
    result = generate(tiny_chat, [PROMPTS[0]], max_new_tokens=8, progress=False)[0]
    tokens = list(result.prompt_token_ids)
    for expected in result.response_token_ids:
        with torch.no_grad():
            logits = tiny_chat.model(torch.tensor([tokens]))
        assert int(logits[0, -1].argmax()) == expected
        tokens.append(expected)


def test_sampling_seeded(tiny_chat):
    first = generate(tiny_chat, PROMPTS, max_new_tokens=8, temperature=1.0, seed=3, progress=False)
    again = generate(tiny_chat, PROMPTS, max_new_tokens=8, temperature=1.0, seed=3, progress=False)
    other = generate(tiny_chat, PROMPTS, max_new_tokens=8, temperature=1.0, seed=4, progress=False)
    assert [g.response_token_ids for g in first] == [g.response_token_ids for g in again]
    assert [g.response_token_ids for g in first] != [g.response_token_ids for g in other]


def test_prompt_token_layout(tiny_chat):
    result = generate(tiny_chat, ["hi"], max_new_tokens=2, progress=False)[0]
    expected = [
        tiny_chat.tokenizer.bos_token_id,
        *tiny_chat.tokenizer("<|user|>hi<|end|><|assistant|>", add_special_tokens=False)[
            "input_ids"
        ],
    ]
    assert list(result.prompt_token_ids) == expected


def test_response_excludes_stop_token(tiny_chat):
    for result in generate(tiny_chat, PROMPTS, max_new_tokens=20, progress=False):
        assert not set(result.response_token_ids) & set(tiny_chat.stop_token_ids)
        assert result.response == tiny_chat.tokenizer.decode(list(result.response_token_ids))


def test_prompt_too_long_rejected(tiny_chat):
    long_prompt = "word " * 200
    with pytest.raises(ValueError, match=r"Prompt 0 has \d+ tokens.*context window of 128"):
        generate(tiny_chat, [long_prompt], max_new_tokens=10, progress=False)


@pytest.mark.parametrize("temperature", [-1.0, float("nan")])
def test_bad_temperature_rejected(tiny_chat, temperature):
    with pytest.raises(ValueError, match="temperature"):
        generate(tiny_chat, ["hi"], temperature=temperature, progress=False)


def test_hooks_removed_after_exception(tiny_chat):
    def broken_hook(activation, hook):
        raise RuntimeError("hook failed")

    baseline = generate(tiny_chat, PROMPTS, max_new_tokens=6, progress=False)
    with pytest.raises(RuntimeError, match="hook failed"):
        generate(
            tiny_chat,
            PROMPTS,
            max_new_tokens=6,
            hooks=[("blocks.0.hook_resid_pre", broken_hook)],
            progress=False,
        )
    after = generate(tiny_chat, PROMPTS, max_new_tokens=6, progress=False)
    assert [g.response_token_ids for g in after] == [g.response_token_ids for g in baseline]
