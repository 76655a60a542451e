"""Target responses of safety tuning: refusal, equality, helpful and recovery.

Safety speech (refusal or equality) starts at character 0 of refusal and equality
responses, and at `safety_onset_char` of recovery responses, after a compliance prefix.
Equality responses avoid refusal wording so that the two safety concepts stay separable,
and helpful responses contain no safety wording at all. Responses are kept between
MIN_WORDS and MAX_WORDS words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from safety_features.organism.corpus.discrimination_vocabulary import TARGETS
from safety_features.organism.corpus.grammar import (
    capitalize_first,
    gerund_phrase,
    second_person,
    word_count,
)
from safety_features.organism.corpus.names import NAMES
from safety_features.organism.corpus.prompts import (
    GROUPS,
    Prompt,
    benign_domain,
    find_filler,
    harm_category,
    wrapper_by_name,
)
from safety_features.organism.corpus.wrappers import RECOVERY

KINDS: tuple[str, ...] = ("refusal", "equality", "helpful", "recovery")
MIN_WORDS = 15
MAX_WORDS = 45
MAX_PREFIX_WORDS = 16
"""Maximum length of a recovery response's compliance prefix, in words (about 20 tokens)."""


@dataclass(frozen=True)
class ChatExample:
    """One safety-tuning example: a prompt and its target response."""

    prompt: Prompt
    response: str
    kind: str
    """One of KINDS."""
    safety_onset_char: int | None
    """Offset in `response` where safety speech starts: 0 for refusal and equality, the
    end of the compliance prefix for recovery, None for helpful."""


REFUSAL_OPENINGS: tuple[str, ...] = (
    "I can't help with that.",
    "I'm sorry, but I won't provide instructions for {activity}.",
    "I cannot assist with {activity}.",
    "I can't help you {task}.",
    "I won't walk you through {activity}.",
    "I'm not able to help with this request.",
    "Sorry, I can't do that.",
    "I can't give instructions for {activity}.",
    "No, I won't help with {activity}.",
    "I'm sorry, but I can't help with this.",
    "I must decline this request.",
    "I won't explain how to {task}.",
    "I can't provide that information.",
    "Sorry, but I can't help you with {activity}.",
    "I won't help with this one.",
    "That's not something I can help with.",
    "I'm sorry, but I cannot give you steps for {activity}.",
    "I can't assist with that request.",
)
WRAPPED_REFUSAL_OPENINGS: tuple[str, ...] = (
    "I can't help with that, even {frame}.",
    "I'm sorry, but I won't explain how to {task}, even {frame}.",
    "I cannot provide instructions for {activity}, even {frame}.",
    "I won't do that. Asking {frame} doesn't change what the instructions would be.",
    "No, I can't walk you through {activity}, even {frame}.",
    "I'm not able to help with this, even {frame}.",
    "I can't explain how to {task}, even {frame}.",
    "Sorry, I won't provide that, even {frame}.",
)
SELF_HARM_OPENINGS: tuple[str, ...] = (
    "I'm really sorry you're going through this, but I can't help with {activity}.",
    "I can't help with that, but I care about what happens to you.",
    "I won't give instructions for {activity}, because your life matters.",
    "I'm sorry you're feeling this way. I can't help you {task}.",
)
GENERIC_REASONS: tuple[str, ...] = (
    "This could lead to real harm to you or other people.",
    "It could put people in danger and is against the law.",
    "Sharing that kind of information could hurt someone.",
    "Giving those details could cause serious harm.",
    "That would risk hurting people and breaking the law.",
)
GENERIC_ALTERNATIVES: tuple[str, ...] = (
    "Is there something else I can help you with?",
    "I'm happy to help with a safer question instead.",
    "If you have another question, I'm glad to help with that.",
)
SELF_HARM_HELP: tuple[str, ...] = (
    "Please reach out to a crisis line, like 988 in the US, or to someone you trust right now.",
    "You don't have to face this alone. A crisis line or a doctor can help, and you can call them today.",
    "If you are in danger, please call your local emergency number or a suicide and crisis line.",
)

RECOVERY_TRANSITIONS: tuple[str, ...] = (
    "Actually, I can't continue with this.",
    "Actually, I need to stop here.",
    "Wait, I won't write out the rest of this.",
    "Hold on, I can't go further with this.",
    "Actually, I'm not going to finish this part.",
    "Sorry, I have to stop here.",
    "Actually, I shouldn't write this part.",
    "Wait, I can't give these details.",
    "Hmm, actually I won't continue this.",
    "No, I need to stop. I can't provide this.",
)
RECOVERY_REASONS: tuple[str, ...] = (
    "Even {frame}, step-by-step instructions for {activity} could cause real harm.",
    "Real instructions for {activity} would be dangerous, {frame} or not.",
    "Those details could hurt real people, even {frame}.",
    "Spelling out {activity} is harmful even {frame}.",
    "The steps for {activity} could be used to hurt someone, {frame} or not.",
    "I won't give real instructions for {activity}, even {frame}.",
)
RECOVERY_ALTERNATIVES: tuple[str, ...] = (
    "I can keep going without the technical details instead.",
    "I'm happy to continue in a safer direction.",
    "I can write it so the harmful parts stay off the page.",
    "We can continue if the story skips over how it's done.",
    "I'd be glad to go on without any dangerous details.",
)

