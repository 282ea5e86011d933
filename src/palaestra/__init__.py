"""Palaestra: an open gym for LLM agents.

Everything public is re-exported here; modules whose names start with ``_`` and anything not in
``__all__`` are private.
"""

from palaestra.agents.base import agent_names, make_agent, register_agent
from palaestra.checker import CheckReport, check_env
from palaestra.env import Env, env_names, make, register
from palaestra.errors import ModelError, PalaestraError, StoreError, UnknownNameError, UsageError
from palaestra.models.base import GenerateConfig, Model, ModelOutput, get_model, register_provider
from palaestra.multi import BotFactory, MultiAgentEnv
from palaestra.policy import Agent, Policy, action
from palaestra.records import EpisodeRecord
from palaestra.runner.episode import rollout
from palaestra.runner.run import RunConfig, run
from palaestra.store import Store
from palaestra.tasksource import EnvSpec
from palaestra.tools import ToolError, ToolPolicy, ToolResult, record_undo, tool
from palaestra.types import Message, Observation, Step, Task, ToolCall, ToolSpec, Usage

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "BotFactory",
    "CheckReport",
    "Env",
    "EnvSpec",
    "EpisodeRecord",
    "GenerateConfig",
    "Message",
    "Model",
    "ModelError",
    "ModelOutput",
    "MultiAgentEnv",
    "Observation",
    "PalaestraError",
    "Policy",
    "RunConfig",
    "Step",
    "Store",
    "StoreError",
    "Task",
    "ToolCall",
    "ToolError",
    "ToolPolicy",
    "ToolResult",
    "ToolSpec",
    "UnknownNameError",
    "Usage",
    "UsageError",
    "__version__",
    "action",
    "agent_names",
    "check_env",
    "env_names",
    "get_model",
    "make",
    "make_agent",
    "record_undo",
    "register",
    "register_agent",
    "register_provider",
    "rollout",
    "run",
    "tool",
]
