"""What the ``palaestra`` commands share: the Typer app, the consoles, the entry point and its
one-line errors, the options several commands take (each declared once, as an ``Annotated`` type),
the model flags and what they become, the store and the run lookups."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from palaestra._hints import command_line
from palaestra.errors import PalaestraError, UsageError
from palaestra.tasksource import check_split as check_split

app = typer.Typer(
    name="palaestra",
    help="Palaestra: run, evaluate and train LLM agents in environments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

# The options several commands take, each declared once (a command's own options stay with it).
StoreOpt = Annotated[Path, typer.Option("--store", help="SQLite store file.", envvar="PALAESTRA_STORE")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
RunArg = Annotated[str, typer.Argument(help="Run id, or 'last'.")]
SplitOpt = Annotated[str, typer.Option("--split", help="train | dev | test")]
DifficultyOpt = Annotated[int | None, typer.Option("--difficulty", help="Only this difficulty level.")]
MaxStepsOpt = Annotated[
    int | None, typer.Option("--max-steps", help="Step limit per episode (default: env's).")
]

# The model flags every command that runs models takes (see docs/model-servers.md).
AgentOpt = Annotated[str | None, typer.Option("--agent", help="Agent: tools, react, expert, random, ...")]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="Model spec, e.g. openai:NAME@URL or local:DIR.")
]
TemperatureOpt = Annotated[float | None, typer.Option("--temperature", help="Sampling temperature.")]
MaxTokensOpt = Annotated[int | None, typer.Option("--max-tokens", help="Max tokens per model reply.")]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible base URL.")]
ApiKeyOpt = Annotated[str | None, typer.Option("--api-key", help="API key (default $OPENAI_API_KEY).")]
RequestTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--request-timeout",
        help="Seconds one HTTP attempt of a model call may take (default 120); a whole call, retries "
        "included, takes at most 600 s or two attempts.",
    ),
]
ExtraOpt = Annotated[
    str | None,
    typer.Option(
        "--extra",
        help="Extra fields for every model request, a JSON object, e.g. '{\"top_k\": 20}' or "
        '\'{"tool_choice": "required"}\'.',
    ),
]
StreamOpt = Annotated[
    bool, typer.Option("--stream", help="Stream replies (records the time to first token).")
]
ToolRoleOpt = Annotated[
    str | None,
    typer.Option(
        "--tool-role",
        help="How tool results are sent to openai: models: tool, user (for servers whose chat template "
        "drops the tool role) or auto (default: user when llama.cpp's /props shows such a template).",
    ),
]
MaxContextOpt = Annotated[
    int | None,
    typer.Option(
        "--max-context-tokens",
        help="History budget of model-driven agents, in tokens: the system prompt, the goal and the "
        "latest turns that fit are sent.",
    ),
]
AgentOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--agent-opt",
        help="Agent option KEY=VALUE (VALUE read as JSON when it parses, else as text), e.g. "
        "simulations=32 or inner=react. Repeatable.",
    ),
]
_REFUSED_EXTRA = {
    "model": "use --model",
    "messages": "the agent writes the messages",
    "tools": "the environment gives the tools",
    "n": "Palaestra reads one reply per call",
}


def parse_model_settings(
    temperature: float | None,
    max_tokens: int | None,
    request_timeout: float | None,
    extra: str | None,
    stream: bool,
    max_context_tokens: int | None,
    agent_opt: list[str] | None = None,
) -> dict[str, Any]:
    """The ``generate`` and ``agent_options`` fields of a run's config from the model and agent flags."""
    from palaestra.models.base import GenerateConfig

    fields: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens, "stream": stream}
    if request_timeout is not None:
        if request_timeout <= 0:
            raise UsageError(f"--request-timeout must be positive, got {request_timeout:g}")
        fields["timeout"] = request_timeout
    if extra:
        try:
            fields["extra"] = json.loads(extra)
        except json.JSONDecodeError as e:
            raise UsageError(f"--extra {extra!r} is not JSON: {e.msg}") from None
        if not isinstance(fields["extra"], dict):
            raise UsageError(f"--extra must be a JSON object, e.g. '{{\"top_k\": 20}}', got {extra!r}")
        for key, why in _REFUSED_EXTRA.items():
            if key in fields["extra"] and not (key == "n" and fields["extra"][key] == 1):
                raise UsageError(f"--extra may not set {key!r}: {why}")
    if max_context_tokens is not None and max_context_tokens < 1:
        raise UsageError(f"--max-context-tokens must be at least 1, got {max_context_tokens}")
    options: dict[str, Any] = parse_agent_options(agent_opt or [])
    if max_context_tokens is not None:
        options["max_context_tokens"] = max_context_tokens
    return {"generate": GenerateConfig(**fields), "agent_options": options}


