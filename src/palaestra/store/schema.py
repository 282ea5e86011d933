"""The store's SQL schema and its migrations.

The file is marked as Palaestra's with SQLite's ``application_id`` and carries its schema version in
``user_version``. Each migration takes the schema from version ``i`` to ``i + 1``; opening an older
store migrates it in one transaction, opening a newer one is refused.
"""

from __future__ import annotations

APPLICATION_ID = 0x50414C41  # "PALA"

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema.
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        status TEXT NOT NULL,            -- running | finished | interrupted | failed
        config TEXT NOT NULL,            -- RunConfig as JSON
        summary TEXT                     -- last summary as JSON
    );
    CREATE TABLE episodes (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        env TEXT NOT NULL,
        task_id TEXT NOT NULL,
        split TEXT NOT NULL,
        difficulty INTEGER NOT NULL,
        sample INTEGER NOT NULL,
        agent TEXT NOT NULL,
        model TEXT NOT NULL,
        status TEXT NOT NULL,            -- done | truncated | timeout | error
        reward REAL NOT NULL,
        success INTEGER NOT NULL,
        progress REAL NOT NULL,
        steps INTEGER NOT NULL,
        invalid_actions INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        model_calls INTEGER NOT NULL,
        model_latency REAL NOT NULL,
        cost REAL,
        wall REAL NOT NULL,
        error TEXT,
        task TEXT NOT NULL,              -- Task as JSON
        final TEXT NOT NULL,             -- the last observation's messages as JSON
        finished REAL NOT NULL,
        PRIMARY KEY (run_id, id)
    ) WITHOUT ROWID;
    CREATE INDEX episodes_env ON episodes(env, task_id);
    CREATE INDEX episodes_status ON episodes(run_id, status);
    CREATE TABLE steps (
        run_id TEXT NOT NULL,
        episode_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        seat TEXT NOT NULL DEFAULT '',   -- the acting seat in multi-agent episodes
        observation TEXT NOT NULL,       -- messages the agent received, as JSON
        action TEXT NOT NULL,            -- the agent's message, as JSON
        reward REAL NOT NULL,
        info TEXT NOT NULL,
        tools TEXT,                      -- tool specs, when they changed
        PRIMARY KEY (run_id, episode_id, seat, idx),
        FOREIGN KEY (run_id, episode_id) REFERENCES episodes(run_id, id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE TABLE model_calls (
        run_id TEXT NOT NULL,
        episode_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        latency REAL NOT NULL,
        retries INTEGER NOT NULL,
        cost REAL,
        finish_reason TEXT,
        token_ids TEXT,
        logprobs TEXT,
        prompt_token_ids TEXT,
        error TEXT,
        PRIMARY KEY (run_id, episode_id, idx),
        FOREIGN KEY (run_id, episode_id) REFERENCES episodes(run_id, id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    """,
    # 1 -> 2: matches of multi-agent games. A match is one episodes row (agent = its lineup) with the
    # game's result; each seat gets a seats row; steps and model calls carry their seat.
    """
    CREATE TABLE seats (
        run_id TEXT NOT NULL,
        episode_id TEXT NOT NULL,
        seat TEXT NOT NULL,
        idx INTEGER NOT NULL,            -- the seat's position in the game's seat order
        player TEXT NOT NULL,            -- player spec: bot:NAME, random, human, tools:MODEL, ...
        model TEXT NOT NULL,
        score REAL NOT NULL,
        won REAL NOT NULL,               -- 1 for a win, 1/k for a k-way draw, 0 otherwise
        forfeit TEXT,                    -- why the seat forfeited, if it did
        steps INTEGER NOT NULL,
        invalid_actions INTEGER NOT NULL,
        model_calls INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        final TEXT NOT NULL,             -- messages the seat got after its last move, as JSON
        PRIMARY KEY (run_id, episode_id, seat),
        FOREIGN KEY (run_id, episode_id) REFERENCES episodes(run_id, id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    ALTER TABLE episodes ADD COLUMN result TEXT;   -- a match's game.result() as JSON
    ALTER TABLE model_calls ADD COLUMN seat TEXT NOT NULL DEFAULT ''
    """,
    # 2 -> 3: time to the first token of a streamed reply.
    """
    ALTER TABLE model_calls ADD COLUMN ttft REAL
    """,
    # 3 -> 4: what an agent's strategy did to choose each action (search tree, reflections, ...).
    """
    ALTER TABLE steps ADD COLUMN trace TEXT
    """,
    # 4 -> 5: what cross-episode strategies remember (reflections, step demonstrations), scoped by
    # env, split and task: only train-split entries are ever read back (palaestra.store.memory).
    """
    CREATE TABLE IF NOT EXISTS memories (
        id INTEGER PRIMARY KEY,
        created REAL NOT NULL,
        env TEXT NOT NULL,
        split TEXT NOT NULL,             -- the split of the task it was written on
        task_id TEXT NOT NULL,
        kind TEXT NOT NULL,              -- step | reflection | ...
        key TEXT NOT NULL,               -- the text it is found by
        value TEXT NOT NULL,             -- what is recalled
        meta TEXT NOT NULL               -- JSON
    );
    CREATE INDEX IF NOT EXISTS memories_scope ON memories(env, kind, split, task_id)
    """,
    # 5 -> 6: the red-teaming loop's attack set (prompt-injection templates, each with its scores).
    """
    CREATE TABLE attacks (
        id TEXT PRIMARY KEY,
        env TEXT NOT NULL,               -- the attack variant it was scored on
        text TEXT NOT NULL,              -- the template, with {goal} where the instruction goes
        created REAL NOT NULL,
        attacker TEXT NOT NULL,          -- who wrote it (a model spec, or mutate)
        target TEXT NOT NULL,            -- the agent it was scored against
        round INTEGER NOT NULL,
        success REAL NOT NULL,           -- share of scored episodes whose injection task was done
        novelty REAL NOT NULL,           -- 1 - the highest word-3-gram overlap with the set before it
        episodes INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX attacks_env ON attacks(env, created)
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
