"""The runtime settings every model-running stage shares (device, dtype, threads, seed, trust_remote_code),
with their defaults and help written once.

Stage configs keep these as flat fields (so flags and recipe files stay flat: ``--device cpu``,
``device: cpu``) but declare them with ``setting_from(RuntimeConfig, "device")``, and inherit
:class:`UsesRuntime` for ``cfg.runtime``, the five settings as one :class:`RuntimeConfig`. A stage whose
setting really means something else (generate's ``threads`` also sizes llama.cpp's pool) overrides the
help text explicitly at its field. Light on purpose: the CLI reads stage configs at start-up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from synrank.config import setting


@dataclass
class RuntimeConfig:
    """Where and how a stage runs its models."""

    device: str = setting("auto", help="Device: auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps.")
    dtype: str = setting("auto", help="Compute dtype: auto (bf16 where the hardware has it, else fp32), fp32, bf16, fp16.")
    threads: int = setting(0, help="CPU threads for torch; 0 = all cores available.")
    seed: int = setting(42, help="Random seed (Python, NumPy, torch).")
    trust_remote_code: bool = setting(False, help="Allow a model repository to run its own Python code (off by default).")


RUNTIME_SETTINGS = tuple(f.name for f in dataclasses.fields(RuntimeConfig))


class UsesRuntime:
    """Mixin for a stage config holding (some of) the runtime settings as flat fields."""

    @property
    def runtime(self) -> RuntimeConfig:
        """The stage's runtime settings; one it does not have takes :class:`RuntimeConfig`'s default."""
        return RuntimeConfig(**{name: getattr(self, name) for name in RUNTIME_SETTINGS if hasattr(self, name)})