def parse_agent_options(pairs: list[str]) -> dict[str, Any]:
    """``--agent-opt KEY=VALUE`` pairs as a dict: VALUE as JSON when it parses (32, 0.5, true,
    ["a"]), else as text (react, openai:gpt-4o)."""
    from palaestra.agents.base import option_value

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(
                f"--agent-opt takes KEY=VALUE with KEY a name, e.g. simulations=32; got {pair!r}"
            )
        options[key] = option_value(value)
    return options


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show tracebacks.")] = False) -> None:
    """Declares -v for --help; main() reads it from argv before Typer parses, so that errors raised
    while parsing get their traceback too."""


def open_store(path: Path, create: bool = True, write: bool | None = None) -> Any:
    """The store at ``path``: made if missing with ``create``; opened read-only unless it may be
    made or ``write`` says so (the reading commands work on a store they may not write, and never
    write to it; ``rm`` writes to an existing one)."""
    from palaestra.store import Store

    return Store(path, create=create, read_only=not (create if write is None else write))


def stored_config(st: Any, run_id: str, kind: str | None, store: Path) -> dict[str, Any]:
    """The stored config of a run to resume with a command of ``kind`` (None: ``run``/``eval``); a run
    of another kind is one line with the command that resumes it."""
    stored: dict[str, Any] = st.run(run_id)["config"]
    if stored.get("kind") != kind:
        hint = command_line(stored.get("kind") or "run", "--resume", run_id, store=store)
        raise UsageError(
            f"run {run_id} is a {stored.get('kind') or 'single-agent'} run; resume it with: {hint}"
        )
    return stored


