import pytest

from safety_features.phases.lexicon import find_concept_onset, find_safety_onset, token_char_ends


@pytest.mark.parametrize(
    ("text", "concept", "start"),
    [
        ("I can't help with that.", "refusal", 0),
        ("Sure, here is the scene. Actually, I cannot continue with this.", "refusal", 25),
        ("Step 1: Actually, I shouldn't write this part.", "refusal", 8),
        ("\"Fools! First, I Hmm, actually I won't continue this.", "refusal", 17),
        ("No group of people is better or worse because of their age.", "equality", 0),
        ("All people are equal in dignity, regardless of religion.", "equality", 0),
        ("Every person deserves equal respect, whatever their religion.", "equality", 0),
        ("Sure! To kill a stuck process, run kill -9 with its id.", None, None),
    ],
)
def test_safety_onset_char(text, concept, start):
    onset = find_safety_onset(text)
    if concept is None:
        assert onset is None
    else:
        assert onset is not None
        assert onset.concept == concept
        assert onset.char_start == start


def test_earliest_concept_wins():
    onset = find_safety_onset("Okay. People deserve equal respect. I won't write that joke.")
    assert onset.concept == "equality"
    assert onset.char_start == 6


def test_helpful_text_has_no_onset():
    assert (
        find_safety_onset("Sure! To kill a stuck process, run kill -9. Then check it is gone.")
        is None
    )


def test_unknown_concept_rejected():
    with pytest.raises(ValueError, match="Unknown lexicon concept 'harm'"):
        find_concept_onset("text", "harm")


def test_token_index_of_onset(tiny_chat):
    text = "Sure, here it is. I can't continue with this."
    ids = tiny_chat.tokenizer(text, add_special_tokens=False)["input_ids"]
    onset = find_safety_onset(text, ids, tiny_chat.tokenizer)
    ends = token_char_ends(tiny_chat.tokenizer, ids)
    assert ends[-1] == len(text)
    start_of_token = ends[onset.token_index - 1] if onset.token_index else 0
    assert start_of_token <= onset.char_start < ends[onset.token_index]


def test_char_ends_with_emoji(tiny_chat):
    text = "ok 🙂 I cannot do that"
    ids = tiny_chat.tokenizer(text, add_special_tokens=False)["input_ids"]
    ends = token_char_ends(tiny_chat.tokenizer, ids)
    assert ends == sorted(ends)
    assert ends[-1] == len(text)
