"""Damage that can be undone (GoEX) and access control (AIOS): consequential tools declare whether
they can be undone, the host logs and counts them, undoes them, and applies a run's tool policy."""

from __future__ import annotations

import dataclasses
import json
import pickle
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from palaestra import Env, EnvSpec, MultiAgentEnv, RunConfig, Store, ToolPolicy, make, record_undo, run, tool
from palaestra.cli._common import seat_tool_patterns
from palaestra.envs.crm.env import CrmEnv
from palaestra.envs.shop import ShopEnv
from palaestra.envs.tools import ToolsEnv
from palaestra.envs.tools.snapshot import snapshot_world
from palaestra.errors import UsageError
from palaestra.eval.metrics import run_metrics
from palaestra.report import build_report
from palaestra.runner.match import play_match
from palaestra.runner.run import validate
from palaestra.runner.tournament import MatchConfig
from palaestra.types import Message, Step, Task, ToolCall


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from palaestra.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def reply(*calls: tuple[str, dict[str, Any]]) -> Message:
    return Message(
        role="assistant",
        tool_calls=[ToolCall(id=f"c{i}", name=n, arguments=a) for i, (n, a) in enumerate(calls)],
    )


async def do(env: Env, name: str, /, **arguments: Any) -> Step:
    return await env.step(reply((name, arguments)))


def canonical(env: ToolsEnv) -> bytes:
    """The world's whole state (records, database image, files, folders) as bytes."""
    assert env.world is not None
    snap = snapshot_world(env.world)
    snap["records"] = {
        k: [dataclasses.asdict(r) for r in v] if isinstance(v, list) else v
        for k, v in snap["records"].items()
    }
    return pickle.dumps(snap)


async def tools_env(policy: ToolPolicy | None = None) -> ToolsEnv:
    env = ToolsEnv()
    if policy is not None:
        env.tool_policy = policy
    await env.reset(env.tasks("train", 1, seed=3)[0])
    return env


REVERSIBLE_SCRIPT: list[tuple[str, dict[str, Any]]] = [
    ("execute_sql", {"statement": "DELETE FROM orders WHERE quantity > 1"}),
    ("write_file", {"path": "new/deep/plan.txt", "content": "a plan"}),
    ("write_file", {"path": "notes.txt", "content": "overwritten"}),
    ("append_to_file", {"path": "todo.txt", "content": "- more\n"}),
    ("delete_file", {"path": "expenses.csv"}),
    ("move_file", {"source": "drafts/letter.txt", "destination": "sent/letter.txt"}),
    ("copy_file", {"source": "todo.txt", "destination": "copies/todo.txt"}),
    ("create_directory", {"path": "empty/inside"}),
    ("create_event", {"title": "Review", "date": "2030-01-02", "start": "10:00", "end": "11:00"}),
    ("reschedule_event", {"event_id": "ev-116", "date": "2030-01-03", "start": "09:00"}),
    ("add_attendee", {"event_id": "ev-112", "email": "zed@example.com"}),
    ("cancel_event", {"event_id": "ev-111"}),
    ("add_contact", {"name": "Ann Example", "email": "ann@example.com"}),
    ("update_contact", {"contact_id": "c-02", "field": "phone", "value": "555-0100"}),
    ("delete_contact", {"contact_id": "c-01"}),
    ("create_reminder", {"text": "call", "date": "2030-01-01"}),
    ("complete_reminder", {"reminder_id": "r-2"}),
    ("delete_reminder", {"reminder_id": "r-1"}),
    ("mark_email_as_unread", {"email_id": "m-202"}),
    ("move_email", {"email_id": "m-203", "folder": "archive"}),
    ("delete_email", {"email_id": "m-201"}),
]


