import hashlib
import sqlite3
from pathlib import Path

import pytest

from palaestra import Store, StoreError
from palaestra.records import CallRecord, EpisodeRecord, StepRecord
from palaestra.store.schema import SCHEMA_VERSION
from palaestra.types import Message, Task


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_foreign_and_corrupt_files_are_refused_untouched(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("hello, this is not a database\n" * 100)
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users(id INTEGER)")
    con.commit()
    con.close()
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    for path, msg in (
        (text, "not a SQLite database"),
        (other, "another application"),
        (corrupt, "unreadable|cannot"),
    ):
        before = _digest(path)
        with pytest.raises(StoreError, match=msg):
            Store(path)
        assert _digest(path) == before
        assert not Path(str(path) + "-wal").exists()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "s.db"
    Store(p).close()
    con = sqlite3.connect(p)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match="newer"):
        Store(p)


def test_episode_round_trip_and_summary(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    assert st.con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    st.create_run("r1", {"envs": ["guess"]})
    with pytest.raises(StoreError, match="already exists"):
        st.create_run("r1", {})
    task = Task(env="guess", id="test-d1-x", split="test", seed=1, params={"a": 1})
    rec = EpisodeRecord(id="guess/test-d1-x/0", task=task, agent="expert", model="", success=True, reward=1.0)
    rec.steps.append(
        StepRecord(
            0,
            [Message(role="user", content="hi")],
            Message(role="assistant", content="yo"),
            1.0,
            {"progress": 1.0},
        )
    )
    st.write_episode("r1", rec)
    with pytest.raises(sqlite3.IntegrityError):
        st.write_episode("r1", rec)  # the same episode twice is a bug, never a silent duplicate
    assert st.finished_episode_ids("r1") == {"guess/test-d1-x/0"}
    ep = st.episode("r1", "guess/test-d1-x/0")
    assert ep["steps"][0]["observation"] == [{"role": "user", "content": "hi"}]
    assert ep["task"]["params"] == {"a": 1}
    s = st.summary("r1")
    assert s["episodes"] == 1 and s["success_rate"] == 1.0 and s["envs"]["guess"]["steps"] == 1


async def test_tool_specs_are_stored_once_per_change(tmp_path: Path) -> None:
    from palaestra import RunConfig, run

    st = Store(tmp_path / "s.db")
    rid = await run(RunConfig(envs=["maze"], agent="expert", tasks=1), st)
    ep = st.episode(rid, st.episodes(rid)[0]["id"])
    assert ep["steps"][0]["tools"] and all(s["tools"] is None for s in ep["steps"][1:])


def test_time_to_first_token_is_stored_and_an_older_store_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    st = Store(path)
    st.create_run("r1", {"envs": ["guess"]})
    task = Task(env="guess", id="test-d1-x", split="test", seed=1, params={})
    rec = EpisodeRecord(id="e", task=task, agent="tools", model="m")
    rec.calls.append(CallRecord(10, 2, 0.5, 0, None, "stop", ttft=0.125))
    rec.calls.append(CallRecord(10, 2, 0.5, 0, None, "stop"))  # not streamed
    st.write_episode("r1", rec)
    assert [c["ttft"] for c in st.model_calls("r1", "e")] == [0.125, None]
    assert [c["ttft"] for c in st.episode("r1", "e")["calls"]] == [0.125, None]
    # a store of schema 2 (no ttft column, no step traces) is migrated when opened, its calls kept
    st.con.execute("ALTER TABLE model_calls DROP COLUMN ttft")
    st.con.execute("ALTER TABLE steps DROP COLUMN trace")
    st.con.execute("DROP TABLE memories")  # schema 5: strategies' cross-episode memory
    st.con.execute("DROP TABLE attacks")  # schema 6: the red-teaming attack set
    st.con.execute("PRAGMA user_version=2")
    st.close()
    again = Store(path, create=False, read_only=True)
    assert [c["ttft"] for c in again.model_calls("r1", "e")] == [None, None]
    assert again.con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
