"""genja-prefect's NETCONF connection plugin on ncclient.

Registered through the ``genja_prefect.connection`` entry point as ``ncclient``. See
:mod:`genja_prefect_ncclient.plugin` for the operations and
:mod:`genja_prefect_ncclient.options` for ``connection_options.ncclient.extras`` and the
``ncclient_tick`` measurements.
"""

from genja_prefect_ncclient.capabilities import NetconfCandidate, NetconfEdit, NetconfGet
from genja_prefect_ncclient.options import PLATFORM_HANDLERS, NcclientExtras
from genja_prefect_ncclient.plugin import (
    NcclientConnection,
    NcclientPlugin,
    NetconfRpcError,
    NetconfSessionLostError,
    NetconfTimeoutError,
    lower_ncclient_tick,
)

__all__ = [
    "PLATFORM_HANDLERS",
    "NcclientConnection",
    "NcclientExtras",
    "NcclientPlugin",
    "NetconfCandidate",
    "NetconfEdit",
    "NetconfGet",
    "NetconfRpcError",
    "NetconfSessionLostError",
    "NetconfTimeoutError",
    "lower_ncclient_tick",
]
