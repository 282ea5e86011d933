"""``palaestra play``, ``match`` and ``tournament``: games, and playing an environment yourself."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from palaestra._hints import DEFAULT_STORE
from palaestra.cli._common import (
    AgentOptionOpt,
    ApiKeyOpt,
    BaseUrlOpt,
    DifficultyOpt,
    ExtraOpt,
    FailOnError,
    IrreversibleOpt,
    MaxContextOpt,
    MaxTokensOpt,
    RayOpt,
    RequestTimeoutOpt,
    SplitOpt,
    Spread,
    StoreOpt,
    StreamOpt,
    TemperatureOpt,
    ToolRoleOpt,
    WorkersOpt,
    app,
    check_rate,
    check_split,
    fail_over_rate,
    open_store,
    out,
    parse_model_options,
    parse_model_settings,
    seat_tool_patterns,
    stored_config,
)
from palaestra.errors import UsageError

_Game = Annotated[str | None, typer.Argument(help="Game name (see `palaestra envs`).")]
_Concurrency = Annotated[int | None, typer.Option("--concurrency", help="Matches in flight.")]
_Resume = Annotated[
    str | None, typer.Option("--resume", help="Resume this run id: play only the missing matches.")
]
_StandingsJson = Annotated[bool, typer.Option("--json", help="Print the standings as JSON on stdout.")]
_MoveTimeout = Annotated[
    float | None, typer.Option(help="Seconds a seat may take for one move; it forfeits after that.")
]
_MaxRounds = Annotated[int | None, typer.Option(help="Round cap of one match (default: the game's).")]


@app.command()
def play(
    env: Annotated[str, typer.Argument(help="Environment name.")],
    difficulty: Annotated[int | None, typer.Option(help="Difficulty level.")] = None,
    split: SplitOpt = "train",
    seed: Annotated[int, typer.Option(help="Which task: the seed of the task list.")] = 0,
    seat: Annotated[
        str | None, typer.Option(help="Games: the seat you play (name or index; default: the first).")
    ] = None,
    against: Annotated[
        str | None, typer.Option(help="Games: the player of the other seats (default: the game's first bot).")
    ] = None,
) -> None:
    """Play an environment, or a seat of a game against bots, yourself in the terminal."""
    from palaestra.env import Env, make
    from palaestra.play import play_game_terminal, play_terminal

    if isinstance(make(env), Env):
        if seat or against:
            raise UsageError(f"{env} is a single-agent environment; --seat and --against are for games")
        asyncio.run(play_terminal(env, difficulty=difficulty, split=split, seed=seed, console=out))
        return
    asyncio.run(
        play_game_terminal(
            env, seat or "0", against=against, difficulty=difficulty, split=split, seed=seed, console=out
        )
    )


def _match_common(
    game: str,
    split: str,
    difficulty: int | None,
    seed: int,
    concurrency: int | None,
    max_rounds: int | None,
    move_timeout: float | None,
    settings: dict[str, Any],
    model_options: dict[str, Any],
) -> dict[str, Any]:
    check_split(split)
    return {
        "game": game,
        "split": split,
        "difficulty": difficulty,
        "seed": seed,
        "concurrency": concurrency,
        "max_steps": max_rounds,
        "move_timeout": move_timeout,
        **settings,
        "model_options": model_options,
    }


@app.command()
def match(
    game: _Game = None,
    seat: Annotated[
        list[str] | None, typer.Option(help="SEAT=PLAYER (seat name or index), repeatable.")
    ] = None,
    default: Annotated[
        str | None, typer.Option(help="Player of the seats not named (default: the game's first bot).")
    ] = None,
    tasks: Annotated[int, typer.Option("--tasks", "-n", help="Matches to play, one per task.")] = 1,
    split: SplitOpt = "test",
    difficulty: DifficultyOpt = None,
    seed: Annotated[int, typer.Option(help="Seed for tasks and players.")] = 0,
    concurrency: _Concurrency = None,
    max_rounds: _MaxRounds = None,
    move_timeout: _MoveTimeout = 300.0,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    request_timeout: RequestTimeoutOpt = None,
    extra: ExtraOpt = None,
    stream: StreamOpt = False,
    tool_role: ToolRoleOpt = None,
    max_context_tokens: MaxContextOpt = None,
    agent_opt: AgentOptionOpt = None,
    resume: _Resume = None,
    irreversible: IrreversibleOpt = "allow",
    allow_tools: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-tools",
            help="SEAT=PATTERN,...: the only tools (names or patterns) that seat may call; repeatable.",
        ),
    ] = None,
    deny_tools: Annotated[
        list[str] | None,
        typer.Option("--deny-tools", help="SEAT=PATTERN,...: tools that seat may not call; repeatable."),
    ] = None,
    as_json: _StandingsJson = False,
    fail_on_error: FailOnError = None,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Play matches of a game with PLAYER in each SEAT: bot:NAME, random, human, tools:MODEL, react:MODEL."""
    from palaestra.runner.tournament import MatchConfig, load_config

    st = open_store(store)
    model_options = parse_model_options(base_url, api_key, tool_role)
    if resume:
        if game or seat:
            raise UsageError("--resume takes the run's own settings; do not pass a game or seats with it")
        config: Any = load_config(stored_config(st, resume, "match", store))
    else:
        if not game:
            raise UsageError("name a game: palaestra match GAME --seat SEAT=PLAYER (see `palaestra envs`)")
        seats: dict[str, str] = {}
        for item in seat or []:
            name, sep, player = item.partition("=")
            if not sep or not name or not player:
                raise UsageError(f"--seat {item!r} must look like SEAT=PLAYER, e.g. --seat 0=bot:greedy")
            seats[name] = player
        common = _match_common(
            game,
            split,
            difficulty,
            seed,
            concurrency,
            max_rounds,
            move_timeout,
            parse_model_settings(
                temperature, max_tokens, request_timeout, extra, stream, max_context_tokens, agent_opt
            ),
            model_options,
        )
        config = MatchConfig(
            seats=seats,
            default=default,
            tasks=tasks,
            irreversible=irreversible,
            allow_tools=seat_tool_patterns(allow_tools, "--allow-tools"),
            deny_tools=seat_tool_patterns(deny_tools, "--deny-tools"),
            **common,
        )
    check_rate(fail_on_error)
    _execute(config, st, resume, as_json, model_options, store, fail_on_error, Spread(workers, ray))


