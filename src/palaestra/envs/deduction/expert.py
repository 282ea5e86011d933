"""The expert: an information-gain questioner (the policy the Entity-Deduction Arena compares to).

It keeps the set of candidates consistent with the answers it has read, and each turn takes the
action whose yes/no split of that set has the highest entropy (with equally likely candidates: the
most even split): one of the grammar's canonical questions, or a guess (a guess splits one
candidate from the rest and may end the game, so it wins ties). With one candidate left, or one question left, it guesses. It uses only what the agent sees:
the candidate list, the question budget and the answers (plus the knowledge base's public facts,
which a capable agent knows as world knowledge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from palaestra import Message, Observation, Policy, Task, action
from palaestra.envs.deduction.kb import knowledge_base
from palaestra.envs.deduction.predicates import canonical_questions

if TYPE_CHECKING:
    from palaestra.envs.deduction.env import DeductionEnv


class InfoGain(Policy):
    env: DeductionEnv

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.mask: int | None = None
        self.pending: tuple[str, int] | None = None
        self.active = [(text, m) for text, _, m in canonical_questions()]
        """The questions that still split the candidates left (the others can only shrink)."""

    def choose(self, observation: Observation) -> Message:
        env = self.env
        if self.mask is None:
            self.mask = env.cand_mask
        reply = observation.messages[-1].content if observation.messages else ""
        if self.pending is not None:
            kind, m = self.pending
            if kind == "ask" and reply.startswith("Yes"):
                self.mask &= m
            elif reply.startswith("No"):  # the answer to a question, or a wrong guess
                self.mask &= ~m
            self.pending = None
        n = self.mask.bit_count()
        if n == 0:  # cannot happen with the deterministic answerer; start over from the candidates
            self.mask = env.cand_mask
            n = self.mask.bit_count()
        # Maximal split entropy = the most even split. A guess splits 1 from n - 1 and may end the
        # game, so a question must split better than that to be asked.
        best, best_gap = None, abs(n - 2)
        if n > 2 and env.question_budget - env.questions > 1:
            active = []
            for text, m in self.active:
                k = (self.mask & m).bit_count()
                if 0 < k < n:
                    active.append((text, m))
                    gap = abs(n - 2 * k)
                    if gap < best_gap:
                        best, best_gap = (text, m), gap
            self.active = active
        if best is None:
            low = self.mask & -self.mask
            target = knowledge_base().entities[low.bit_length() - 1]
            self.pending = ("guess", low)
            return action("guess", name=target.name)
        self.pending = ("ask", best[1])
        return action("ask", question=best[0])
