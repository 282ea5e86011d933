"""The expert: runs the question's ground-truth SQL and submits its result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from palaestra import Message, Observation, Policy, Task, action
from palaestra.envs.crm import answers

if TYPE_CHECKING:
    from palaestra.envs.crm.env import CrmEnv


class GroundTruthQuery(Policy):
    """Looks at the schema; where the question rests on a policy, finds the article with
    ``search_knowledge`` and reads it with ``lookup``; runs the ground-truth query with ``query_sql``;
    submits the answer that query computed (the value the task is graded against)."""

    env: CrmEnv

    script: list[tuple[str, dict[str, Any]]] | None = None
    n: int = 0

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.script = None
        self.n = 0

    def _make_script(self) -> list[tuple[str, dict[str, Any]]]:
        q, env = self.env.question, self.env
        script: list[tuple[str, dict[str, Any]]] = [("describe_schema", {})]
        if q.fact is not None:
            title = next(a.title for a in env.prep.world.articles if a.id == q.fact.article)
            script.append(("search_knowledge", {"query": title}))
            script.append(("lookup", {"table": "knowledge_articles", "id": q.fact.article}))
        script.append(("query_sql", {"sql": q.sql}))
        script.append(("submit_answer", {"answer": answers.render(q.kind, env.truth)}))
        return script

    def choose(self, observation: Observation) -> Message:
        if self.script is None:
            self.script = self._make_script()
        self.n += 1
        name, args = self.script.pop(0) if self.script else ("list_tables", {})
        return action(name, f"call_{self.n}", **args)
