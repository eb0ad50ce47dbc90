"""Loggers whose lines `max generate`, `max encode` and `max serve` print.

MAX 26.7's console handler passes only records of the root, `max._entrypoints`,
`max.pipelines`, `max.serve` and `uvicorn` loggers (`configure_logging` in
`max/serve/telemetry/common.py`): a logger named after a module of this project is silent
under MAX's commands.
"""

from __future__ import annotations

import logging


def family_logger(module: str) -> logging.Logger:
    """The logger of `module` (pass `__name__`), under `max.pipelines` so that MAX prints it."""
    return logging.getLogger(f"max.pipelines.{module}")
