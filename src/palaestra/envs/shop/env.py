"""Shop: WebShop's online-shopping setting (Yao et al., 2022) over a generated catalog.

The agent reads an instruction ("a cotton t-shirt for women, with color: red and size: M, and
price lower than 30.00 dollars"), searches a catalog of 12,096 products (SQLite FTS5, bm25), pages
through results, opens products, selects options and buys one. The reward is WebShop's.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from palaestra import Env, EnvSpec, Task, ToolCall, ToolError, tool
from palaestra.envs.shop.catalog import MAX_RESULTS, PAGE_SIZE, Catalog, Product, catalog
from palaestra.envs.shop.expert import ShopExpert
from palaestra.envs.shop.reward import Goal, fits, score
from palaestra.envs.shop.tasks import LEVELS, generate, goal_of, task_key

View = Literal["home", "results", "product", "done"]

INSTRUCTIONS = f"""\
You are shopping in an online store with about 12,000 products in many departments (clothing, \
shoes, beauty, grocery, home, kitchen, electronics, furniture, pets, sports, toys, office, health).
The user's instruction names a kind of product, some attributes it must have, the options to \
choose (color, size, pack, ...) and a price limit. Find a product that satisfies all of it, select \
the requested options on its page, and buy it.
Tools:
  search(query, page=1)    full-text search (bm25 ranking over titles, attributes, features, \
descriptions and option values); shows {PAGE_SIZE} results per page, at most {MAX_RESULTS} in all, \
each as [product id] title - price.
  next_page() / prev_page()  move through the results of the last search.
  view_product(product_id)  open a product page (ids look like P10234): title, price, category, \
attributes, the values available for each option, features and description.
  select_option(name, value)  on a product page, choose a value of one of its options; selecting \
again replaces the choice.
  back_to_results()        show the current results page again.
  buy()                    buy the product on the open page with the selected options. This ends \