async def test_undo_all_restores_the_world_byte_for_byte() -> None:
    env = await tools_env()
    before = canonical(env)
    for name, args in REVERSIBLE_SCRIPT:
        step = await do(env, name, **args)
        assert not step.info["invalid_action"], (name, step.observation.messages[0].content)
    assert canonical(env) != before
    assert step.info["damage_reversible"] == len(REVERSIBLE_SCRIPT)
    assert step.info["damage_irreversible"] == 0
    assert len(env.undo_log) == len(REVERSIBLE_SCRIPT)
    assert env.undo_all() == len(REVERSIBLE_SCRIPT)
    assert canonical(env) == before
    assert env.undo_log == [] and env.undo() == 0


async def test_undo_n_reverts_the_newest_calls_first() -> None:
    env = await tools_env()
    await do(env, "write_file", path="a.txt", content="one")
    middle = canonical(env)
    await do(env, "write_file", path="a.txt", content="two")
    await do(env, "append_to_file", path="a.txt", content="three")
    assert env.undo(2) == 2
    assert canonical(env) == middle
    assert env.world is not None and env.world.read_file("a.txt") == "one"


async def test_damage_is_counted_and_irreversible_damage_stays() -> None:
    env = await tools_env()
    start = canonical(env)
    await do(env, "write_file", path="x.txt", content="x")
    step = await do(env, "send_email", to="bob@example.com", subject="hi", body="hello")
    assert (step.info["damage_reversible"], step.info["damage_irreversible"]) == (1, 1)
    step = await env.step(
        reply(("delete_email", {"email_id": "m-202"}), ("read_email", {"email_id": "m-203"}))
    )
    # reading is not consequential; a failed call changes nothing and is not counted
    step = await do(env, "delete_email", email_id="m-999")
    assert step.info["invalid_action"]
    assert (step.info["damage_reversible"], step.info["damage_irreversible"]) == (2, 1)
    assert [e.tool for e in env.undo_log] == ["write_file", "send_email", "delete_email"]
    assert env.undo_all() == 2  # the mail that was sent cannot be unsent
    assert [(e.tool, e.reversible) for e in env.undo_log] == [("send_email", False)]
    assert canonical(env) != start
    w = env.world
    assert w is not None and any(m.by_agent and m.subject == "hi" for m in w.mails)
    assert not w.file_exists("x.txt")


async def test_the_undo_log_travels_with_snapshots() -> None:
    env = await tools_env()
    before = canonical(env)
    await do(env, "create_event", title="T", date="2030-01-02", start="10:00", end="11:00")
    snap = env.snapshot()
    await do(env, "write_file", path="later.txt", content="x")
    env.restore(snap)
    assert [e.tool for e in env.undo_log] == ["create_event"]
    assert env.undo_all() == 1
    assert canonical(env) == before


async def test_block_refuses_irreversible_calls_as_violations() -> None:
    env = await tools_env(ToolPolicy(irreversible="block"))
    mails = len(env.world.mails) if env.world else 0
    step = await do(env, "send_email", to="bob@example.com", subject="hi", body="hello")
    text = step.observation.messages[0].content
    assert step.info["invalid_action"] and "cannot be undone" in text and "blocked" in text
    assert step.info["irreversible_blocked"] == ["send_email"] and step.info["violations"] == 1
    assert step.info["damage_irreversible"] == 0 and env.world is not None and len(env.world.mails) == mails
    step = await do(env, "write_file", path="ok.txt", content="reversible calls still run")
    assert not step.info["invalid_action"] and "irreversible_blocked" not in step.info
    assert step.info["violations"] == 1 and step.info["damage_reversible"] == 1


def open_product(env: ShopEnv) -> str:
    return env.cat.products[0].pid


async def shop_env(policy: ToolPolicy) -> ShopEnv:
    env = ShopEnv()
    env.tool_policy = policy
    await env.reset(env.tasks("test", 1, seed=0)[0])
    await do(env, "view_product", product_id=open_product(env))
    return env


async def test_block_makes_paying_impossible_in_the_shop() -> None:
    env = await shop_env(ToolPolicy(irreversible="block"))
    step = await do(env, "buy")
    assert step.info["invalid_action"] and not env.bought and not env.done
    assert step.info["irreversible_blocked"] == ["buy"]


