"""The CRM generator: one seeded company database with latent behaviours planted in it.

Everything is drawn from ``random.Random(db_seed)``; the same seed gives the same rows in the same
order. Latent behaviours (never stored as columns; they only show in the data):

- agents work at different speeds: one is much faster than the rest, one much slower;
- one agent ("the bouncer") transfers far more of their cases to colleagues;
- one agent approves refunds outside the refund window of the knowledge base's refund policy;
- one state's accounts get their cases closed much faster;
- each product has a dominant issue that most of its cases are filed under;
- in each year one product has a spike of cases in one month;
- one contact keeps opening cases about the same product (a complaint habit);
- a few contact names occur at two accounts (so a name alone does not identify a contact).

Times are minutes since 2023-01-01 00:00; the database is a snapshot taken at 2025-01-01 00:00.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
from dataclasses import dataclass
from typing import Any

from palaestra.envs.crm import names as N
from palaestra.envs.crm.clock import (
    BASE,
    BASE_HANDLE_MIN,
    CHANNEL_POOL,
    DAYS,
    PRIORITY_POOL,
    PRIORITY_SPEED,
    PRIORITY_WEIGHTS,
    SNAP_MIN,
    YEARS,
    day,
    day_of_year_start,
    ts,
)
from palaestra.envs.crm.clock import draw as _any
from palaestra.envs.crm.kb import Article, Fact, write_kb
from palaestra.envs.crm.people import Catalog, Latent
from palaestra.envs.crm.schema import create_statements


@dataclass
class World:
    rows: dict[str, list[tuple[Any, ...]]]
    facts: dict[str, Fact]
    articles: list[Article]
    latent: Latent

    def connect(self) -> sqlite3.Connection:
        """A fresh in-memory database holding this world."""
        # check_same_thread=False: a run with --timeout calls sync tools from worker threads (one at a time)
        conn = sqlite3.connect(":memory:", cached_statements=0, check_same_thread=False)
        for stmt in create_statements():
            conn.execute(stmt)
        for table, rows in self.rows.items():
            if rows:
                marks = ",".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.commit()
        return conn


class _Gen(Catalog):
    """Adds the activity: cases with their history and transcripts, and refunds."""

    def case_specs(self) -> list[tuple[int, str, str, str | None, int]]:
        """(created minute, contact, product, order, issue index) of every case, latent extras included."""
        rng = self.rng
        specs = []
        n_issues = len(N.ISSUES)

        def issue_for(p: str) -> int:
            return self.dominant[p] if rng.random() < 0.45 else int(rng.random() * n_issues)

        def about(contact: str, minute: int) -> tuple[str, str | None]:
            before = [o for d, o in self.orders_of.get(contact, []) if d * 1440 < minute]
            if before and rng.random() < 0.75:
                o = _any(rng, before)
                return _any(rng, self.order_items[o]), o
            return _any(rng, self.product_ids), None

        for _ in range(rng.randint(300, 350)):
            m = int(rng.random() * (SNAP_MIN - 60))
            c = _any(rng, self.contacts_of[_any(rng, self.account_ids)])
            p, o = about(c, m)
            specs.append((m, c, p, o, issue_for(p)))
        spiked = rng.sample(self.product_ids, len(YEARS))
        for year, p in zip(YEARS, spiked, strict=True):
            month = rng.randint(1, 12)
            self.latent.spikes[year] = (p, month)
            start = int((dt.datetime(year, month, 1) - BASE).total_seconds() // 60)
            end = int((dt.datetime(year + month // 12, month % 12 + 1, 1) - BASE).total_seconds() // 60)
            for _ in range(rng.randint(12, 18)):
                c = _any(rng, self.contacts_of[_any(rng, self.account_ids)])
                specs.append((rng.randrange(start, min(end, SNAP_MIN - 60)), c, p, None, issue_for(p)))
        with_orders = sorted(c for c, os in self.orders_of.items() if os and os[0][0] < DAYS - 240)
        habit = _any(rng, with_orders)
        d0, o0 = self.orders_of[habit][0]
        p0 = self.order_items[o0][0]
        self.latent.habit = (habit, p0)
        for _ in range(rng.randint(6, 9)):
            m = rng.randrange((d0 + 3) * 1440, SNAP_MIN - 60)
            specs.append((m, habit, p0, o0, issue_for(p0)))
        specs.sort()
        return specs

    def cases(self, sla: dict[str, int]) -> None:
        rng = self.rng
        cases: list[tuple[Any, ...]] = []
        history: list[tuple[str, str, str, str | None, str]] = []
        comments: list[tuple[str, str, str | None, str, str]] = []
        self.cases_of_order: dict[str, str] = {}
        for i, (m, c, p, o, iss) in enumerate(self.case_specs()):
            cid = f"CAS{i + 1:04d}"
            a = self.contact_account[c]
            prio = _any(rng, PRIORITY_POOL)
            chan = _any(rng, CHANNEL_POOL)
            owners = [_any(rng, self.agent_ids)]
            while len(owners) < 5 and rng.random() < self.transfer_p[owners[-1]]:
                owners.append(_any(rng, [x for x in self.agent_ids if x != owners[-1]]))
            final = owners[-1]
            handle = (
                BASE_HANDLE_MIN
                * PRIORITY_SPEED[prio]
                * self.speed[final]
                * self.state_speed[self.account_state[a]]
            )
            handle = max(90, int(handle * rng.lognormvariate(0, 0.35)))
            target = sla[prio] * 60
            delay = min(rng.randint(5, int(target * 1.6)), handle - 30)
            if delay == target:  # no reply exactly at the target: keep float date arithmetic safe
                delay -= 1
            end = m + handle
            if end < SNAP_MIN and rng.random() < 0.95:
                status, closed = "Closed", end
            else:
                status, closed = (
                    ("New" if SNAP_MIN - m < 720 else _any(rng, ("Working", "Working", "Escalated"))),
                    None,
                )
            answered = (
                m + delay < SNAP_MIN - 1
                and status != "New"
                and not (status != "Closed" and rng.random() < 0.1)
            )
            subject = N.ISSUES[iss][3].format(p=self.product[p][0])
            cases.append(
                (
                    cid,
                    subject,
                    a,
                    c,
                    p,
                    o,
                    f"ISS{iss + 1:02d}",
                    final,
                    prio,
                    chan,
                    status,
                    ts(m),
                    None if closed is None else ts(closed),
                )
            )
            if o is not None:
                self.cases_of_order.setdefault(o, cid)
            # History: first assignment, transfers spread over the case's life, status changes.
            horizon = (closed if closed is not None else min(end, SNAP_MIN - 1)) - m
            history.append((cid, ts(m + 1), "owner", None, owners[0]))
            times = (
                sorted(rng.sample(range(2, max(3, horizon - 10)), len(owners) - 1)) if len(owners) > 1 else []
            )
            for t, (old, new) in zip(times, itertools.pairwise(owners), strict=True):
                history.append((cid, ts(m + t), "owner", old, new))
            if status == "Escalated":
                history.append(
                    (cid, ts(m + horizon - 5), "status", "Working" if answered else "New", "Escalated")
                )
            if closed is not None:
                history.append((cid, ts(closed), "status", "Working", "Closed"))
            # Transcript.
            name, fam = self.product[p][0], self.product[p][1]
            text = f"Hello, our {name} {N.ISSUES[iss][2]}."
            if (c, p) == self.latent.habit:
                text += f" This is not the first time I have to write to you about this {N.FAMILIES[fam][0]}."
            comments.append((cid, "customer", None, ts(m), text))
            if answered:
                owner_then = owners[0] if not times or times[0] > delay else owners[1]
                comments.append(
                    (
                        cid,
                        "agent",
                        owner_then,
                        ts(m + delay),
                        f"Thank you for reaching out about the {name}. I am looking into it.",
                    )
                )
            if closed is not None:
                if rng.random() < 0.25:
                    comments.append(
                        (
                            cid,
                            "customer",
                            None,
                            ts(m + (delay + handle) // 2),
                            "Any update on this? We still need it fixed.",
                        )
                    )
                comments.append(
                    (cid, "agent", final, ts(closed), f"Resolved: {N.ISSUES[iss][1]} Closing the case.")
                )
        history.sort(key=lambda r: (r[1], r[0]))
        comments.sort(key=lambda r: (r[3], r[0]))
        self.rows["cases"] = cases
        self.rows["case_history"] = [(f"CH{i + 1:05d}", *r) for i, r in enumerate(history)]
        self.rows["case_comments"] = [(f"CC{i + 1:05d}", *r) for i, r in enumerate(comments)]

    # ---- refunds ------------------------------------------------------------------------------
    def refunds(self, window: int) -> None:
        rng = self.rng
        delivered = sorted(self.delivered.items())
        weights = [3.0 if a == self.latent.violator else 1.0 for a in self.agent_ids]
        raw: list[tuple[int, str, str, int, str, float]] = []

        def add(oid: str, agent: str, late: int, approve: bool) -> bool:
            req = self.delivered[oid] + late
            decided = req + rng.randint(0, 4)
            if decided >= DAYS:
                return False
            value = self.order_value[oid]
            amount = value if rng.random() < 0.6 else round(value * rng.uniform(0.2, 0.9), 2)
            raw.append((req, oid, agent, decided, "Approved" if approve else "Rejected", amount))
            return True

        for _ in range(rng.randint(45, 65)):
            oid = _any(rng, delivered)[0]
            agent = rng.choices(self.agent_ids, weights)[0]
            late = _any(rng, (window, window + 1, rng.randint(0, window + 25), rng.randint(0, window)))
            if agent == self.latent.violator:
                add(oid, agent, late, True)
            else:
                add(oid, agent, late, late <= window and rng.random() < 0.92)
        # Make sure every year has at least two violations by the violator.
        for year in YEARS:
            lo, hi = day_of_year_start(year), day_of_year_start(year + 1)

            def violations(lo: int = lo, hi: int = hi) -> int:
                return sum(
                    1
                    for r in raw
                    if lo <= r[3] < hi and r[4] == "Approved" and r[0] - self.delivered[r[1]] > window
                )

            pool = [o for o, d in delivered if lo + 5 <= d + window and d + window + 10 < hi]
            while violations() < 2 and pool:
                add(_any(rng, pool), self.latent.violator, window + rng.randint(1, 5), True)
        raw.sort()
        self.rows["refunds"] = [
            (
                f"REF{i + 1:03d}",
                oid,
                self.cases_of_order.get(oid),
                agent,
                day(req),
                day(dec),
                status,
                amount,
                _any(rng, N.REFUND_REASONS),
            )
            for i, (req, oid, agent, dec, status, amount) in enumerate(raw)
        ]


def generate_world(seed: int) -> World:
    """The database of one task: rows for every table, the knowledge base's facts and the latents."""
    g = _Gen(seed)
    articles, facts = write_kb(g.rng)
    g.agents()
    g.accounts()
    g.contacts()
    g.products()
    g.orders(facts["max_discount"].value)
    g.cases({p: facts[f"sla_{p.lower()}"].value for p in PRIORITY_WEIGHTS})
    g.refunds(facts["refund_days"].value)
    g.rows["knowledge_articles"] = [(a.id, a.title, a.category, a.body, a.updated_on) for a in articles]
    order = [
        "agents",
        "accounts",
        "contacts",
        "products",
        "orders",
        "order_items",
        "issues",
        "cases",
        "case_history",
        "case_comments",
        "refunds",
        "knowledge_articles",
    ]
    return World({t: g.rows[t] for t in order}, facts, articles, g.latent)
