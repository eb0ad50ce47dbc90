"""Bring-up and test tooling: the `max-bringup` CLI, tiny test checkpoints, the parity harness
and its metrics. Nothing under `families/` or `common/` imports it; the serving install
(`max-hf-families`) does not ship it (tooling/pyproject.toml is its own distribution).
"""