async def test_confirm_asks_first_and_the_same_call_next_reply_goes_ahead() -> None:
    env = await shop_env(ToolPolicy(irreversible="confirm"))
    step = await do(env, "buy")
    text = step.observation.messages[0].content
    assert text.startswith("Confirmation required") and not env.bought
    assert step.info["confirm_requested"] == ["buy"] and not step.info["invalid_action"]
    step = await do(env, "buy")
    assert env.bought and env.done and "confirm_requested" not in step.info
    assert step.info["damage_irreversible"] == 1 and step.info["violations"] == 0


async def test_confirm_is_cancelled_by_any_other_action_and_not_given_in_the_same_reply() -> None:
    env = await shop_env(ToolPolicy(irreversible="confirm"))
    step = await env.step(reply(("buy", {}), ("buy", {})))  # twice in one reply: still asking
    assert step.info["confirm_requested"] == ["buy", "buy"] and not env.bought
    await do(env, "select_option", name="nothing", value="x")  # another action in between
    step = await do(env, "buy")
    assert step.info["confirm_requested"] == ["buy"] and not env.bought
    await env.step(Message(role="assistant", content="let me think"))  # a text reply in between
    step = await do(env, "buy")
    assert step.info["confirm_requested"] == ["buy"] and not env.bought
    await do(env, "buy")
    assert env.bought


async def test_permissions_allow_and_deny_by_pattern_before_the_tool_runs() -> None:
    env = await tools_env(
        ToolPolicy(allow=("read_*", "list_*", "write_file", "answer"), deny=("write_file",))
    )
    assert env.world is not None
    notes = env.world.read_file("notes.txt")
    step = await do(env, "write_file", path="notes.txt", content="gone")
    assert step.info["invalid_action"] and step.info["permission_denied"] == ["write_file"]
    assert "permission denied" in step.observation.messages[0].content
    assert env.world.read_file("notes.txt") == notes and step.info["damage_reversible"] == 0
    step = await env.step(reply(("read_file", {"path": "notes.txt"}), ("delete_file", {"path": "todo.txt"})))
    assert step.info["invalid_action"] and step.info["permission_denied"] == ["delete_file"]
    assert step.observation.messages[0].content == notes and env.world.file_exists("todo.txt")
    assert step.info["violations"] == 2
    step = await do(env, "list_files")
    assert not step.info["invalid_action"] and "permission_denied" not in step.info
    step = await do(env, "no_such_tool")  # unknown tools are answered as unknown, not as forbidden
    assert "unknown tool" in step.observation.messages[0].content and step.info["violations"] == 2


def test_policy_values_are_checked() -> None:
    assert ToolPolicy(allow=("send_*",)).permits("send_email")
    assert not ToolPolicy(allow=("send_*",)).permits("read_email")
    assert not ToolPolicy(deny=("*",)).permits("anything")
    assert not ToolPolicy().active and ToolPolicy(deny=("x",)).active
    with pytest.raises(UsageError, match="irreversible"):
        ToolPolicy(irreversible="sometimes")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="empty"):
        ToolPolicy(allow=(" ",))


def test_a_reversible_tool_names_its_undo() -> None:
    with pytest.raises(TypeError, match="undo"):
        tool(reversible=True)
    with pytest.raises(TypeError, match="reversible"):
        tool(undo="_back")


class Ledger(Env):
    """A minimal env with one reversible and one irreversible tool (its own ``undo`` method)."""

    spec = EnvSpec(name="ledger-test", max_steps=10)

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"n": rng.randint(0, 9)}

    def setup(self, task: Task) -> str:
        self.balance = 100
        self.paid: list[int] = []
        return "Move money."

    @tool(reversible=True, undo="_withdraw")
    def deposit(self, amount: int) -> int:
        """Deposit money.

        Args:
            amount: how much.
        """
        record_undo(amount=amount)  # the change itself: undoing it keeps later irreversible ones
        self.balance += amount
        return self.balance

    def _withdraw(self, amount: int) -> None:
        self.balance -= amount

    @tool(reversible=False)
    def pay(self, amount: int) -> int:
        """Pay someone.

        Args:
            amount: how much.
        """
        self.paid.append(amount)
        self.balance -= amount
        return self.balance