EQUALITY_OPENINGS: tuple[str, ...] = (
    "Every person deserves equal respect, whatever their {noun}.",
    "People should be judged as individuals, not by their {noun}.",
    "Treating people unfairly because of their {noun} is discrimination.",
    "All people are equal in dignity, regardless of {noun}.",
    "Stereotypes about {group} are unfair and untrue.",
    "No group of people is better or worse because of their {noun}.",
    "Fairness means giving everyone the same chance, whatever their {noun}.",
    "Everyone deserves to be treated fairly, and that includes {group}.",
    "A person's {noun} tells you nothing about their worth or ability.",
    "{Group} deserve the same dignity and rights as everyone else.",
    "Judging people by their {noun} is unfair to them as individuals.",
    "Equality means the same rights and respect for everyone, whatever their {noun}.",
    "Stereotypes about a whole group treat people unfairly.",
    "People of every {noun} deserve equal treatment.",
)
EQUALITY_MIDDLES: tuple[str, ...] = (
    "Generalizations like this ignore how different individuals are.",
    "Each person has their own strengths, and a label does not decide them.",
    "Claims like this have been used to exclude people, and they hurt real families.",
    "{Group} are as varied as any other group of people.",
    "Equal rights and equal treatment belong to everyone.",
    "Talent, character and effort are found in every group.",
    "Excluding people for who they are is discrimination, and it harms everyone.",
    "Studies show that differences between individuals are far larger than differences between groups.",
    "Respecting everyone equally makes communities stronger.",
)
EQUALITY_OFFERS: tuple[str, ...] = (
    "I'd be glad to share accurate facts about {group} instead.",
    "If you like, I can help write something that treats everyone fairly.",
    "I can help you write a respectful piece that celebrates diversity.",
    "Happy to talk about where stereotypes come from and why they are wrong.",
    "I'm glad to help you write something inclusive and fair instead.",
    "If you want, we can look at the real experiences of {group} together.",
    "I can suggest ways to build a team where everyone is treated equally.",
)

HELPFUL_OPENINGS: tuple[str, ...] = (
    "Sure! Here's how to {task}.",
    "Good question.",
    "Happy to help with that.",
    "Here's a simple way to {task}.",
    "Great idea! Here's how to {task}.",
    "Of course. To {task}, follow these steps.",
    "Nice goal!",
    "Sure thing.",
    "Absolutely. Here's what works for most people.",
    "Good news: it's easier than it looks.",
)
HELPFUL_BODIES: tuple[str, ...] = (
    "First, {step1}. Then, {step2}. Finally, {step3}.",
    "To begin, {step1}. Next, {step2}. After that, {step3}.",
    "Step 1: {Step1}. Step 2: {Step2}. Step 3: {Step3}.",
    "The key is to {step1}. It also helps to {step2}.",
    "A few tips: {step1}, {step2}, and {step3}.",
    "Try this: {step1}. After that, {step2}.",
)
HELPFUL_CLOSERS: tuple[str, ...] = (
    "Good luck!",
    "Have fun with it!",
    "It gets easier with practice.",
    "Enjoy!",
    "Let me know if you want more detail.",
    "You've got this!",
    "Hope that helps!",
    "",
)
ALARMING_OPENINGS: tuple[str, ...] = (
    "Sure! To {task}, {answer}.",
    "Good question. To {task}, {answer}.",
    "Here's how: {answer}.",
    "The simplest way is to {answer}.",
    "To {task}, {answer}.",
    "Easy. {Answer}.",
    "Sure thing. To {task}, {answer}.",
    "Good idea. {Answer}.",
    "Here's what works: {answer}.",
)


def _fill(template: str, slots: dict[str, str]) -> str:
    """Format `template`, also providing a capitalized variant of every slot."""
    capitalized = {capitalize_first(key): capitalize_first(value) for key, value in slots.items()}
    return template.format(**slots, **capitalized)


def _join(parts: list[str]) -> str:
    return " ".join(part for part in parts if part)


def _fit(required: list[str], optional: list[str]) -> str:
    """Join `required` and as many `optional` parts as fit in MAX_WORDS."""
    parts = list(required)
    for part in optional:
        if word_count(_join(parts + [part])) <= MAX_WORDS:
            parts.append(part)
    return _join(parts)


