"""``World``: the state plus every domain's tools; ``WORLD_TOOLS`` is the registry of world tools."""

from __future__ import annotations

from palaestra import ToolSpec
from palaestra.envs.tools.domains.arithmetic import MathTools
from palaestra.envs.tools.domains.calendar import CalendarTools
from palaestra.envs.tools.domains.contacts import ContactTools
from palaestra.envs.tools.domains.dates import DateTools
from palaestra.envs.tools.domains.files import FileTools
from palaestra.envs.tools.domains.finance import FinanceTools
from palaestra.envs.tools.domains.geo import GeoTools
from palaestra.envs.tools.domains.mail import MailTools
from palaestra.envs.tools.domains.reminders import ReminderTools
from palaestra.envs.tools.domains.sql import SqlTools
from palaestra.envs.tools.domains.text import TextTools
from palaestra.envs.tools.domains.units import UnitTools
from palaestra.envs.tools.domains.weather import WeatherTools
from palaestra.tools import ToolDef, collect_tools


class World(
    CalendarTools,
    ContactTools,
    MailTools,
    ReminderTools,
    WeatherTools,
    FinanceTools,
    UnitTools,
    MathTools,
    DateTools,
    GeoTools,
    SqlTools,
    FileTools,
    TextTools,
):
    """The whole world of one episode. Its ``@tool`` methods are the world's tools."""


def _domain(td: ToolDef) -> str:
    return td.fn.__module__.rsplit(".", 1)[-1]


WORLD_TOOLS: dict[str, ToolDef] = dict(
    sorted(collect_tools(World).items(), key=lambda kv: (_domain(kv[1]), kv[0]))
)
"""Every world tool by name, grouped by domain (module) and sorted by name within a domain."""
TOOL_DOMAIN: dict[str, str] = {name: _domain(td) for name, td in WORLD_TOOLS.items()}
WORLD_SPECS: list[ToolSpec] = [td.spec for td in WORLD_TOOLS.values()]
