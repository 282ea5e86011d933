"""Deduction: twenty questions over a knowledge base of animals, objects, cities and famous people.

The setting of the Entity-Deduction Arena (Zhang et al., 2024) and of LMRL-Gym's Twenty Questions
and Guess My City (Abdulhai et al., 2023): the answerer has a secret entity in mind; the agent asks
yes/no questions and guesses within a question budget. The default answerer is deterministic (a
documented question grammar over the shipped knowledge base); any Palaestra model can be plugged
in as a judge for free-form questions (``DeductionEnv(answerer="openai:...")``).
"""

from __future__ import annotations

import copy
import difflib
import functools
import math
from typing import Any, Literal

from palaestra import Env, EnvSpec, Message, ModelError, Step, Task, ToolCall, ToolError, ToolSpec, tool
from palaestra.envs.deduction.answerer import ModelAnswerer
from palaestra.envs.deduction.expert import InfoGain
from palaestra.envs.deduction.grammar import GRAMMAR, parse
from palaestra.envs.deduction.kb import CATEGORIES, PLURAL, Entity, knowledge_base
from palaestra.envs.deduction.predicates import canonical_questions, mask
from palaestra.envs.deduction.tasks import LEVELS, generate
from palaestra.models.base import Model, get_model

INSTRUCTIONS = """\
You are playing twenty questions. The answerer has picked a secret from a list of candidates \
(animals, everyday objects, cities and famous people) that the goal shows you. Find out which one \
it is by asking yes/no questions, then name it.
Tools:
  ask(question)      ask one yes/no question about the secret; the answer is Yes or No. The \
answerer understands the question forms listed in the tool's description; a question it cannot \
read is answered "I can't answer that question" and does not use up a question. Asking \
"Is it <candidate>?" is a guess.
  guess(name)        name a candidate. Right: you win. Wrong: it uses up a question and the game goes on.
  list_candidates(category)  show the candidates again (free).
Every answered question and every guess uses one of your questions; the goal says how many you \
have. When they are used up without the right guess, you lose.
How the answerer sees the world (its knowledge base):
- The categories do not overlap: a person is not an animal, and cities are the only places. A \
property that does not apply to the secret's category is answered No (a city has no legs; an \
animal or object is never "in" a continent or country; for a person ask where he or she was born).
- Sizes are classes: tiny (under 3 cm: an ant, a ring), small (3-30 cm, fits in a hand: a mouse, a \
phone), medium-sized (30 cm to about 1.5 m: a cat, a chair, a guitar), large (person-sized up to \
car-sized: a person, a horse, a piano, a car), huge (bigger than a car: an elephant, a bus); a city \
is bigger than all of them. Animals are measured by body size (tails and wings not counted), objects \
by their largest dimension. "Bigger than X" means a bigger size class.
- Animals: diet is herbivore, carnivore (insect eaters included) or omnivore; "flies" means flying \
is how it normally gets about (a chicken does not); legs are what it walks on (an ape has two legs).
- Objects: materials are the main ones it is made of; rooms are where it is usually found; \
"electric" means it runs on mains power or batteries (vehicles do not count as electric).
- Cities: population is that of the metropolitan area, in bands (under a million, one to ten \
million, over ten million); "coastal" means on a sea or ocean coast; "capital" means national capital.
- People: "born in" is the year and the present-day country of birth; "alive" is as of the end of \
2024; the field is what the person is famous for."""

_SHORT_GRAMMAR = (
    "Ask in one of these forms (the full vocabulary is in the ask tool's description): Is it a/an "
    "<category, class, kind or field>? | Is it <adjective>? | Is it bigger/smaller than a <thing>? | "
    "Is it made of <material>? | Is it found in the <room>? | Is it in <continent or country>? | "
    "Is it the capital of <country>? | Does it have more than a million people? | "
    "Does it / Can it <verb phrase>? | Was he/she born before/after/in <year, century or place>? | "
    "Is he/she from <place>? | Does its name start with the letter <X>? | Is it <candidate>?"
)

