"""The crm environment: contract, read-only SQL, grading, progress, latent behaviours, ground truth."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest

from palaestra import action
from palaestra.checker import check_env, run_agent
from palaestra.envs.crm import CrmEnv
from palaestra.envs.crm.answers import correct, parse
from palaestra.envs.crm.tasks import prepare
from palaestra.envs.crm.templates import LEVELS, TEMPLATES
from palaestra.envs.crm.world import generate_world
from palaestra.tools import ToolError
from palaestra.types import Message, Task


def task(template: str, db: int = 11) -> Task:
    return Task(
        env="crm",
        id=f"t-{template}-{db}",
        split="test",
        difficulty=1,
        seed=db,
        params={"template": template, "db": db},
    )


async def started(template: str, db: int = 11) -> CrmEnv:
    env = CrmEnv()
    await env.reset(task(template, db))
    return env


async def say(env: CrmEnv, name: str, **args: object) -> tuple[str, dict[str, object], bool]:
    step = await env.step(action(name, **args))
    return step.observation.messages[0].content, step.info, step.terminated


def test_contract_expert_and_random() -> None:
    report = check_env("crm", n=30)
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.random_success <= 0.15
    assert report.expert_success - report.random_success >= 0.8
    for rec in report.episodes["expert"]:
        assert rec.invalid_actions == 0 and rec.progress == 1.0


def test_task_space_levels_and_splits() -> None:
    env = CrmEnv()
    test = env.tasks("test", 200, difficulty=1)
    assert len({t.id for t in test}) == 200
    assert not {t.id for t in env.tasks("train", 200, difficulty=1)} & {t.id for t in test}
    for level, names in LEVELS.items():
        seen = {t.params["template"] for t in env.tasks("dev", 40, difficulty=level)}
        assert seen == set(names)
    assert set(TEMPLATES) == {n for names in LEVELS.values() for n in names}


def test_difficulty_scales_tables_and_policies() -> None:
    tables, facts = {}, {}
    for level, names in LEVELS.items():
        qs = [prepare({"template": n, "db": s}).question for n in names for s in range(3)]
        tables[level] = sum(len(q.tables) for q in qs) / len(qs)
        facts[level] = sum(q.fact is not None and q.template != "knowledge_qa" for q in qs) / len(qs)
    assert tables[1] == 1.0 and tables[1] < tables[2] < tables[3]
    assert facts[1] == facts[2] == 0 and facts[3] > 0


def test_world_is_reproducible_and_dated_before_the_snapshot() -> None:
    a, b = generate_world(5), generate_world(5)
    assert a.rows == b.rows and a.facts == b.facts
    assert generate_world(6).rows != a.rows
    stamps = [r[11] for r in a.rows["cases"]] + [r[12] for r in a.rows["cases"] if r[12]]
    stamps += [r[2] for r in a.rows["case_history"]] + [r[4] for r in a.rows["case_comments"]]
    assert min(stamps) >= "2023-01-01" and max(stamps) < "2025-01-01 00:00:00"
    for table, rows in a.rows.items():
        ids = [r[0] for r in rows]
        assert len(set(ids)) == len(ids), table
    closed = [r for r in a.rows["cases"] if r[10] == "Closed"]
    assert all(r[12] is not None and r[12] > r[11] for r in closed)
    assert all(r[12] is None for r in a.rows["cases"] if r[10] != "Closed")


def test_latent_behaviours_decide_the_answers() -> None:
    planted: Counter[str] = Counter()
    for s in range(12):
        w = generate_world(1000 + s)
        lat = w.latent
        conn = w.connect()
        fastest = conn.execute(
            "SELECT owner_id FROM cases WHERE status = 'Closed' GROUP BY owner_id HAVING COUNT(*) >= 5 "
            "ORDER BY AVG(julianday(closed_at) - julianday(created_at)) LIMIT 1"
        ).fetchone()[0]
        bouncer = conn.execute(
            "SELECT old_value FROM case_history WHERE field = 'owner' AND old_value IS NOT NULL "
            "GROUP BY old_value ORDER BY COUNT(*) DESC LIMIT 1"
        ).fetchone()[0]
        habit = conn.execute(
            "SELECT contact_id, product_id FROM cases GROUP BY 1, 2 ORDER BY COUNT(*) DESC LIMIT 1"
        ).fetchone()
        planted["fast"] += fastest == lat.fast_agent
        planted["bouncer"] += bouncer == lat.bouncer
        planted["habit"] += tuple(habit) == lat.habit
        y, (p, m) = 2024, lat.spikes[2024]
        peak = conn.execute(
            "SELECT product_id, substr(created_at, 1, 7) FROM cases WHERE created_at LIKE '2024%' "
            "GROUP BY 1, 2 ORDER BY COUNT(*) DESC LIMIT 1"
        ).fetchone()
        planted["spike"] += tuple(peak) == (p, f"{y}-{m:02d}")
        conn.close()
    assert all(v >= 10 for v in planted.values()), planted


def test_ground_truth_sql_matches_python_on_policy_questions() -> None:
    """The refund and response-target answers recomputed from the rows with Python dates."""
    for s in range(6):
        p = prepare({"template": "refund_violations", "db": 77 + s})
        rows = p.world.rows
        window = p.world.facts["refund_days"].value
        delivered = {r[0]: r[5] for r in rows["orders"]}
        year = "2023" if "2023" in p.question.text else "2024"
        bad = {
            r[0]
            for r in rows["refunds"]
            if r[6] == "Approved"
            and r[5].startswith(year)
            and (dt.date.fromisoformat(r[4]) - dt.date.fromisoformat(delivered[r[1]])).days > window
        }
        assert bad, "every year has planted violations"
        if p.question.kind == "ids":
            assert p.truth == frozenset(bad)
        else:
            agents = Counter(r[3] for r in rows["refunds"] if r[0] in bad)
            top = min(agents, key=lambda a: (-agents[a], a))
            assert p.truth == next(r[1] for r in rows["agents"] if r[0] == top)
    for s in range(6):
        p = prepare({"template": "sla_breaches", "db": 300 + s})
        q, rows = p.question, p.world.rows
        prio = q.text.split("-priority")[0].split()[-1]
        hours = p.world.facts[f"sla_{prio.lower()}"].value
        month = dt.datetime.strptime(" ".join(q.text.split(" created in ")[1].split()[:2]), "%B %Y")
        first: dict[str, dt.datetime] = {}
        for c in rows["case_comments"]:
            if c[2] == "agent":
                t = dt.datetime.fromisoformat(c[4])
                first[c[1]] = min(first.get(c[1], t), t)
        n = 0
        for c in rows["cases"]:
            made = dt.datetime.fromisoformat(c[11])
            if c[8] == prio and (made.year, made.month) == (month.year, month.month):
                n += c[0] not in first or first[c[0]] - made > dt.timedelta(hours=hours)
        assert p.truth == n


async def test_read_only_and_reproducible_sql() -> None:
    env = await started("case_count")
    before = env.prep.conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    for sql, words in [
        ("DELETE FROM cases", "DELETE statement"),
        ("UPDATE cases SET status = 'Closed'", "UPDATE statement"),
        ("INSERT INTO issues VALUES ('ISS99', 'x', 'y')", "INSERT statement"),
        ("DROP TABLE cases", "DROP statement"),
        ("CREATE TEMP TABLE t (x)", "CREATE statement"),
        ("PRAGMA query_only = OFF", "PRAGMA statement"),
        ("ATTACH ':memory:' AS other", "ATTACH statement"),
        ("SELECT random()", "random() is not available"),
        ("SELECT CURRENT_TIMESTAMP", "current_timestamp() is not available"),
        ("SELECT date('now')", "snapshot taken at 2025-01-01 00:00:00"),
        ("SELECT datetime(created_at, 'localtime') FROM cases", "snapshot"),
        ("SELECT 1; DELETE FROM cases", "one statement at a time"),
        ("SELECT nope FROM cases", "no such column: nope"),
        ("SELECT COUNT(*) FROM case_comments a, case_comments b, cases c", "stopped after"),
        ("", "empty"),
    ]:
        text, info, done = await say(env, "query_sql", sql=sql)
        assert info["invalid_action"] and not done, sql
        assert words in text, (sql, text)
    assert env.sql_errors == env.queries == 15
    assert env.prep.conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == before
    text, info, _ = await say(
        env,
        "query_sql",
        sql="WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n",
    )
    assert not info["invalid_action"] and text.count("\n") == 51 and "only the first 50 rows" in text
    text, info, _ = await say(env, "query_sql", sql="SELECT id, status FROM cases ORDER BY id LIMIT 2")
    assert text.startswith("id | status\nCAS0001 | ") and text.endswith("(2 rows)")
    assert info["queries"] == 17 and info["sql_errors"] == 15


async def test_schema_lookup_and_search_tools() -> None:
    env = await started("refund_violations")
    text, _, _ = await say(env, "list_tables")
    assert text.startswith("Tables: agents (") and "knowledge_articles" in text
    text, _, _ = await say(env, "describe_schema")
    assert "refunds (" in text and "order_id TEXT -> orders.id" in text
    text, info, _ = await say(env, "describe_table", table="case")
    assert info["invalid_action"] and "Did you mean 'cases'?" in text
    text, _, _ = await say(env, "describe_table", table="refunds")
    assert "decided_on TEXT: date YYYY-MM-DD" in text and "First rows:" in text and "REF001" in text
    text, _, _ = await say(env, "lookup", table="cases", id="cas0003")
    assert text.startswith("cases CAS0003\nid: CAS0003\n")
    text, info, _ = await say(env, "lookup", table="cases", id="AGT001")
    assert info["invalid_action"] and "lookup('agents', 'AGT001')" in text
    text, info, _ = await say(env, "lookup", table="orders", id="ORD9999")
    assert info["invalid_action"] and "no record 'ORD9999'" in text
    text, _, _ = await say(env, "search_knowledge", query="refunds")
    assert text.split(" | ")[1].startswith("Refund policy")
    text, _, _ = await say(env, "search_knowledge", query="xyzzy")
    assert text.startswith("No article matches") and "Refund policy" in text


@pytest.mark.parametrize(
    ("kind", "raw", "id_table", "truth", "ok"),
    [
        ("int", "12", None, 12, True),
        ("int", 12.0, None, 12, True),
        ("int", "1,204", None, 1204, True),
        ("number", "$1,234.56", None, 1234.55, True),
        ("number", 1234.57, None, 1234.55, False),
        ("ids", "REF003, ref001", "refunds", frozenset({"REF001", "REF003"}), True),
        ("ids", ["REF001"], "refunds", frozenset({"REF001", "REF003"}), False),
        ("ids", "none", "refunds", frozenset(), True),
        ("id", " prd004 ", "products", "PRD004", True),
        ("month", "2024-3", None, "2024-03", True),
        ("state", "ca", None, "CA", True),
        ("text", "  Dana   Reyes ", None, "Dana Reyes", True),
    ],
)
def test_answer_grading(kind: str, raw: object, id_table: str | None, truth: object, ok: bool) -> None:
    assert correct(kind, parse(kind, raw, id_table), truth) is ok  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "raw", "id_table", "words"),
    [
        ("int", "twelve", None, "not a whole number"),
        ("number", "a lot", None, "not a number"),
        ("ids", "REF001, AGT002", "refunds", "'AGT002' is not a refunds id"),
        ("id", "Pico Sensor", "products", "products id such as PRD007"),
        ("month", "March", None, "YYYY-MM"),
        ("state", "Texas", None, "two-letter"),
        ("text", "AGT003", None, "is an id"),
    ],
)
def test_malformed_answers_are_refused(kind: str, raw: str, id_table: str | None, words: str) -> None:
    with pytest.raises(ToolError, match=words):
        parse(kind, raw, id_table)  # type: ignore[arg-type]


async def test_submission_rules_reward_and_progress() -> None:
    env = await started("refund_violations", db=5)
    q = env.question
    assert env.progress() == 0.0 and q.fact is not None
    _, info, _ = await say(env, "describe_table", table=q.tables[0])
    assert info["progress"] == pytest.approx(1 / 4)
    _, info, _ = await say(env, "lookup", table="knowledge_articles", id=q.fact.article)
    assert info["progress"] == pytest.approx(2 / 4)
    _, info, _ = await say(env, "query_sql", sql=f"SELECT * FROM {q.tables[0]} LIMIT 1")
    assert info["progress"] == pytest.approx((2 + 1 / len(q.tables)) / 4)
    _, info, _ = await say(env, "query_sql", sql=q.sql)
    assert info["progress"] == pytest.approx(3 / 4)
    text, info, done = await say(env, "submit_answer", answer="ORD0001")
    assert info["invalid_action"] and not done and "'ORD0001' is" in text
    right = await started("refund_violations", db=5)
    wrong_answer = "none" if env.truth else "REF001"
    text, info, done = await say(env, "submit_answer", answer=wrong_answer)
    assert done and not info["success"] and text.startswith("Incorrect: you answered")
    assert info["progress"] == pytest.approx(3 / 4)
    step = await right.step(action("submit_answer", answer=_render(right)))
    assert step.terminated and step.info["success"] and step.reward == 1.0 and step.info["progress"] == 1.0
    assert step.observation.messages[0].content.startswith("Correct:")
    after = await right.step(action("list_tables"))
    assert after.info["invalid_action"] and "already over" in after.observation.text


def _render(env: CrmEnv) -> str:
    from palaestra.envs.crm.answers import render

    return render(env.question.kind, env.truth)


async def test_same_actions_same_bytes_for_random_play_and_snapshots() -> None:
    t = CrmEnv().tasks("test", 1, seed=4, difficulty=2)[0]
    runs = [await run_agent("crm", "random", [t], seed=9) for _ in range(2)]
    dumps = [
        "\n".join(m.model_dump_json() for s in r[0].steps for m in [*s.observation, s.action]) for r in runs
    ]
    assert dumps[0] == dumps[1]
    env = await started("case_count")
    snap = env.snapshot()
    await say(env, "query_sql", sql="SELECT 1")
    await say(env, "submit_answer", answer="0")
    assert env.done
    env.restore(snap)
    assert not env.done and env.queries == 0
    text, _, _ = await say(env, "query_sql", sql="SELECT COUNT(*) AS n FROM cases")
    assert text.startswith("n\n")


async def test_reset_builds_a_fresh_database_each_time() -> None:
    env = CrmEnv()
    t = task("case_count", 3)
    await env.reset(t)
    first = env.prep.conn
    await env.step(Message(role="assistant", content="just text"))
    await env.reset(t)
    assert env.prep.conn is not first and env.queries == 0
    rng = random.Random(0)
    assert env.generate(rng, 3)["template"] in LEVELS[3]
    await env.close()


async def test_strftime_with_only_a_format_does_not_read_the_clock() -> None:
    """strftime('%Y-%m') means strftime('%Y-%m', 'now'): the host's month, not the snapshot's."""
    env = await started("case_count")
    for sql in ("SELECT strftime('%Y-%m')", 'SELECT STRFTIME ( "%s" )'):
        text, info, _ = await say(env, "query_sql", sql=sql)
        assert info["invalid_action"] and "snapshot taken at 2025-01-01" in text, (sql, text)
    text, info, _ = await say(env, "query_sql", sql="SELECT strftime('%Y-%m', created_at) FROM cases LIMIT 1")
    assert not info["invalid_action"], text
    await env.close()
