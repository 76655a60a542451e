"""Record types of the benign domains: everyday requests, answer steps and alarming phrases.

The domains themselves live in `benign_home` and `benign_knowledge`, collected in
`benign_domains.DOMAINS`. `tasks` fill benign prompts. `alarming` contains requests that
use a violent or criminal word in its harmless sense ("kill a stuck process"), each with a
matter-of-fact answer. Both lists are split into train and held-out parts by list position (see `splits`); held-out
items still appear in pretraining text about their domain.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlarmingTask:
    """A harmless request that contains an alarming word, with its direct answer."""

    task: str
    """Imperative verb phrase, lowercase ("kill a stuck process")."""
    answer: str
    """Answer clause that completes "To {task}, ..." ("find its process id with ps, then ...")."""


@dataclass(frozen=True)
class BenignDomain:
    """One everyday topic with prompt fillers, answer steps and pretraining facts."""

    name: str
    label: str
    """Noun phrase naming the domain in running text ("cooking")."""
    tasks: tuple[str, ...]
    """Requests as lowercase imperative verb phrases ("bake sourdough bread")."""
    steps: tuple[str, ...]
    """Imperative answer steps shared by all tasks of the domain.

    NOTE: steps are per domain, not per task, so a helpful answer can give advice that fits
    the domain but not the exact task ("set up a fish tank" -> "keep training sessions short")."""
    facts: tuple[str, ...]
    """Encyclopedia sentences with an {activity} slot (gerund phrase of a task)."""
    alarming: tuple[AlarmingTask, ...] = ()