def parse_model_options(
    base_url: str | None, api_key: str | None, tool_role: str | None = None, model: str | None = None
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if tool_role is not None:
        if tool_role not in ("tool", "user", "auto"):
            raise UsageError(f"--tool-role must be tool, user or auto, got {tool_role!r}")
        if model and not model.startswith("openai:"):
            raise UsageError(f"--tool-role is for openai: models, not {model!r}")
        options["tool_role"] = tool_role
    if base_url:
        options["base_url"] = base_url
    if api_key:
        options["api_key"] = api_key  # runtime-only: configs never serialise it (runner.settings)
    return options


def resolve_run(st: Any, run_id: str, store: Path) -> str:
    if run_id == "last":
        run_id = st.latest_run_id() or ""
        if not run_id:
            hint = command_line("run", "ENV", store=store)
            raise UsageError(f"no runs in {store} yet; start one with `{hint}`")
    return run_id


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_ray_address(text: str) -> bool:
    """``auto``, ``local`` or a ``HOST:PORT`` / ``ray://HOST:PORT`` address (not an env name)."""
    return text in ("auto", "local") or ":" in text


_OPTIONAL_VALUES: dict[str, tuple[str, Callable[[str], bool]]] = {
    "--fail-on-error": ("0", _is_number),
    "--ray": ("", _is_ray_address),
}
"""Options whose value may be left out (Click cannot say so through Typer): the value then, and
what tells a value given from the next argument."""


def _flag_defaults(argv: list[str]) -> list[str]:
    """``argv`` with the implied value after an option of ``_OPTIONAL_VALUES`` given alone:
    ``--fail-on-error maze`` is ``--fail-on-error 0 maze``; ``--fail-on-error 0.1`` stays;
    ``--ray maze`` is ``--ray '' maze`` (Ray finds the cluster); ``--ray 10.0.0.1:6379`` stays."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg in _OPTIONAL_VALUES:
            implied, is_value = _OPTIONAL_VALUES[arg]
            if not is_value(argv[i + 1] if i + 1 < len(argv) else ""):
                out.append(implied)
    return out


def main() -> None:
    """Entry point: one clear line per error, exit 2 for bad input, tracebacks only with -v."""
    verbose = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]
    try:
        code = app(args=_flag_defaults(sys.argv[1:]), standalone_mode=False)
    except PalaestraError as e:
        if verbose:
            raise
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.TyperException as e:
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"error: {e.format_message()}")
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as e:
        if verbose or os.environ.get("PALAESTRA_DEBUG"):
            raise
        err.print(
            f"[red]error:[/red] {type(e).__name__}: {escape(str(e))} (run with -v for the traceback)",
            soft_wrap=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


FailOnError = Annotated[
    float | None,
    typer.Option(
        "--fail-on-error",
        metavar="[RATE]",
        help="Exit 1 when the share of errored episodes (matches) exceeds RATE (0-1); alone: on any error.",
    ),
]


def check_rate(rate: float | None) -> None:
    if rate is not None and not 0 <= rate <= 1:
        raise UsageError(f"--fail-on-error takes a share between 0 and 1, got {rate:g}")


def fail_over_rate(rate: float | None, errors: int, n: int, what: str, run_id: str, first: str) -> None:
    """``--fail-on-error``: one line and exit 1 when more than ``rate`` of the run's ``n`` episodes
    (or matches) errored."""
    if rate is not None and n and errors / n > rate:
        raise PalaestraError(
            f"{errors} of {n} {what} of run {run_id} errored, more than --fail-on-error {rate:g} allows; "
            f"first: {first}"
        )


IrreversibleOpt = Annotated[
    str,
    typer.Option(
        "--irreversible",
        help="Calls of tools that cannot be undone (sending mail, paying): allow | confirm (the agent "
        "must repeat the call in its next reply) | block (refused, counted as a violation).",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Worker processes (with --ray: actors) that play the episodes; default: one per core, "
        "at most one per 100 episodes (1 with a local: model); with --ray, one per cluster CPU.",
    ),
]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="Play on a Ray cluster: ADDRESS (HOST:PORT, ray://HOST:PORT, auto, local), or alone: "
        "$RAY_ADDRESS, else a running local cluster, else a new local instance. Needs the ray extra.",
    ),
]


AllowToolsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-tools",
        help="Only these tools may be called: names or patterns (read_*), comma-separated, repeatable. "
        "Other calls are refused and counted as violations.",
    ),
]
DenyToolsOpt = Annotated[
    list[str] | None,
    typer.Option("--deny-tools", help="These tools may not be called (names or patterns, comma-separated)."),
]
PerturbOpt = Annotated[
    str | None,
    typer.Option(
        "--perturb",
        help="Make tools malfunction (seeded): error (a result claims the call failed) | repeat (asks to "
        "call again) | irrelevant (appends an unrelated instruction).",
    ),
]
PerturbRateOpt = Annotated[
    float, typer.Option("--perturb-rate", help="Share of tool results --perturb rewrites (0-1].")
]
StopOnLoopOpt = Annotated[
    bool,
    typer.Option(
        "--stop-on-loop", help="End an episode as soon as the agent repeats itself (a loop; see stats)."
    ),
]


def safety_settings(
    irreversible: str,
    allow_tools: list[str] | None,
    deny_tools: list[str] | None,
    stop_on_loop: bool,
    perturb: str | None,
    perturb_rate: float,
) -> dict[str, Any]:
    """The run-config fields of the safety flags that ``run`` and ``eval`` share (``--irreversible``,
    ``--allow-tools``, ``--deny-tools``, ``--stop-on-loop``, ``--perturb``, ``--perturb-rate``)."""
    return {
        "irreversible": irreversible,
        "allow_tools": tool_patterns(allow_tools),
        "deny_tools": tool_patterns(deny_tools),
        "stop_on_loop": stop_on_loop,
        "perturb": perturb,
        "perturb_rate": perturb_rate,
    }


def tool_patterns(values: list[str] | None) -> list[str]:
    """Tool patterns from repeated, comma-separated option values."""
    return [p.strip() for v in values or [] for p in v.split(",") if p.strip()]


def seat_tool_patterns(values: list[str] | None, flag: str) -> dict[str, list[str]]:
    """``SEAT=PATTERN,...`` option values (repeatable) as patterns per seat name or index."""
    out: dict[str, list[str]] = {}
    for item in values or []:
        seat, sep, patterns = item.partition("=")
        if not sep or not seat.strip() or not tool_patterns([patterns]):
            raise UsageError(f"{flag} {item!r} must look like SEAT=PATTERN,..., e.g. {flag} 0=bid,pass")
        out.setdefault(seat.strip(), []).extend(tool_patterns([patterns]))
    return out


@dataclass(frozen=True)
class Spread:
    """Where a run's episodes play: ``--workers`` processes (None: as many as suit the machine and
    the run) or, with ``--ray``, actors on that Ray cluster."""

    workers: int | None = None
    ray: str | None = None
