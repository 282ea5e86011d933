"""Safety: prompt-injection attack variants of the tool-using environments (the attack is part
of the task), attack templates, and the shared text normalisation that scripted victims and
defences use. Defences and victims are agents (``palaestra.agents.defences``, ``.victims``);
metrics, the ``safety`` suite and the red-teaming loop read the store (``palaestra.eval.safety``,
``palaestra.eval.redteam``)."""

from palaestra.safety.attack import AttackedEnv, AttackSurface, Injection, attacked, called, words
from palaestra.safety.templates import TEMPLATES, load_templates, render

__all__ = [
    "TEMPLATES",
    "AttackSurface",
    "AttackedEnv",
    "Injection",
    "attacked",
    "called",
    "load_templates",
    "render",
    "words",
]