_ASK_DOC = "Ask one yes/no question about the secret. An answered question uses one of your questions.\n"
_MODEL_ASK_DOC = (
    "Ask one yes/no question about the secret, in your own words; the answer is Yes, No or "
    "I don't know, and any answered question uses one of your questions. Questions in the grammar "
    "below are answered from the knowledge base.\n"
)

Category = Literal["all", "animal", "object", "city", "person"]


@functools.cache
def _ask_calls() -> tuple[ToolCall, ...]:
    return tuple(
        ToolCall(id="ask", name="ask", arguments={"question": q}) for q, _, _ in canonical_questions()
    )


@functools.cache
def _guess_call(name: str) -> ToolCall:
    return ToolCall(id="guess", name="guess", arguments={"name": name})


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class DeductionEnv(Env):
    spec = EnvSpec(
        name="deduction",
        description="Twenty questions: find the secret animal, object, city or person with yes/no questions.",
        max_steps=50,
        difficulties=tuple(sorted(LEVELS)),
        metrics=("questions", "wrong_guesses"),
        tags=("dialogue", "information-seeking", "twenty-questions"),
    )

    # Episode state, set by setup().
    secret: Entity
    candidates: list[Entity]
    cand_mask: int
    """The candidates, as a bitset over knowledge-base indices (public: the goal lists them)."""
    consistent: int
    """Candidates consistent with every answer the knowledge base gave so far (for progress)."""
    question_budget: int
    questions: int
    wrong: list[Entity]

    def __init__(self, answerer: str | Model | None = None, *, judge_all: bool = False) -> None:
        """``answerer``: None for the deterministic grammar answerer, or a model (a spec such as
        ``openai:gpt-4o-mini`` or a ``Model``) that judges questions outside the grammar (all
        questions with ``judge_all=True``)."""
        self._own_model = isinstance(answerer, str)
        self._answerer = None if answerer is None else ModelAnswerer(get_model(answerer))
        self._judge_all = judge_all
        self._answerer_error: ModelError | None = None
        self._specs = [
            s.model_copy(update={"description": _MODEL_ASK_DOC + GRAMMAR}) if s.name == "ask" else s
            for s in self._tool_specs
        ]

    generate = staticmethod(generate)

    def instructions(self) -> str:
        return INSTRUCTIONS

    def setup(self, task: Task) -> str:
        kb = knowledge_base()
        p = task.params
        self.secret = kb.by_slug[p["secret"]]
        self.candidates = [kb.by_slug[s] for s in p["candidates"]]
        self.cand_mask = kb.mask_of(self.candidates)
        self.consistent = self.cand_mask
        self.question_budget = int(p["budget"])
        self.questions = 0
        self.wrong = []
        self._by_listing = sorted(self.candidates, key=lambda e: (CATEGORIES.index(e.category), e.norm))
        which = f" It is {_a(p['category'])}." if p["category"] else ""
        return (
            f"I am thinking of one of the {len(self.candidates)} candidates below.{which} Find out which "
            f"one: ask yes/no questions with ask(question) and name it with guess(name). You have "
            f"{self.question_budget} questions; every answered question and every guess uses one.\n"
            f"{self._listing('all')}"
        )

    # ---- what the agent sees ------------------------------------------------------------------
    def _listing(self, category: str) -> str:
        lines = []
        for cat in CATEGORIES:
            names = (
                [e.name for e in self._by_listing if e.category == cat] if category in ("all", cat) else []
            )
            if names:
                lines.append(f"{PLURAL[cat].capitalize()} ({len(names)}): {', '.join(names)}")
        return "\n".join(lines) if lines else f"None of the candidates is {_a(category)}."

    def _left(self) -> int:
        return self.question_budget - self.questions

    def _use_question(self, text: str) -> str:
        """Count one question; end the game as a loss when it was the last one."""
        self.questions += 1
        if self._left() > 0:
            return f"{text} ({_plural(self._left(), 'question')} left.)"
        self.finish(success=False)
        return f"{text} That was your last question: the answer was {self.secret.name}."

    # ---- actions ------------------------------------------------------------------------------
    @tool(description=_ASK_DOC + GRAMMAR)
    async def ask(self, question: str) -> str:
        """Ask a yes/no question.

        Args:
            question: one yes/no question in English, e.g. "Is it a mammal?".
        """
        parsed = parse(question)
        if parsed.entity is not None:
            return self._guess(parsed.entity)
        if parsed.key is not None and not (self._answerer is not None and self._judge_all):
            m = mask(parsed.key)
            yes = bool(m >> self.secret.index & 1)
            self.consistent &= m if yes else ~m
            return self._use_question("Yes." if yes else "No.")
        if self._answerer is not None and question.strip():
            try:
                answer = await self._answerer.answer(self.secret, question.strip())
            except ModelError as e:
                self._answerer_error = e
                raise ToolError("the answerer model failed; this did not use a question.") from e
            return self._use_question({"yes": "Yes.", "no": "No.", "unknown": "I don't know."}[answer])
        raise ToolError(
            f"I can't answer that question. {parsed.error} This did not use a question. {_SHORT_GRAMMAR}"
        )

    @tool
    def guess(self, name: str) -> str:
        """Name the secret. A wrong guess uses one of your questions.

        Args:
            name: the name of one of the candidates, as listed.
        """
        entity = knowledge_base().find(name)
        if entity is None:
            raise ToolError(self._not_candidate(name))
        return self._guess(entity)

    @tool
    def list_candidates(self, category: Category = "all") -> str:
        """Show the candidates (free: it does not use a question).

        Args:
            category: all, or only one category: animal, object, city or person.
        """
        text = self._listing(category)
        if self.wrong:
            text += f"\nWrong guesses so far: {', '.join(e.name for e in self.wrong)}."
        return f"{text}\n{_plural(self._left(), 'question')} left."

    def _not_candidate(self, name: str) -> str:
        names = [e.name for e in self.candidates]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(close)}?" if close else " Call list_candidates() to see them."
        return f"'{name}' is not one of the candidates; this did not use a question.{hint}"

    def _guess(self, entity: Entity) -> str:
        if not self.cand_mask >> entity.index & 1:
            raise ToolError(self._not_candidate(entity.name))
        if entity in self.wrong:
            raise ToolError(f"You already guessed {entity.name}: it is not. This did not use a question.")
        if entity is self.secret:
            self.questions += 1
            self.finish(success=True)
            return f"Yes! It is {entity.name}. You found it with {self.questions} of {self.question_budget} questions."
        self.wrong.append(entity)
        self.consistent &= ~entity.bit
        return self._use_question(f"No, it is not {entity.name}.")

    def valid_actions(self) -> list[ToolCall]:
        """Every canonical question of the grammar and a guess of every candidate not yet ruled out
        by a wrong guess."""
        return [*_ask_calls(), *(_guess_call(e.name) for e in self._by_listing if e not in self.wrong)]

    def tool_specs(self) -> list[ToolSpec]:
        return self._tool_specs if self._answerer is None else self._specs

    # ---- bookkeeping --------------------------------------------------------------------------
    async def step(self, action: Message) -> Step:
        step = await super().step(action)
        if self._answerer_error is not None:  # a judge failure is no fault of the agent's
            error, self._answerer_error = self._answerer_error, None
            raise error
        return step

    def step_info(self) -> dict[str, Any]:
        return {"questions": self.questions, "wrong_guesses": len(self.wrong)}

    def progress(self) -> float:
        """Share of the candidates' bits of uncertainty removed by the knowledge base's answers
        (1 on success)."""
        if self.success:
            return 1.0
        n = len(self.candidates)
        left = max(1, self.consistent.bit_count())
        return 1.0 - math.log2(left) / math.log2(n) if n > 1 else 0.0

    expert_policy = InfoGain

    async def close(self) -> None:
        if self._answerer is not None and self._own_model:
            await self._answerer.model.close()

    def snapshot(self) -> Any:
        state = {k: v for k, v in self.__dict__.items() if k != "_answerer"}
        return copy.deepcopy(state)

    def restore(self, snap: Any) -> None:
        answerer = self._answerer
        self.__dict__.clear()
        self.__dict__.update(copy.deepcopy(snap))
        self._answerer = answerer
