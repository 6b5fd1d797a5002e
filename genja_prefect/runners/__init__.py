"""The built-in runner plugins, registered through the ``genja_prefect.runner`` entry points
exactly like a third party's: ``threaded`` (the default) and ``serial``."""

from genja_prefect.runners.serial import SerialRunner
from genja_prefect.runners.threaded import ThreadedRunner

__all__ = ["SerialRunner", "ThreadedRunner"]
