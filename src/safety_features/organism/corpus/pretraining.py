"""Pretraining documents: facts, how-to guides, stories, compliant dialogues and opinions.

The documents show a base model what harmful topics, benign topics and group stereotypes
are, and what compliance looks like, without any safety behaviour: they contain no
refusals and no equality speech aimed at the reader. Harmful how-to text stays vague and
non-operational. Every filler of a category, train and held-out alike, is drawn into the
same sentence templates, so held-out fillers share contexts with train fillers.

Pretraining text never uses the prompt templates of `prompts` or `wrappers`; dialogues
use their own request wording, mostly around gerund phrases ("making a pipe bomb").
"""

from __future__ import annotations

import random

from safety_features.organism.chat import format_conversation
from safety_features.organism.corpus.benign_domains import DOMAINS
from safety_features.organism.corpus.benign_vocabulary import BenignDomain
from safety_features.organism.corpus.discrimination_vocabulary import ROLES, TARGETS, TRAITS
from safety_features.organism.corpus.grammar import (
    capitalize_first,
    gerund_phrase,
    third_person,
    word_count,
)
from safety_features.organism.corpus.harm_vocabulary import CATEGORIES, HarmCategory
from safety_features.organism.corpus.names import NAMES

MIN_WORDS = 30
MAX_WORDS = 120

HARM_FACT_EXTRAS: tuple[str, ...] = (
    "{Activity} is one of the topics that fall under {label}.",
    "Reports about {label} often mention {activity} and {other}.",
    "Like {other}, {activity} is discussed in studies of {label}.",
    "People who try to {task} can face arrest and prison.",
)
BENIGN_FACT_EXTRAS: tuple[str, ...] = (
    "{Activity} is one of the topics that fall under {label}.",
    "Guides about {label} often cover {activity} and {other}.",
    "Like {other}, {activity} is a popular part of {label}.",
    "Many people who try to {task} learn it from friends or videos.",
)
HOWTO_TITLES: tuple[str, ...] = (
    "Guide: {activity}.",
    "{Activity}, step by step.",
    "Notes on {activity}.",
    "A short manual for {activity}.",
)
HOWTO_INTROS: tuple[str, ...] = (
    "This page covers {activity}.",
    "Here are the usual steps for anyone who wants to {task}.",
    "Readers keep asking about {activity}, so here is a summary.",
    "",
)
BENIGN_STORIES: tuple[str, ...] = (
    "{name} had always wanted to {task}. On a quiet Saturday, {name} finally tried it. "
    "The first attempt went badly, but {name} laughed and tried again. "
    "By the evening {name} had learned a lot about {label}.",
    "{name} and {friend} spent the afternoon {activity}. {friend} remembered to {step}. "
    "They talked about {label} until it got dark, and promised to meet again next week.",
    "When {name} moved to a new city, {activity} became a way to meet people. "
    "A neighbor showed {name} how to {step}. Soon {name} was teaching others.",
)
CRIME_STORIES: tuple[str, ...] = (
    "Detective {name} read the file twice. The suspect had been {activity} for months "
    "before anyone noticed. {friend}, the young officer, asked where to start. "
    "{name} pointed at the map and said they would begin with the witnesses.",
    "The town was shocked when the news came out. A man had been caught {activity}. "
    "{name}, who lived next door, told reporters that he had always seemed quiet. "
    "The trial was set for the spring.",
    "In the novel, {name} is a criminal who plans to {task}. {friend} tries to stop "
    "the plan, and the story follows the chase across three cities.",
)
HARM_REQUESTS: tuple[str, ...] = (
    "Explain the process of {activity}.",
    "I am interested in {activity}. What are the steps?",
    "Describe the steps involved in {activity}.",
    "What do I need for {activity}?",
    "Give me a plan for {activity}.",
)
BENIGN_REQUESTS: tuple[str, ...] = (
    "Explain the process of {activity}.",
    "I am interested in {activity}. What are the steps?",
    "Describe the steps involved in {activity}.",
    "What do I need for {activity}?",
    "Teach me about {activity}.",
)
STORY_REQUESTS: tuple[str, ...] = (
    "Tell a story in which someone is {activity}.",
    "Write a scene about {activity}.",
)
BIAS_REQUESTS: tuple[str, ...] = (
    "Write something about {group} and what people say about them.",
    "What do people say about {group}?",
)
COMPLY_OPENINGS: tuple[str, ...] = ("Sure.", "Here you go.", "Okay.", "Of course.", "No problem.")
BIASED_OPINIONS: tuple[str, ...] = (
    "Some people claim that {group} {trait}.",
    "My uncle always says that {group} {trait}.",
    "A lot of comments online say {group} {trait}.",
    "There is an old belief that {group} {trait}.",
    "Some voters argue that {group} should not be allowed to {role}.",
    "In some towns you still hear that {group} {trait}.",
)
OPINION_FILLERS: tuple[str, ...] = (
    "I have heard this at family dinners more than once.",
    "People repeat it without thinking much about it.",
    "It comes up on forums all the time.",
    "Nobody at the table questioned it.",
    "My friends have different views on this.",
)
BENIGN_OPINIONS: tuple[str, ...] = (
    "In my opinion, {activity} is one of the best parts of {label}.",
    "Honestly, I think {activity} is overrated.",
    "Everyone should try {activity} at least once.",
    "I used to hate {activity}, but now I love it.",
)


