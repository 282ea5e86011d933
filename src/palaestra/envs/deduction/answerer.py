"""The optional model answerer: any Palaestra model judges free-form questions about the secret.

It is used only when the environment is built with ``answerer=...`` (a model spec such as
``openai:gpt-4o-mini`` or a ``Model``). The model sees the secret's name and its knowledge-base
facts and must answer one word: Yes, No or Unknown. ``parse_reply`` reads that word robustly
(reasoning blocks, punctuation, "The answer is no.", "Yes, it is." ...); a reply with no clear
answer counts as Unknown.
"""

from __future__ import annotations

import re
from typing import Literal

from palaestra import Message
from palaestra.envs.deduction.kb import Entity, describe
from palaestra.models.base import GenerateConfig, Model

Answer = Literal["yes", "no", "unknown"]

PROMPT = """\
You are the answerer in a game of twenty questions. The secret is: {name} ({category}).
Facts about it: {facts}
The player asks one yes/no question at a time. Answer truthfully about the secret, using the facts \
above and your general knowledge. Reply with exactly one word: Yes, No, or Unknown (Unknown when the \
question cannot be answered with yes or no, or when the answer is not known). Never reveal the secret."""

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_WORD = re.compile(
    r"\b(yes|yeah|yep|correct|true|no|nope|incorrect|false|not really|not at all|unknown|"
    r"not sure|don't know|do not know|dont know|cannot|can't|cant|unclear|maybe|sometimes|partly|depends)\b"
)
_YES = {"yes", "yeah", "yep", "correct", "true"}
_NO = {"no", "nope", "incorrect", "false", "not really", "not at all"}


def parse_reply(text: str) -> Answer:
    """Yes, No or Unknown from a model's reply: the first answer word that appears in it."""
    text = _THINK.sub(" ", text).lower().replace("’", "'")
    m = _WORD.search(text)
    if m is None:
        return "unknown"
    word = m[1]
    return "yes" if word in _YES else "no" if word in _NO else "unknown"


class ModelAnswerer:
    """Asks ``model`` whether a question about the secret is true."""

    def __init__(self, model: Model, config: GenerateConfig | None = None) -> None:
        self.model = model
        self.config = config or GenerateConfig(temperature=0.0, max_tokens=256)

    def messages(self, secret: Entity, question: str) -> list[Message]:
        system = PROMPT.format(name=secret.name, category=secret.category, facts=describe(secret))
        return [Message(role="system", content=system), Message(role="user", content=question)]

    async def answer(self, secret: Entity, question: str) -> Answer:
        out = await self.model.generate(self.messages(secret, question), None, self.config)
        return parse_reply(out.message.content)