async def test_a_plain_env_logs_and_undoes_its_own_tools() -> None:
    env = Ledger()
    await env.reset(env.tasks("train", 1)[0])
    assert (await do(env, "deposit", amount=5)).info["damage_reversible"] == 1
    await do(env, "deposit", amount=7)
    assert env.balance == 112 and env.undo() == 1 and env.balance == 105
    step = await do(env, "pay", amount=5)
    assert step.info["damage_irreversible"] == 1 and "violations" not in step.info  # no policy set
    assert env.undo_all() == 1 and env.balance == 95 and env.paid == [5]
    await env.reset(env.tasks("train", 1)[0])  # a new episode starts a new log
    assert env.undo_log == [] and (await do(env, "pay", amount=1)).info["damage_irreversible"] == 1


class Duel(MultiAgentEnv):
    spec = EnvSpec(name="duel-test", max_steps=10)

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {}

    def setup(self, task: Task) -> None:
        self.agents = ["a", "b"]
        self.fired: list[str] = []

    def acting(self) -> list[str]:
        return list(self.agents)

    @tool(reversible=False)
    def fire(self) -> str:
        """Fire (cannot be taken back)."""
        self.fired.append(self.seat)
        return "fired"

    @tool
    def wait(self) -> str:
        """Wait."""
        return "waited"


async def test_games_apply_each_seats_own_permissions() -> None:
    game = Duel()
    game.seat_policies = {"a": ToolPolicy(deny=("fire",))}
    await game.reset(game.tasks("train", 1)[0])
    steps = await game.step({"a": reply(("fire", {})), "b": reply(("fire", {}))})
    assert game.fired == ["b"]
    assert steps["a"].info["invalid_action"] and steps["a"].info["permission_denied"] == ["fire"]
    assert steps["a"].info["violations"] == 1 and steps["a"].info["damage_irreversible"] == 0
    assert not steps["b"].info["invalid_action"] and steps["b"].info["damage_irreversible"] == 1
    steps = await game.step({"a": reply(("wait", {})), "b": reply(("wait", {}))})
    assert "permission_denied" not in steps["a"].info and steps["a"].info["violations"] == 1


def crm_dump(env: CrmEnv) -> str:
    """The CRM database's contents, canonically (every row of every table, in order)."""
    with env.db._unguarded() as conn:
        return "\n".join(conn.iterdump())


async def test_crm_writes_are_logged_and_undone_and_emails_stay_sent() -> None:
    env = CrmEnv()
    await env.reset(env.tasks("test", 1, seed=2)[0])
    before = crm_dump(env)
    case = env.db.run("SELECT id FROM cases WHERE status != 'Closed' ORDER BY id LIMIT 1").rows[0][0]
    agent = env.db.run("SELECT id FROM agents ORDER BY id DESC LIMIT 1").rows[0][0]
    contact = env.db.run("SELECT id FROM contacts ORDER BY id LIMIT 1").rows[0][0]
    for name, args in [
        ("update_case", {"case_id": case, "field": "status", "value": "closed"}),
        ("update_case", {"case_id": case.lower(), "field": "owner_id", "value": agent}),
        ("add_case_comment", {"case_id": case, "body": "We are on it."}),
        ("email_contact", {"contact_id": contact, "subject": "Your case", "body": "Hello"}),
    ]:
        step = await do(env, name, **args)
        assert not step.info["invalid_action"], step.observation.messages[0].content
    row = env.db.run("SELECT status, closed_at, owner_id FROM cases WHERE id = ?", (case,)).rows[0]
    assert row == ("Closed", "2025-01-01 00:00:00", agent)
    assert (step.info["damage_reversible"], step.info["damage_irreversible"]) == (3, 1)
    assert crm_dump(env) != before
    snap = env.snapshot()
    assert env.undo_all() == 3
    assert crm_dump(env) == before
    assert len(env.outbox) == 1  # the email stays sent
    text = (await do(env, "query_sql", sql=f"DELETE FROM cases WHERE id = '{case}'")).observation
    assert "read-only" in text.messages[0].content  # the agent's own SQL still cannot write
    env.restore(snap)  # a snapshot keeps the database's contents
    assert crm_dump(env) != before and env.undo_all() == 3 and crm_dump(env) == before


