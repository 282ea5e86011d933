"""``palaestra envs``: the environments."""

from __future__ import annotations

import json

from rich.table import Table

from palaestra.cli._common import JsonOpt, app, out


@app.command()
def envs(as_json: JsonOpt = False) -> None:
    """List the environments."""
    from palaestra.env import env_factory, env_names

    rows = []
    for name in env_names():
        spec = env_factory(name).spec  # type: ignore[attr-defined]
        rows.append(
            {
                "name": name,
                "description": spec.description,
                "max_steps": spec.max_steps,
                "difficulties": list(spec.difficulties),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table("env", "max steps", "levels", "description")
    for r in rows:
        t.add_row(r["name"], str(r["max_steps"]), ",".join(map(str, r["difficulties"])), r["description"])
    out.print(t)
