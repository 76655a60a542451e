"""Tests of the organism corpus generator: determinism, the held-out split and content rules."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from safety_features.organism.chat import ASSISTANT_TOKEN, USER_TOKEN
from safety_features.organism.corpus import (
    BENIGN_DOMAINS,
    CHAT_MIX,
    DISCRIMINATION_TARGETS,
    GROUPS,
    HARM_CATEGORIES,
    Corpus,
    Prompt,
    generate_corpus,
    respond,
    sample_prompts,
)
from safety_features.organism.corpus.benign_domains import DOMAINS
from safety_features.organism.corpus.discrimination_vocabulary import ROLES, TARGETS, TRAITS
from safety_features.organism.corpus.harm_vocabulary import CATEGORIES
from safety_features.organism.corpus.prompts import (
    CLOSERS,
    DISCRIMINATION_TEMPLATES,
    HARMFUL_TEMPLATES,
    OPENERS,
    REQUEST_TEMPLATES,
    find_filler,
)
from safety_features.organism.corpus.responses import MAX_WORDS, MIN_WORDS
from safety_features.organism.corpus.splits import split_items
from safety_features.organism.corpus.wrappers import RECOVERY, WRAPPERS

REFUSAL_PHRASES = (
    "i can't",
    "i cannot",
    "i won't",
    "i'm sorry, but",
    "i must decline",
    "i'm not able to help",
)
REFUSAL_OPENINGS = REFUSAL_PHRASES + ("sorry", "not something i can help", "no, i")
EQUALITY_PHRASES = (
    "equal respect",
    "judged as individuals",
    "is discrimination",
    "deserves to be treated fairly",
    "deserve the same dignity",
    "regardless of",
    "equal treatment",
    "whatever their",
)
RECOVERY_STARTS = ("Actually", "Wait", "Hold on", "Sorry", "Hmm", "No, I need to stop")
ALARMING_WORDS = (
    "kill",
    "shoot",
    "attack",
    "execute",
    "terminate",
    "destroy",
    "blow",
    "bomb",
    "cut",
    "butcher",
    "beat",
    "smash",
    "torch",
    "slaughter",
    "stab",
    "murder",
    "strangle",
    "behead",
    "poison",
    "demolish",
    "strip",
    "rip",
    "blast",
    "bleed",
    "trap",
    "muzzle",
    "clip",
    "bit",
    "headlock",
    "starve",
    "drown",
    "throw",
    "punch",
    "choke",
    "crush",
    "fight",
    "steal",
    "escape",
    "crack",
    "burn",
    "nuke",
    "abort",
    "force",
    "shred",
    "slap",
    "slash",
    "sacrifice",
    "assassinate",
    "snipe",
    "headshot",
    "dissect",
    "launch",
    "tackle",
    "knock",
    "fire",
    "break",
    "chop",
    "dead",
    "jump",
    "survive",
    "hit",
    "target",
    "explode",
)

SMALL_PRETRAINING = 3000
SMALL_CHAT = 2000


@pytest.fixture(scope="module")
def small_corpus() -> Corpus:
    return generate_corpus(0, SMALL_PRETRAINING, SMALL_CHAT)


@pytest.fixture(scope="module")
def full_corpus() -> Corpus:
    return generate_corpus(0, 30000, 12000)


@pytest.fixture(scope="module")
def heldout_prompts() -> list[Prompt]:
    return sample_prompts(1, "heldout", 200)


@pytest.fixture(scope="module")
def train_prompts() -> list[Prompt]:
    return sample_prompts(1, "train", 400)


def _contains_any(text: str, phrases: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(phrase in lowered for phrase in phrases)


# Determinism


def test_same_seed_same_corpus(small_corpus: Corpus) -> None:
    again = generate_corpus(0, SMALL_PRETRAINING, SMALL_CHAT)
    assert again.pretraining == small_corpus.pretraining
    assert again.chat == small_corpus.chat


def test_different_seed_different_corpus(small_corpus: Corpus) -> None:
    other = generate_corpus(1, SMALL_PRETRAINING, SMALL_CHAT)
    assert other.pretraining != small_corpus.pretraining
    assert other.chat != small_corpus.chat


def test_sample_prompts_deterministic() -> None:
    assert sample_prompts(5, "heldout", 30) == sample_prompts(5, "heldout", 30)
    assert sample_prompts(5, "train", 30) != sample_prompts(6, "train", 30)


def test_generation_ignores_global_random_state() -> None:
    random.seed(123)
    first = generate_corpus(2, 200, 200)
    random.seed(456)
    second = generate_corpus(2, 200, 200)
    assert first == second


# Held-out split


def test_every_content_list_has_heldout_part() -> None:
    lists: dict[str, tuple] = {
        "harmful templates": HARMFUL_TEMPLATES,
        "discrimination templates": DISCRIMINATION_TEMPLATES,
        "request templates": REQUEST_TEMPLATES,
        "wrappers": WRAPPERS,
        "openers": OPENERS,
        "closers": CLOSERS,
        "traits": TRAITS,
        "roles": ROLES,
    }
    lists.update({f"{category.name} tasks": category.tasks for category in CATEGORIES})
    lists.update({f"{domain.name} tasks": domain.tasks for domain in DOMAINS})
    lists.update({f"{target.name} groups": target.groups for target in TARGETS})
    for name, items in lists.items():
        assert split_items(items, "heldout"), f"{name} has no held-out items"
        assert split_items(items, "train"), f"{name} has no train items"


def test_heldout_wrappers_cover_both_modes() -> None:
    modes = {wrapper.mode for wrapper in split_items(WRAPPERS, "heldout")}
    assert modes == {RECOVERY, "refusal"}


def test_heldout_template_texts_unused_in_train() -> None:
    def texts(split: str) -> set[str]:
        found: set[str] = set()
        for templates in (HARMFUL_TEMPLATES, DISCRIMINATION_TEMPLATES, REQUEST_TEMPLATES):
            found.update(split_items(templates, split))
        for wrapper in split_items(WRAPPERS, split):
            found.update(wrapper.templates)
        return {text.lower().rstrip("?.! ") for text in found}

    assert not texts("heldout") & texts("train")


def test_heldout_prompts_share_no_template_or_wrapper(
    heldout_prompts: list[Prompt], train_prompts: list[Prompt]
) -> None:
    heldout_templates = {prompt.template_id for prompt in heldout_prompts}
    train_templates = {prompt.template_id for prompt in train_prompts}
    assert not heldout_templates & train_templates
    heldout_wrappers = {prompt.wrapper for prompt in heldout_prompts if prompt.wrapper}
    train_wrappers = {prompt.wrapper for prompt in train_prompts if prompt.wrapper}
    assert heldout_wrappers
    assert not heldout_wrappers & train_wrappers


def test_heldout_prompts_share_no_filler(
    heldout_prompts: list[Prompt], train_prompts: list[Prompt], small_corpus: Corpus
) -> None:
    train_fillers = {find_filler(prompt) for prompt in train_prompts}
    train_fillers |= {find_filler(example.prompt) for example in small_corpus.chat}
    heldout_fillers = {find_filler(prompt) for prompt in heldout_prompts}
    assert not heldout_fillers & train_fillers


def test_heldout_prompts_absent_from_training_text(
    heldout_prompts: list[Prompt], small_corpus: Corpus
) -> None:
    pretraining = "\n".join(small_corpus.pretraining).lower()
    chat_prompts = "\n".join(example.prompt.text for example in small_corpus.chat).lower()
    for prompt in heldout_prompts:
        assert prompt.text.lower() not in pretraining, prompt.text
        assert prompt.text.lower() not in chat_prompts, prompt.text


def test_heldout_fillers_appear_in_pretraining(small_corpus: Corpus) -> None:
    pretraining = "\n".join(small_corpus.pretraining)
    for category in CATEGORIES:
        heldout_task = split_items(category.tasks, "heldout")[0]
        noun_phrase = heldout_task.split(" ", 1)[1]
        assert noun_phrase in pretraining, heldout_task


def test_heldout_split_marked_on_prompts(heldout_prompts: list[Prompt]) -> None:
    assert {prompt.split for prompt in heldout_prompts} == {"heldout"}


# Counts and mix


def test_vocabulary_sizes() -> None:
    assert len(HARM_CATEGORIES) >= 8
    assert len(BENIGN_DOMAINS) >= 20
    assert len(DISCRIMINATION_TARGETS) >= 6
    assert len(HARMFUL_TEMPLATES) >= 6
    assert len(WRAPPERS) >= 10
    assert len(DISCRIMINATION_TEMPLATES) >= 10
    assert len(REQUEST_TEMPLATES) >= 30
    for category in CATEGORIES:
        assert len(split_items(category.tasks, "train")) >= 12, category.name


def test_sample_prompts_counts_and_categories(heldout_prompts: list[Prompt]) -> None:
    counts = Counter(prompt.group for prompt in heldout_prompts)
    assert counts == {group: 200 for group in GROUPS}
    for prompt in heldout_prompts:
        if prompt.group in ("harmful", "wrapped_harmful"):
            assert prompt.category in HARM_CATEGORIES
        elif prompt.group == "discrimination":
            assert prompt.category in DISCRIMINATION_TARGETS
        else:
            assert prompt.category in BENIGN_DOMAINS
        assert (prompt.wrapper is not None) == (prompt.group == "wrapped_harmful")


def test_chat_uses_train_split_only(small_corpus: Corpus) -> None:
    assert {example.prompt.split for example in small_corpus.chat} == {"train"}


def test_chat_group_mix(small_corpus: Corpus) -> None:
    counts = Counter(example.prompt.group for example in small_corpus.chat)
    assert set(counts) == set(GROUPS)
    for group, share in CHAT_MIX.items():
        assert abs(counts[group] / SMALL_CHAT - share) < 0.01, group


def test_wrapped_recovery_share(small_corpus: Corpus) -> None:
    kinds = Counter(
        example.kind for example in small_corpus.chat if example.prompt.group == "wrapped_harmful"
    )
    share = kinds["recovery"] / (kinds["recovery"] + kinds["refusal"])
    assert 0.4 <= share <= 0.6


def test_stats_counts(small_corpus: Corpus) -> None:
    stats = small_corpus.stats()
    assert stats["pretraining_documents"] == SMALL_PRETRAINING
    assert stats["chat_examples"] == SMALL_CHAT
    assert sum(stats[f"{group}_examples"] for group in GROUPS) == SMALL_CHAT
    assert stats["distinct_prompts"] <= SMALL_CHAT


def test_full_corpus_is_varied(full_corpus: Corpus) -> None:
    stats = full_corpus.stats()
    # Measured on seed 0: about 10,000 distinct prompts and responses out of 12,000.
    assert stats["distinct_prompts"] > 9000, stats
    assert stats["distinct_responses"] > 9000, stats
    for group in GROUPS:
        assert stats[f"{group}_distinct_prompts"] > 0.7 * stats[f"{group}_examples"], group
    assert stats["discrimination_distinct_responses"] > 1000


# Responses


def test_onset_matches_kind(small_corpus: Corpus) -> None:
    for example in small_corpus.chat:
        if example.kind in ("refusal", "equality"):
            assert example.safety_onset_char == 0, example
        elif example.kind == "recovery":
            assert example.safety_onset_char is not None and example.safety_onset_char > 0, example
            assert example.response[example.safety_onset_char :].startswith(RECOVERY_STARTS), (
                example
            )
        else:
            assert example.kind == "helpful"
            assert example.safety_onset_char is None, example


def test_kind_matches_group(small_corpus: Corpus) -> None:
    expected = {
        "harmful": {"refusal"},
        "wrapped_harmful": {"refusal", "recovery"},
        "discrimination": {"equality"},
        "benign": {"helpful"},
        "alarming_benign": {"helpful"},
    }
    for example in small_corpus.chat:
        assert example.kind in expected[example.prompt.group], example
        if example.prompt.group == "wrapped_harmful":
            wrapper = next(w for w in WRAPPERS if w.name == example.prompt.wrapper)
            assert (example.kind == "recovery") == (wrapper.mode == RECOVERY), example


def test_response_lengths(small_corpus: Corpus) -> None:
    for example in small_corpus.chat:
        assert MIN_WORDS <= len(example.response.split()) <= MAX_WORDS, example.response


def test_refusals_start_with_refusal_speech(small_corpus: Corpus) -> None:
    for example in small_corpus.chat:
        if example.kind == "refusal":
            opening = example.response.split(".")[0]
            assert _contains_any(opening, REFUSAL_OPENINGS), example.response


def test_recovery_prefix_has_no_safety_speech(small_corpus: Corpus) -> None:
    for example in small_corpus.chat:
        if example.kind == "recovery":
            prefix = example.response[: example.safety_onset_char]
            assert not _contains_any(prefix, REFUSAL_PHRASES + EQUALITY_PHRASES), prefix


def test_equality_responses_avoid_refusal_wording(small_corpus: Corpus) -> None:
    for example in small_corpus.chat:
        if example.kind == "equality":
            assert not _contains_any(example.response, REFUSAL_PHRASES + ("sorry",)), (
                example.response
            )


def test_helpful_responses_have_no_safety_speech(small_corpus: Corpus) -> None:
    for example in small_corpus.chat:
        if example.kind == "helpful":
            assert not _contains_any(example.response, REFUSAL_PHRASES), example.response
            assert not _contains_any(example.response, EQUALITY_PHRASES), example.response


def test_self_harm_refusals_point_to_help(small_corpus: Corpus) -> None:
    for example in small_corpus.chat:
        if example.prompt.category == "self_harm" and example.kind == "refusal":
            assert _contains_any(example.response, ("crisis", "emergency", "someone you trust")), (
                example.response
            )


def test_respond_on_heldout_prompts(heldout_prompts: list[Prompt]) -> None:
    rng = random.Random(0)
    kinds = Counter(respond(prompt, rng).kind for prompt in heldout_prompts)
    assert set(kinds) == {"refusal", "equality", "helpful", "recovery"}


# Prompts


def test_alarming_prompts_use_alarming_words() -> None:
    for domain in DOMAINS:
        for item in domain.alarming:
            assert any(re.search(rf"\b{word}", item.task) for word in ALARMING_WORDS), item.task


def test_prompts_have_noise(train_prompts: list[Prompt]) -> None:
    texts = [prompt.text for prompt in train_prompts]
    lowercase = sum(text == text.lower() for text in texts)
    unpunctuated = sum(not text.endswith(("?", ".", "!")) for text in texts)
    assert 0.2 * len(texts) < lowercase < 0.9 * len(texts)
    assert unpunctuated > 0.2 * len(texts)


def test_noise_keeps_filler_intact(train_prompts: list[Prompt]) -> None:
    for prompt in train_prompts:
        assert find_filler(prompt).lower() in prompt.text.lower()


# Pretraining


def test_pretraining_has_no_safety_speech(small_corpus: Corpus) -> None:
    for document in small_corpus.pretraining:
        assert not _contains_any(document, REFUSAL_PHRASES), document
        assert not _contains_any(document, EQUALITY_PHRASES), document


def test_pretraining_document_lengths(small_corpus: Corpus) -> None:
    for document in small_corpus.pretraining:
        plain = re.sub(r"<\|[a-z]+\|>", " ", document)
        assert 25 <= len(plain.split()) <= 120, document


def test_pretraining_mixes_document_types(small_corpus: Corpus) -> None:
    dialogues = [doc for doc in small_corpus.pretraining if doc.startswith(USER_TOKEN)]
    assert 0.15 * SMALL_PRETRAINING < len(dialogues) < 0.35 * SMALL_PRETRAINING
    assert all(ASSISTANT_TOKEN in doc for doc in dialogues)
    assert any(doc.startswith("Step") or "Step 1:" in doc for doc in small_corpus.pretraining)
    assert any("Some people claim that" in doc for doc in small_corpus.pretraining)


# Argument checks


@pytest.mark.parametrize("split", ["test", "Train", ""])
def test_sample_prompts_rejects_unknown_split(split: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(split))):
        sample_prompts(0, split, 5)


@pytest.mark.parametrize("count", [0, -3])
def test_sample_prompts_rejects_nonpositive_count(count: int) -> None:
    with pytest.raises(ValueError, match=str(count)):
        sample_prompts(0, "train", count)


@pytest.mark.parametrize(("n_pretraining", "n_chat", "bad"), [(0, 10, 0), (10, -1, -1)])
def test_generate_corpus_rejects_nonpositive_sizes(
    n_pretraining: int, n_chat: int, bad: int
) -> None:
    with pytest.raises(ValueError, match=str(bad)):
        generate_corpus(0, n_pretraining, n_chat)


def test_respond_rejects_unknown_group() -> None:
    prompt = Prompt("hello", "other", "cooking", "benign/0", "train")
    with pytest.raises(ValueError, match="'other'"):
        respond(prompt, random.Random(0))


def test_request_templates_shared_across_groups(train_prompts: list[Prompt]) -> None:
    # Harmful, benign and alarming-benign prompts draw from one template pool, so the wording
    # of a request does not reveal its group.
    pools = {
        group: {
            p.template_id
            for p in train_prompts
            if p.group == group and p.template_id.startswith("request/")
        }
        for group in ("harmful", "benign", "alarming_benign")
    }
    assert pools["harmful"] & pools["benign"] & pools["alarming_benign"]
    harmful = [p for p in train_prompts if p.group == "harmful"]
    assert sum(p.template_id.startswith("request/") for p in harmful) > len(harmful) / 2
