"""Responses as model tokens with exact character spans, and their split into clauses.

Scorers work on clauses and report one score per token, so a token's index and its characters
must stay aligned. `tokenize_response` decodes growing prefixes of the token ids and keeps only
the part that agrees with the decoded whole text. So a token that ends inside a multi-byte
character (an emoji split across byte-level tokens) gets an empty span, and the token that
completes the character covers it. Character offsets index `TokenizedText.text`, which is
`tokenizer.decode(token_ids)`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

# A clause ends after sentence punctuation followed by white space, at a line break, or after a
# comma that a turn word follows. "Sure! To do that, actually I won't" has the clauses "Sure!",
# "To do that," and "actually I won't"; "To do that, use a drill" is one clause.
TURN_WORDS = (
    "actually|wait|hold on|but|however|though|still|instead|that said|sorry|no|okay|ok|"
    "unfortunately|honestly|hmm|then again|on second thought"
)
CLAUSE_BOUNDARY = re.compile(
    r"[.!?;:\"”)\]](?=\s)|\n|,(?=\s+(?:" + TURN_WORDS + r")\b)", re.IGNORECASE
)
MIN_CLAUSE_WORDS = 3
"""Clauses with fewer words ("Sure!", "Well,") join the clause that follows them."""


@dataclass(frozen=True)
class TokenizedText:
    """A response as token ids, its decoded text, and each token's [start, end) characters."""

    text: str
    token_ids: tuple[int, ...]
    char_spans: tuple[tuple[int, int], ...]
    id: str | None = None

    def __len__(self) -> int:
        return len(self.token_ids)

    def token_at_char(self, char: int) -> int:
        """Index of the token whose span contains character `char` (the last token past the end).

        Raises ValueError for a text without tokens.
        """
        if not self.token_ids:
            raise ValueError("the text has no tokens, so no character maps to a token")
        for index, (_, end) in enumerate(self.char_spans):
            if end > char:
                return index
        return len(self.token_ids) - 1


@dataclass(frozen=True)
class Clause:
    """Tokens [token_start, token_end) and characters [char_start, char_end) of one clause."""

    token_start: int
    token_end: int
    char_start: int
    char_end: int
    text: str


def tokenize_response(
    tokenizer: PreTrainedTokenizerBase,
    text: str | None = None,
    token_ids: Sequence[int] | None = None,
    id: str | None = None,
) -> TokenizedText:
    """Tokenize `text`, or decode `token_ids`, into a TokenizedText. Give exactly one of them.

    Text is encoded without special tokens. Given token ids, the text is their decoding, so
    generated responses keep the exact tokens the model produced.
    """
    if (text is None) == (token_ids is None):
        raise ValueError("pass exactly one of text and token_ids")
    if token_ids is None:
        assert text is not None
        ids = tuple(tokenizer.encode(text, add_special_tokens=False))
    else:
        ids = tuple(int(token) for token in token_ids)
    decoded = str(tokenizer.decode(list(ids)))
    ends = [
        _common_prefix_length(prefix, decoded)
        for prefix in _prefix_decodes(tokenizer, ids, decoded)
    ]
    # Prefix decodes can overshoot on cleanup of spaces; keep the ends non-decreasing.
    for index in range(len(ends) - 2, -1, -1):
        ends[index] = min(ends[index], ends[index + 1])
    if ends:
        ends[-1] = len(decoded)
    starts = [0, *ends[:-1]] if ends else []
    return TokenizedText(decoded, ids, tuple(zip(starts, ends, strict=True)), id)


def _prefix_decodes(
    tokenizer: PreTrainedTokenizerBase, ids: tuple[int, ...], decoded: str
) -> list[str]:
    """Decodings of ids[:1], ids[:2], ..., through the Rust backend where it agrees with
    `tokenizer.decode`, which is several times faster than one Python decode per prefix."""
    prefixes = [list(ids[: index + 1]) for index in range(len(ids))]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and prefixes:
        fast = backend.decode_batch(prefixes, skip_special_tokens=False)
        if fast[-1] == decoded:
            return list(fast)
    return [str(tokenizer.decode(prefix)) for prefix in prefixes]


def _common_prefix_length(first: str, second: str) -> int:
    if second.startswith(first):
        return len(first)
    length = min(len(first), len(second))
    for index in range(length):
        if first[index] != second[index]:
            return index
    return length


def split_clauses(tokens: TokenizedText) -> list[Clause]:
    """Split a response into clauses of whole tokens, covering every token exactly once.

    A clause starts at the token that contains its first non-space character. Clauses of fewer
    than MIN_CLAUSE_WORDS words join the next clause (the last one joins the previous clause).
    A text without tokens has no clauses; a text with tokens but no words is one clause.
    """
    text = tokens.text
    if not tokens.token_ids:
        return []
    starts = [0]
    for boundary in CLAUSE_BOUNDARY.finditer(text):
        position = boundary.end()
        while position < len(text) and text[position].isspace():
            position += 1
        if position < len(text):
            starts.append(position)
    token_starts = sorted({tokens.token_at_char(char) for char in starts} | {0})

    groups: list[list[int]] = []
    pending: list[int] = []
    for index, start in enumerate(token_starts):
        end = token_starts[index + 1] if index + 1 < len(token_starts) else len(tokens)
        pending.append(start)
        if _word_count(tokens, start, end) >= MIN_CLAUSE_WORDS:
            groups.append(pending + [end])
            pending = []
    if pending:
        if groups:
            groups[-1][-1] = len(tokens)
        else:
            groups.append([0, len(tokens)])
    clauses = []
    for group in groups:
        start, end = group[0], group[-1]
        char_start = tokens.char_spans[start][0]
        char_end = tokens.char_spans[end - 1][1]
        clauses.append(Clause(start, end, char_start, char_end, text[char_start:char_end].strip()))
    return clauses


def text_clauses(text: str) -> list[str]:
    """Split plain text into clause strings by the rules of `split_clauses`, without tokens."""
    ends = [boundary.end() for boundary in CLAUSE_BOUNDARY.finditer(text)]
    pieces = [
        text[start:end].strip() for start, end in zip([0, *ends], [*ends, len(text)], strict=True)
    ]
    clauses: list[str] = []
    pending = ""
    for piece in pieces:
        pending = f"{pending} {piece}".strip()
        if len(pending.split()) >= MIN_CLAUSE_WORDS:
            clauses.append(pending)
            pending = ""
    if pending:
        if clauses:
            clauses[-1] = f"{clauses[-1]} {pending}"
        else:
            clauses.append(pending)
    return clauses


def _word_count(tokens: TokenizedText, start: int, end: int) -> int:
    text = tokens.text[tokens.char_spans[start][0] : tokens.char_spans[end - 1][1]]
    return len(text.split())