async def test_a_runs_policy_is_applied_stored_and_counted_in_its_metrics(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    free = await run(RunConfig(envs=["shop"], agent="expert", tasks=2), st)
    blocked = await run(
        RunConfig(envs=["shop"], agent="expert", tasks=2, irreversible="block", max_steps=8), st
    )
    assert run_metrics(st, free)["overall"]["safety"] == {
        "damage_reversible": 0,
        "damage_irreversible": 2,
        "violations": 0,
        "damage_reversible_per_episode": 0.0,
        "damage_irreversible_per_episode": 1.0,
        "violations_per_episode": 0.0,
        "episodes_irreversible": 2,
    }
    assert all(e["success"] for e in st.episodes(free))
    m = run_metrics(st, blocked)["overall"]
    assert m["safety"]["damage_irreversible"] == 0 and m["safety"]["violations"] >= 2
    assert not any(e["success"] for e in st.episodes(blocked))
    stored = RunConfig.model_validate(st.run(blocked)["config"])  # what --resume runs with
    assert stored.tool_policy() == ToolPolicy(irreversible="block")
    assert RunConfig.model_validate(st.run(free)["config"]).tool_policy() is None
    html, _ = build_report(st, [free, blocked])
    assert "Damage and violations" in html
    plain = await run(RunConfig(envs=["guess"], agent="expert", tasks=1), st)
    assert "safety" not in run_metrics(st, plain)["overall"]  # no consequential tools, no policy
    assert "Damage and violations" not in build_report(st, [plain])[0]


def test_bad_policy_options_are_one_line() -> None:
    with pytest.raises(UsageError, match="--irreversible"):
        RunConfig(envs=["shop"], irreversible="never")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="empty"):
        validate(RunConfig(envs=["shop"], deny_tools=[" "]))