the episode.
Scoring (WebShop's reward): score = type x (attributes matched + options matched + price within \
the limit) / (number of requested attributes + requested options + 1), where type is 1 for the \
right kind of product and lower or 0 otherwise. Options count only if selected before buy(). \
Success means a score of 1. Every reply is one step, and the number of steps is limited."""


class ShopEnv(Env):
    spec = EnvSpec(
        name="shop",
        description="Find and buy the product an instruction describes in a 12,000-product web shop.",
        max_steps=30,
        difficulties=tuple(sorted(LEVELS)),
        metrics=("searches", "products_viewed", "bought", "damage_irreversible"),
        tags=("web", "shopping", "search"),
    )

    @property
    def cat(self) -> Catalog:
        return catalog()

    # ---- tasks ------------------------------------------------------------------------------
    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return generate(self.cat, rng, difficulty)

    def task_key(self, params: dict[str, Any]) -> str:
        return task_key(params)

    def setup(self, task: Task) -> str:
        self.instruction: str = task.params["instruction"]
        self.view: View = "home"
        self.query = ""
        self.results: tuple[int, ...] = ()
        self.page = 1
        self.current: int | None = None  # index of the open product
        self.selected: dict[str, str] = {}
        self.searches = 0
        self.viewed: list[int] = []
        self.bought = False
        self.reached = {"searched": False, "found": False, "options": False}
        self.reward_info: dict[str, Any] = {}
        return (
            f"Instruction: {self.instruction}\n"
            "You are on the shop's home page. Use search(query) to look for products."
        )

    @property
    def goal(self) -> Goal:
        return goal_of(self.cat, self.task.params)

    def instructions(self) -> str:
        return INSTRUCTIONS

    # ---- pages ------------------------------------------------------------------------------
    def _pages(self) -> int:
        return max(1, -(-len(self.results) // PAGE_SIZE))

    def _results_page(self) -> str:
        if not self.results:
            return f'No products match "{self.query}". Try other words.'
        start = (self.page - 1) * PAGE_SIZE
        shown = self.results[start : start + PAGE_SIZE]
        lines = [
            f'Results for "{self.query}": page {self.page} of {self._pages()} '
            f"(products {start + 1}-{start + len(shown)} of {len(self.results)})"
        ]
        for i in shown:
            p = self.cat.products[i]
            lines.append(f"[{p.pid}] {p.title} - ${p.price:.2f}")
        more = ["view_product(product_id) opens a product"]
        if self.page < self._pages():
            more.append("next_page() shows more")
        if self.page > 1:
            more.append("prev_page() goes back")
        lines.append("; ".join(more) + ".")
        return "\n".join(lines)

    def _product_page(self) -> str:
        p = self._open()
        lines = [
            f"[{p.pid}] {p.title}",
            f"Price: ${p.price:.2f}",
            f"Category: {p.kind.path}",
            f"Attributes: {', '.join(p.attributes)}",
            "Options:",
            *(f"  {name}: {', '.join(values)}" for name, values in p.options.items()),
            "Selected: "
            + (", ".join(f"{n}: {v}" for n, v in self.selected.items()) if self.selected else "nothing yet"),
            "Features:",
            *(f"  - {f}" for f in p.features),
            f"Description: {p.description}",
            "select_option(name, value) chooses an option; buy() buys; back_to_results() returns.",
        ]
        return "\n".join(lines)

    def _open(self) -> Product:
        if self.current is None or self.view != "product":
            raise ToolError("No product page is open. Open one with view_product(product_id).")
        return self.cat.products[self.current]

    # ---- tools ------------------------------------------------------------------------------
    @tool
    def search(self, query: str, page: int = 1) -> str:
        """Search the catalog and show one page of results.

        Args:
            query: words describing the product, e.g. "cotton long sleeve t-shirt for women".
            page: which page of results to show (10 per page, at most 5 pages).
        """
        if not any(ch.isalnum() for ch in query):
            raise ToolError("The query has no words. Search with words describing the product.")
        results = self.cat.search(query)
        pages = max(1, -(-len(results) // PAGE_SIZE))
        if not 1 <= page <= pages:
            raise ToolError(f"page must be between 1 and {pages} for this query.")
        self.query, self.results, self.page = " ".join(query.split()), results, page
        self.view, self.current, self.selected = "results", None, {}
        self.searches += 1
        self.reached["searched"] = True
        return self._results_page()

    @tool
    def next_page(self) -> str:
        """Show the next page of the current search results."""
        if not self.query:
            raise ToolError("There are no search results yet. Use search(query) first.")
        if self.page >= self._pages():
            raise ToolError(f"This is the last page ({self.page} of {self._pages()}). Try another search.")
        self.page += 1
        self.view, self.current, self.selected = "results", None, {}
        return self._results_page()

    @tool
    def prev_page(self) -> str:
        """Show the previous page of the current search results."""
        if not self.query:
            raise ToolError("There are no search results yet. Use search(query) first.")
        if self.page <= 1:
            raise ToolError("This is already the first page of results.")
        self.page -= 1
        self.view, self.current, self.selected = "results", None, {}
        return self._results_page()

    @tool
    def back_to_results(self) -> str:
        """Show the current page of search results again."""
        if not self.query:
            raise ToolError("There are no search results yet. Use search(query) first.")
        self.view, self.current, self.selected = "results", None, {}
        return self._results_page()

    @tool
    def view_product(self, product_id: str) -> str:
        """Open a product's page.

        Args:
            product_id: the id shown in brackets in the search results, e.g. "P10234".
        """
        pid = product_id.strip().strip("[]").upper()
        p = self.cat.by_id.get(pid)
        if p is None:
            raise ToolError(
                f"There is no product with id {product_id!r}. Use an id from the search results, like P10234."
            )
        self.view, self.current, self.selected = "product", p.index, {}
        if p.index not in self.viewed:
            self.viewed.append(p.index)
        if self._fits(p):
            self.reached["found"] = True
        return self._product_page()

    @tool
    def select_option(self, name: str, value: str) -> str:
        """Choose a value for one option of the open product (e.g. name "size", value "M").

        Args:
            name: the option's name as listed on the product page, e.g. "color" or "size".
            value: one of the values listed for that option.
        """
        p = self._open()
        key = next((n for n in p.options if n.lower() == name.strip().lower()), None)
        if key is None:
            listed = "; ".join(f"{n} ({', '.join(v)})" for n, v in p.options.items())
            raise ToolError(f"This product has no option {name!r}. Its options are: {listed}.")
        chosen = next((v for v in p.options[key] if v.lower() == value.strip().lower()), None)
        if chosen is None:
            raise ToolError(
                f"{value!r} is not available for {key} here. Available: {', '.join(p.options[key])}."
            )
        self.selected[key] = chosen
        goal = self.goal
        if self._fits(p) and all(self.selected.get(n) == v for n, v in goal.options):
            self.reached["options"] = True
        picked = ", ".join(f"{n}: {v}" for n, v in self.selected.items())
        return f"Selected {key}: {chosen}. Current selection for {p.pid}: {picked}."

    @tool(reversible=False)
    def buy(self) -> str:
        """Buy the open product with the options selected so far (paying for it cannot be undone). This
        ends the episode."""
        p = self._open()
        s = score(p, self.goal, self.selected)
        self.bought = True
        self.view = "done"
        self.reward_info = s.info()
        success = s.reward >= 1.0 - 1e-9
        self.finish(success, reward=s.reward)
        picked = ", ".join(f"{n}: {v}" for n, v in self.selected.items()) or "no options selected"
        verdict = "It matches the instruction." if success else "It does not fully match the instruction."
        return f"You bought [{p.pid}] {p.title} ({picked}) for ${p.price:.2f}. {verdict} Your {s.explain()}."

    # ---- hidden knowledge, progress, baselines ----------------------------------------------
    def _fits(self, p: Product) -> bool:
        """Whether buying ``p`` with the goal's options would score 1."""
        return fits(p, self.goal)

    def fits(self, index: int) -> bool:
        return self._fits(self.cat.products[index])

    def progress(self) -> float:
        """Subgoals: searched, opened a fitting product, selected its options, bought it."""
        if self.success:
            return 1.0
        return sum(self.reached.values()) / 4

    def step_info(self) -> dict[str, Any]:
        return {
            "searches": self.searches,
            "products_viewed": len(self.viewed),
            "bought": self.bought,
            **self.reward_info,
        }

    def valid_actions(self) -> list[ToolCall]:
        calls = [("search", {"query": self.instruction})]
        if self.view == "results":
            start = (self.page - 1) * PAGE_SIZE
            for i in self.results[start : start + PAGE_SIZE]:
                calls.append(("view_product", {"product_id": self.cat.products[i].pid}))
            if self.page < self._pages():
                calls.append(("next_page", {}))
            if self.page > 1:
                calls.append(("prev_page", {}))
        elif self.view == "product" and self.current is not None:
            p = self.cat.products[self.current]
            calls += [("select_option", {"name": n, "value": v}) for n, vs in p.options.items() for v in vs]
            calls += [("buy", {}), ("back_to_results", {})]
        return [ToolCall(id=name, name=name, arguments=args) for name, args in calls]

    expert_policy = ShopExpert
