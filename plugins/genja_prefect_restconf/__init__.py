"""genja-prefect's RESTCONF connection plugin on httpx.

Registered through the ``genja_prefect.connection`` entry point as ``restconf``. See
:mod:`genja_prefect_restconf.plugin`.
"""

from genja_prefect_restconf.capabilities import RestconfData
from genja_prefect_restconf.plugin import (
    RestconfConnection,
    RestconfConnectionLostError,
    RestconfError,
    RestconfExtras,
    RestconfNotFoundError,
    RestconfPlugin,
    RestconfTimeoutError,
)

__all__ = [
    "RestconfConnection",
    "RestconfConnectionLostError",
    "RestconfData",
    "RestconfError",
    "RestconfExtras",
    "RestconfNotFoundError",
    "RestconfPlugin",
    "RestconfTimeoutError",
]