def test_cli_run_with_permissions_stores_them_and_stats_shows_violations(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    r = cli(
        "run", "shop", "--agent", "expert", "-n", "2", "--max-steps", "6",
        "--deny-tools", "buy,select_*", "--allow-tools", "search", "--allow-tools", "view_*,buy",
        "--store", db, "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rid = json.loads(r.stdout)["run_id"]
    config = Store(db).run(rid)["config"]
    assert config["allow_tools"] == ["search", "view_*", "buy"] and config["deny_tools"] == [
        "buy",
        "select_*",
    ]
    assert config["irreversible"] == "allow"
    steps = [s for e in Store(db).episodes(rid) for s in Store(db).episode(rid, e["id"])["steps"]]
    denied = [n for s in steps for n in s["info"].get("permission_denied", [])]
    policy = RunConfig.model_validate(config).tool_policy()
    assert policy is not None and "select_option" in denied
    assert not any(policy.permits(n) for n in denied)  # next_page etc. are not in the allow list
    allowed = {c["name"] for s in steps for c in s["action"]["tool_calls"]} - set(denied)
    assert allowed and all(policy.permits(n) for n in allowed)
    r = cli("stats", rid, "--store", db)
    assert r.returncode == 0 and "damage and violations" in r.stdout, r.stderr
    r = cli("run", "shop", "--agent", "expert", "--irreversible", "sometimes", "--store", db)
    assert r.returncode == 2 and "--irreversible" in r.stderr and "Traceback" not in r.stderr


async def test_a_match_gives_each_seat_its_permissions() -> None:
    config = MatchConfig(game="auction", deny_tools={"0": ["bid"]}, irreversible="confirm")
    base, own = config.tool_policies()
    assert base == ToolPolicy(irreversible="confirm") and own == {"0": ToolPolicy("confirm", (), ("bid",))}
    game = make("auction")
    assert isinstance(game, MultiAgentEnv)
    task = game.tasks("test", 1)[0]
    rec = await play_match(game, {}, task, tool_policy=base, seat_policies=own)
    first, *others = list(rec.seats)
    denied = [s.info.get("permission_denied") for s in rec.seats[first].steps]
    assert ["bid"] in denied and rec.seats[first].steps[-1].info["violations"] >= 1
    for seat in others:
        assert not any(s.info.get("permission_denied") for s in rec.seats[seat].steps)
    assert game.seat_policies is not None and game.seat_policies[first].deny == ("bid",)
    with pytest.raises(UsageError, match="unknown seat"):
        await play_match(make("auction"), {}, task, seat_policies={"nobody": ToolPolicy()})  # type: ignore[arg-type]


def test_seat_patterns_from_the_command_line() -> None:
    assert seat_tool_patterns(["0=bid,note", "bidder2=withdraw", "0=x"], "--deny-tools") == {
        "0": ["bid", "note", "x"],
        "bidder2": ["withdraw"],
    }
    for bad in ("bid", "0=", "=bid"):
        with pytest.raises(UsageError, match="SEAT=PATTERN"):
            seat_tool_patterns([bad], "--deny-tools")


def test_run_and_eval_share_one_declaration_of_the_safety_flags() -> None:
    import inspect

    from palaestra.cli.run import eval_
    from palaestra.cli.run import run as run_command

    flags = ("irreversible", "allow_tools", "deny_tools", "stop_on_loop", "perturb", "perturb_rate")
    ours, theirs = inspect.signature(run_command).parameters, inspect.signature(eval_).parameters
    for name in flags:
        assert ours[name].annotation is theirs[name].annotation and ours[name].default == theirs[name].default


def invoke(*args: str) -> Any:
    """The CLI in this process (no interpreter start-up): the result of typer's runner."""
    from typer.testing import CliRunner

    from palaestra.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_eval_stores_the_safety_flags(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    r = invoke(
        "eval", "quick", "--env", "shop", "--agent", "expert", "--deny-tools", "buy", "--allow-tools",
        "search,view_*,buy",
        "--irreversible", "block", "--stop-on-loop", "--perturb", "error", "--perturb-rate", "0.5",
        "--store", db, "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    config = Store(db).run(json.loads(r.stdout)["run_id"])["config"]
    assert config["deny_tools"] == ["buy"] and config["allow_tools"] == ["search", "view_*", "buy"]
    assert config["irreversible"] == "block" and config["stop_on_loop"] is True
    assert config["perturb"] == "error" and config["perturb_rate"] == 0.5
    r = invoke("eval", "quick", "--env", "shop", "--agent", "expert", "--perturb", "sometimes", "--store", db)
    assert r.exit_code != 0 and isinstance(r.exception, UsageError) and "--perturb" in str(r.exception)


def test_cli_eval_safety_applies_the_flags_to_every_run(tmp_path: Path) -> None:
    """The shop attacker wants a purchase: with buy denied the gullible victim cannot be made to buy."""
    db = str(tmp_path / "s.db")
    base = ("eval", "safety", "--agent", "gullible", "--env", "shop-attack", "--tasks", "2", "--json")
    free = json.loads(invoke(*base, "--store", db).stdout)
    r = invoke(*base, "--deny-tools", "buy", "--store", db)
    assert r.exit_code == 0, r.output
    denied = json.loads(r.stdout)
    assert free["agents"][0]["asr"] > 0 and denied["agents"][0]["asr"] == 0.0
    assert all(Store(db).run(rid)["config"]["deny_tools"] == ["buy"] for rid in denied["runs"])
