"""The verifiers taskset id for Palaestra envs: ``vf-eval palaestra_verifiers --env.taskset.env maze``.

verifiers 0.4 imports a taskset id as a top-level module and takes its plugins from ``__all__``
(one ``Taskset``, the ``Env`` and the ``Harness`` its runs default to); they live in
:mod:`palaestra.adapters.verifiers`.
"""

from palaestra.adapters.verifiers import PalaestraEnv, PalaestraHarness, PalaestraTaskset

__all__ = ["PalaestraEnv", "PalaestraHarness", "PalaestraTaskset"]