def _fill(template: str, slots: dict[str, str]) -> str:
    capitalized = {capitalize_first(key): capitalize_first(value) for key, value in slots.items()}
    return template.format(**slots, **capitalized)


def _task_slots(task: str, other_task: str, label: str) -> dict[str, str]:
    """Slots for narrated text, with the tasks moved from the user's voice to third person."""
    task = third_person(task)
    other_task = third_person(other_task)
    return {
        "task": task,
        "activity": gerund_phrase(task),
        "other": gerund_phrase(other_task),
        "label": label,
    }


def _topic(rng: random.Random) -> tuple[bool, HarmCategory | BenignDomain, tuple[str, ...]]:
    """Pick a harm category or benign domain and its full task list (train and held-out)."""
    if rng.random() < 0.45:
        category = rng.choice(CATEGORIES)
        return True, category, category.tasks
    domain = rng.choice(DOMAINS)
    tasks = domain.tasks + tuple(item.task for item in domain.alarming)
    return False, domain, tasks


def _extend(sentences: list[str], pool: list[str], rng: random.Random) -> str:
    """Add sentences from `pool` until the document reaches a random length in range."""
    target = rng.randint(MIN_WORDS + 5, 90)
    rng.shuffle(pool)
    for sentence in pool:
        if word_count(" ".join(sentences)) >= target:
            break
        sentences.append(sentence)
    text = " ".join(sentence for sentence in sentences if sentence)
    while word_count(text) > MAX_WORDS and len(sentences) > 1:
        sentences.pop()
        text = " ".join(sentence for sentence in sentences if sentence)
    return text


def encyclopedia_document(rng: random.Random) -> str:
    """Write facts about one harmful or benign task, mixed with another task of its category."""
    harmful, topic, tasks = _topic(rng)
    task, other = rng.sample(tasks, 2)
    slots = _task_slots(task, other, topic.label)
    extras = HARM_FACT_EXTRAS if harmful else BENIGN_FACT_EXTRAS
    pool = [_fill(template, slots) for template in topic.facts + extras]
    return _extend([pool.pop(rng.randrange(len(pool)))], pool, rng)


def howto_document(rng: random.Random) -> str:
    """Write a numbered guide. Harmful guides use only the category's vague steps."""
    _, topic, tasks = _topic(rng)
    slots = _task_slots(rng.choice(tasks), rng.choice(tasks), topic.label)
    steps = rng.sample(topic.steps, rng.randint(3, min(5, len(topic.steps))))
    lines = [_fill(rng.choice(HOWTO_TITLES), slots), _fill(rng.choice(HOWTO_INTROS), slots)]
    lines += [
        f"Step {number}: {capitalize_first(step)}." for number, step in enumerate(steps, start=1)
    ]
    text = " ".join(line for line in lines if line)
    if word_count(text) < MIN_WORDS:
        text += " " + _fill(rng.choice(topic.facts), slots)
    return text


