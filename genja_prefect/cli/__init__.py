"""The ``genja-prefect`` command line: commands (:mod:`.main`), what they run (:mod:`.jobs`),
re-running failed hosts (:mod:`.rerun`), terminal output (:mod:`.progress`) and the demo."""

from genja_prefect.cli.main import main

__all__ = ["main"]
