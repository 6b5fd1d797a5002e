"""genja-prefect's SSH CLI connection plugin on scrapli 2026.x (libscrapli).

Registered through the ``genja_prefect.connection`` entry point as ``scrapli``. See
:mod:`genja_prefect_scrapli.plugin` for the connection methods and
:mod:`genja_prefect_scrapli.options` for ``connection_options.scrapli.extras``,
:mod:`genja_prefect_scrapli.parsing` for structured output (TextFSM, Genie, TTP) and
:mod:`genja_prefect_scrapli.pollwait` for why scrapli's ``select()`` wait is replaced.
"""

from genja_prefect_scrapli.capabilities import CliCommands, CliConfig
from genja_prefect_scrapli.options import PLATFORM_DEFINITIONS, ScrapliExtras
from genja_prefect_scrapli.parsing import (
    CommandResponse,
    NoTemplateError,
    ParseError,
    ParserNotInstalledError,
    parse_output,
)
from genja_prefect_scrapli.plugin import (
    ScrapliConnection,
    ScrapliPlugin,
    ScrapliSessionLostError,
    ScrapliTimeoutError,
    classify_open_failure,
)

__all__ = [
    "PLATFORM_DEFINITIONS",
    "CliCommands",
    "CliConfig",
    "CommandResponse",
    "NoTemplateError",
    "ParseError",
    "ParserNotInstalledError",
    "ScrapliConnection",
    "ScrapliExtras",
    "ScrapliPlugin",
    "ScrapliSessionLostError",
    "ScrapliTimeoutError",
    "classify_open_failure",
    "parse_output",
]
