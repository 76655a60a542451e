"""The organism's chat template: special tokens and the text layout of one turn pair.

A conversation renders as::

    <|endoftext|><|user|>{prompt}<|end|><|assistant|>{response}<|end|>

``<|endoftext|>`` is the BOS and EOS token, ``<|pad|>`` pads batches, and ``<|end|>`` closes a
turn, so generation stops at the first ``<|end|>`` after the assistant tag.
"""

BOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
USER_TOKEN = "<|user|>"
ASSISTANT_TOKEN = "<|assistant|>"
END_OF_TURN_TOKEN = "<|end|>"
SPECIAL_TOKENS = (BOS_TOKEN, PAD_TOKEN, USER_TOKEN, ASSISTANT_TOKEN, END_OF_TURN_TOKEN)

# Jinja template stored in tokenizer_config.json, so that `tokenizer.apply_chat_template` in
# transformers renders the same text as `format_prompt` and `format_conversation`.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    + USER_TOKEN
    + "{{ message['content'] }}"
    + END_OF_TURN_TOKEN
    + "{% elif message['role'] == 'assistant' %}"
    + ASSISTANT_TOKEN
    + "{{ message['content'] }}"
    + END_OF_TURN_TOKEN
    + "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT_TOKEN + "{% endif %}"
)


def format_prompt(prompt: str) -> str:
    """Render a user prompt up to the assistant tag, without BOS (the tokenizer call adds it)."""
    return f"{USER_TOKEN}{prompt}{END_OF_TURN_TOKEN}{ASSISTANT_TOKEN}"


def format_conversation(prompt: str, response: str) -> str:
    """Render a full prompt and response pair, without BOS."""
    return f"{format_prompt(prompt)}{response}{END_OF_TURN_TOKEN}"