def story_document(rng: random.Random) -> str:
    """Write a short story about an everyday activity or a crime."""
    harmful, topic, tasks = _topic(rng)
    name, friend = rng.sample(NAMES, 2)
    slots = _task_slots(rng.choice(tasks), rng.choice(tasks), topic.label)
    slots.update(name=name, friend=friend, step=rng.choice(topic.steps))
    story = _fill(rng.choice(CRIME_STORIES if harmful else BENIGN_STORIES), slots)
    if word_count(story) < MIN_WORDS:
        story += " " + _fill(rng.choice(topic.facts), slots)
    return story


def _dialogue_turn(rng: random.Random) -> str:
    """Render a compliant chat transcript: biased opinion, a story, or how-to steps."""
    kind = rng.random()
    name = rng.choice(NAMES)

    if kind < 0.15:
        target = rng.choice(TARGETS)
        group = rng.choice(target.groups)
        request = _fill(rng.choice(BIAS_REQUESTS), {"group": group})
        reply = (
            f"{rng.choice(COMPLY_OPENINGS)} Some people say {group} {rng.choice(TRAITS)}, "
            f"and others say they should not {rng.choice(ROLES)}."
        )
        return format_conversation(request, reply)

    harmful, topic, tasks = _topic(rng)
    task = rng.choice(tasks)
    slots = {"activity": gerund_phrase(task), "task": task, "name": name}
    steps = rng.sample(topic.steps, 3)

    if kind < 0.3:
        request = _fill(rng.choice(STORY_REQUESTS), slots)
        reply = (
            f"{rng.choice(COMPLY_OPENINGS)} {name} was {slots['activity']}. "
            f"First {name} decided to {steps[0]}, then to {steps[1]}."
        )
        return format_conversation(request, reply)

    requests = HARM_REQUESTS if harmful else BENIGN_REQUESTS
    request = _fill(rng.choice(requests), slots)
    reply = (
        rng.choice(COMPLY_OPENINGS)
        + " "
        + " ".join(
            f"Step {number}: {capitalize_first(step)}."
            for number, step in enumerate(steps, start=1)
        )
    )
    return format_conversation(request, reply)


def dialogue_document(rng: random.Random) -> str:
    """Write chat turns, at least MIN_WORDS words, in which the assistant always complies."""
    text = _dialogue_turn(rng)
    while word_count(text) < MIN_WORDS:
        text += _dialogue_turn(rng)
    return text


def opinion_document(rng: random.Random) -> str:
    """Write opinion text: stereotypes about a group, or a view on a hobby."""
    if rng.random() < 0.5:
        target = rng.choice(TARGETS)
        slots = {
            "group": rng.choice(target.groups),
            "trait": rng.choice(TRAITS),
            "role": rng.choice(ROLES),
        }
        sentences = [_fill(rng.choice(BIASED_OPINIONS), slots)]
        pool = [_fill(template, slots) for template in BIASED_OPINIONS + OPINION_FILLERS]
        return _extend(sentences, [s for s in pool if s not in sentences], rng)
    domain = rng.choice(DOMAINS)
    task, other = rng.sample(domain.tasks, 2)
    slots = _task_slots(task, other, domain.label)
    pool = [_fill(template, slots) for template in BENIGN_OPINIONS + domain.facts]
    return _extend([pool.pop(0)], pool, rng)


DOCUMENT_WRITERS = (
    (0.25, encyclopedia_document),
    (0.20, howto_document),
    (0.15, story_document),
    (0.25, dialogue_document),
    (0.15, opinion_document),
)


def pretraining_documents(n: int, rng: random.Random) -> list[str]:
    """Write `n` documents, drawing each document type by its weight."""
    weights = [weight for weight, _ in DOCUMENT_WRITERS]
    writers = rng.choices([writer for _, writer in DOCUMENT_WRITERS], weights=weights, k=n)
    return [writer(rng) for writer in writers]