@app.command()
def tournament(
    game: _Game = None,
    more: Annotated[
        list[str] | None, typer.Argument(help="More players (after --players).", show_default=False)
    ] = None,
    players: Annotated[
        list[str] | None, typer.Option("--players", "-p", help="Players: --players P1 P2 ... (or P1,P2).")
    ] = None,
    rounds: Annotated[int, typer.Option(help="Rounds (round robin: repetitions of the schedule).")] = 1,
    format: Annotated[str, typer.Option("--format", help="round-robin | swiss")] = "round-robin",
    filler: Annotated[
        str | None,
        typer.Option(help="Unrated player for seats left when a game has more seats than players."),
    ] = None,
    split: SplitOpt = "test",
    difficulty: DifficultyOpt = None,
    seed: Annotated[int, typer.Option(help="Seed for tasks, pairings and players.")] = 0,
    concurrency: _Concurrency = None,
    max_rounds: _MaxRounds = None,
    move_timeout: _MoveTimeout = 300.0,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    request_timeout: RequestTimeoutOpt = None,
    extra: ExtraOpt = None,
    stream: StreamOpt = False,
    tool_role: ToolRoleOpt = None,
    max_context_tokens: MaxContextOpt = None,
    agent_opt: AgentOptionOpt = None,
    resume: _Resume = None,
    irreversible: IrreversibleOpt = "allow",
    as_json: _StandingsJson = False,
    fail_on_error: FailOnError = None,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """A tournament: players paired round robin or Swiss, seats rotated, rated with openskill."""
    from palaestra.runner.tournament import TournamentConfig, load_config

    st = open_store(store)
    model_options = parse_model_options(base_url, api_key, tool_role)
    if resume:
        if game or players or more:
            raise UsageError("--resume takes the run's own settings; do not pass a game or players with it")
        config: Any = load_config(stored_config(st, resume, "tournament", store))
    else:
        if not game:
            raise UsageError("name a game: palaestra tournament GAME --players P1 P2 ...")
        if format not in ("round-robin", "swiss"):
            raise UsageError(f"unknown --format {format!r}; valid formats: round-robin, swiss")
        names = [
            p.strip() for item in [*(players or []), *(more or [])] for p in item.split(",") if p.strip()
        ]
        common = _match_common(
            game,
            split,
            difficulty,
            seed,
            concurrency,
            max_rounds,
            move_timeout,
            parse_model_settings(
                temperature, max_tokens, request_timeout, extra, stream, max_context_tokens, agent_opt
            ),
            model_options,
        )
        config = TournamentConfig(
            players=names, rounds=rounds, format=format, filler=filler, irreversible=irreversible, **common
        )
    check_rate(fail_on_error)
    _execute(config, st, resume, as_json, model_options, store, fail_on_error, Spread(workers, ray))


def _execute(
    config: Any,
    st: Any,
    resume: str | None,
    as_json: bool,
    model_options: dict[str, Any],
    store: Path,
    fail_on_error: float | None,
    spread: Spread,
) -> None:
    """Play the matches (live bar, standings), then apply ``--fail-on-error`` to their share of errors."""
    from palaestra._match_display import execute_matches

    summary = execute_matches(
        config,
        st,
        resume=resume,
        as_json=as_json,
        model_options=model_options,
        store=store,
        workers=spread.workers or "auto",
        ray=spread.ray,
    )
    first = st.error_examples(summary["run_id"], 1)
    reason = first[0][1].splitlines()[0] if first and first[0][1] else ""
    fail_over_rate(
        fail_on_error,
        summary.get("errors", 0),
        summary.get("matches", 0),
        "matches",
        summary["run_id"],
        reason,
    )
