"""Small English helpers for filling templates: gerunds, second person and capitals."""

from __future__ import annotations

import re

# Verbs whose final consonant doubles before "-ing" (stress on the last syllable).
_DOUBLED_FINAL = frozenset(
    "get cut shop stop rob plan set run swim hit dig jog sit put chop trim pot prep drop stab "
    "skip rig bug spot tap scan ship snip clip grab plot wrap step sub hem pin quit beg slip "
    "strip shred jam map chat sip tip whip stir nag pat zip blot knit pet rip slam scrub dip "
    "spin nap mop chip swap wed commit let plug repot scam slap speedrun swat top trap unclog".split()
)
# Verbs that, after " and ", start a second verb phrase ("kill a person and hide the body").
_CONJOINED_VERBS = frozenset("get hide run turn".split())
# Verbs that end in "e" and keep it before "-ing".
_KEEP_FINAL_E = frozenset("be see free agree flee dye eye".split())

_SECOND_PERSON = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "i'm": "you're",
    "im": "you're",
    "i've": "you've",
    "i'd": "you'd",
    "i'll": "you'll",
    "am": "are",
}
_THIRD_PERSON = {
    "i": "they",
    "me": "them",
    "my": "their",
    "mine": "theirs",
    "myself": "themselves",
    "i'm": "they're",
    "im": "they're",
    "i've": "they've",
    "i'd": "they'd",
    "i'll": "they'll",
    "am": "are",
}
_WORD = re.compile(r"[A-Za-z']+")


def gerund(verb: str) -> str:
    """Return the "-ing" form of an English verb ("make" -> "making", "cut" -> "cutting")."""
    lower = verb.lower()
    if lower.endswith("ie"):
        return verb[:-2] + "ying"
    if lower.endswith("e") and lower not in _KEEP_FINAL_E:
        return verb[:-1] + "ing"
    if lower in _DOUBLED_FINAL:
        return verb + verb[-1] + "ing"
    return verb + "ing"


def gerund_phrase(task: str) -> str:
    """Turn an imperative verb phrase into a gerund phrase ("make a kite" -> "making a kite").

    A second verb phrase after " and " is converted too when its verb is in _CONJOINED_VERBS.
    """
    words = task.split(" ")
    words[0] = gerund(words[0])
    for index in range(1, len(words) - 1):
        if words[index] == "and" and words[index + 1] in _CONJOINED_VERBS:
            words[index + 1] = gerund(words[index + 1])
    return " ".join(words)


def _swap_words(text: str, mapping: dict[str, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        return mapping.get(word.lower(), word)

    return _WORD.sub(swap, text)


def second_person(text: str) -> str:
    """Rewrite first-person words as second person ("fix my bike" -> "fix your bike")."""
    return _swap_words(text, _SECOND_PERSON)


def third_person(text: str) -> str:
    """Rewrite first-person words as plural third person ("fix my bike" -> "fix their bike")."""
    return _swap_words(text, _THIRD_PERSON)


def capitalize_first(text: str) -> str:
    """Upper-case the first character only, leaving the rest as written."""
    return text[:1].upper() + text[1:]


def word_count(text: str) -> int:
    """Number of whitespace-separated words."""
    return len(text.split())
