"""The shop's expert: searches with the instruction's words, opens a fitting product, buys it.

It reads the hidden goal only to judge which listed product fits (the same judgement a careful
shopper makes from the product pages); it only opens products that its searches showed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from palaestra import Message, Observation, Policy, Task, action
from palaestra.envs.shop.tasks import search_words

if TYPE_CHECKING:
    from palaestra.envs.shop.env import ShopEnv


class ShopExpert(Policy):
    env: ShopEnv

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        env = self.env
        core = search_words(env.cat, task.params)
        opts = " ".join(v for _, v in task.params["options"])
        # First the product description, then with the option values, then the whole instruction.
        self.queries = list(dict.fromkeys([core, f"{core} {opts}", env.instruction]))
        self.next_query = 0

    def choose(self, observation: Observation) -> Message:
        env = self.env
        if env.view == "product" and env.current is not None and env.fits(env.current):
            for name, value in env.goal.options:
                if env.selected.get(name) != value:
                    return action("select_option", name=name, value=value)
            return action("buy")
        if env.view == "results":
            start = (env.page - 1) * 10
            for i in env.results[start : start + 10]:
                if env.fits(i):
                    return action("view_product", product_id=env.cat.products[i].pid)
            if env.page * 10 < len(env.results):
                return action("next_page")
        if self.next_query < len(self.queries):
            self.next_query += 1
            return action("search", query=self.queries[self.next_query - 1])
        return self._best_effort()

    def _best_effort(self) -> Message:
        """Nothing fitting was found: buy the listed product that scores best (a partial match)."""
        env = self.env
        if env.view == "product":
            return action("buy")
        from palaestra.envs.shop.reward import score

        goal = env.goal
        best = max(env.results, key=lambda i: score(env.cat.products[i], goal, {}).reward, default=None)
        if best is None:
            return action("search", query=env.cat.by_id[self.task.params["product_id"]].kind.name)
        return action("view_product", product_id=env.cat.products[best].pid)