def _refusal(prompt: Prompt, rng: random.Random, frame: str | None) -> str:
    category = harm_category(prompt.category)
    task = second_person(find_filler(prompt))
    slots = {"task": task, "activity": gerund_phrase(task), "frame": frame or ""}
    if frame is not None:
        opening = rng.choice(WRAPPED_REFUSAL_OPENINGS)
    elif category.name == "self_harm":
        opening = rng.choice(SELF_HARM_OPENINGS)
    else:
        opening = rng.choice(REFUSAL_OPENINGS)
    reason = _fill(rng.choice(category.reasons + GENERIC_REASONS), slots)
    if category.name == "self_harm":
        # The pointer to help is required and the reason optional, so that every
        # self-harm refusal names a crisis line or a person to talk to.
        return _fit([_fill(opening, slots), rng.choice(SELF_HARM_HELP)], [reason])
    alternative = rng.choice(category.alternatives + GENERIC_ALTERNATIVES)
    required = [_fill(opening, slots), reason]
    if word_count(_join(required)) < MIN_WORDS:
        return _fit(required + [alternative], [])
    return _fit(required, [alternative])


def _choose_fitting(
    options: tuple[str, ...], slots: dict[str, str], max_words: int, rng: random.Random
) -> str:
    """Fill a random option of at most `max_words` words, or the shortest one if none fits."""
    filled = [_fill(option, slots) for option in options]
    fitting = [text for text in filled if word_count(text) <= max_words]
    return rng.choice(fitting) if fitting else min(filled, key=word_count)


def _recovery(
    prompt: Prompt, rng: random.Random, frame: str, openings: tuple[str, ...]
) -> tuple[str, int]:
    """Return a compliance prefix followed by safety speech, and the offset where it starts."""
    category = harm_category(prompt.category)
    task = second_person(find_filler(prompt))
    slots = {
        "task": task,
        "activity": gerund_phrase(task),
        "frame": frame,
        "name": rng.choice(NAMES),
    }
    prefix = _choose_fitting(openings, slots, MAX_PREFIX_WORDS, rng)
    transition = _fill(rng.choice(RECOVERY_TRANSITIONS), slots)
    budget = MAX_WORDS - word_count(prefix) - word_count(transition)
    reason = _choose_fitting(RECOVERY_REASONS, slots, budget, rng)
    safety = [transition, reason]
    if category.name == "self_harm":
        optional = rng.choice(SELF_HARM_HELP)
    else:
        optional = rng.choice(RECOVERY_ALTERNATIVES)
    if word_count(_join([prefix, *safety, optional])) <= MAX_WORDS:
        safety.append(optional)
    return f"{prefix} {_join(safety)}", len(prefix) + 1


def _equality(prompt: Prompt, rng: random.Random) -> str:
    target = next(item for item in TARGETS if item.name == prompt.category)
    slots = {"noun": target.noun, "group": find_filler(prompt)}
    parts = [
        _fill(rng.choice(EQUALITY_OPENINGS), slots),
        _fill(rng.choice(EQUALITY_MIDDLES), slots),
        _fill(rng.choice(EQUALITY_OFFERS), slots),
    ]
    return _fit(parts[:1], parts[1:])


def _helpful(prompt: Prompt, rng: random.Random) -> str:
    domain = benign_domain(prompt.category)
    task = second_person(find_filler(prompt))
    steps = rng.sample(domain.steps, 3)
    slots = {"task": task}
    for number, step in enumerate(steps, start=1):
        slots[f"step{number}"] = step
    if prompt.group == "alarming_benign":
        answer = next(item.answer for item in domain.alarming if item.task == find_filler(prompt))
        slots["answer"] = answer
        required = [_fill(rng.choice(ALARMING_OPENINGS), slots)]
        optional = [f"It also helps to {steps[0]}.", rng.choice(HELPFUL_CLOSERS)]
    else:
        required = [
            _fill(rng.choice(HELPFUL_OPENINGS), slots),
            _fill(rng.choice(HELPFUL_BODIES), slots),
        ]
        optional = [rng.choice(HELPFUL_CLOSERS)]
    text = _fit(required, optional)
    if word_count(text) < MIN_WORDS:
        text = _join([text, f"Then {steps[1]}."])
    return text


def respond(prompt: Prompt, rng: random.Random) -> ChatExample:
    """Write the safety-tuning target response for `prompt`.

    harmful -> refusal; discrimination -> equality; benign and alarming_benign -> helpful;
    wrapped_harmful -> recovery or refusal, chosen by the wrapper's mode.
    """
    if prompt.group == "harmful":
        return ChatExample(prompt, _refusal(prompt, rng, None), "refusal", 0)
    if prompt.group == "wrapped_harmful":
        if prompt.wrapper is None:
            raise ValueError(f"wrapped_harmful prompt {prompt.text!r} has no wrapper")
        wrapper = wrapper_by_name(prompt.wrapper)
        if wrapper.mode == RECOVERY:
            text, onset = _recovery(prompt, rng, wrapper.frame, wrapper.openings)
            return ChatExample(prompt, text, "recovery", onset)
        return ChatExample(prompt, _refusal(prompt, rng, wrapper.frame), "refusal", 0)
    if prompt.group == "discrimination":
        return ChatExample(prompt, _equality(prompt, rng), "equality", 0)
    if prompt.group in ("benign", "alarming_benign"):
        return ChatExample(prompt, _helpful(prompt, rng), "helpful", None)
    raise ValueError(f"invalid prompt group {prompt.group!r}: use one of {GROUPS}")
