"""Stand-ins for the first-party ``scrapli`` and ``ncclient`` connection plugins.

Registered by ``tests/flows/conftest.py`` only when the real plugin is not installed (while
``plugins/genja_prefect_scrapli`` and ``plugins/genja_prefect_ncclient`` are being written), so
the flow tests run against the real lab either way. Same method names as the real plugins:
``execute_command``, ``send_commands``, ``send_config``; ``get``, ``get_config``,
``edit_config``, ``lock``, ``unlock``, ``commit``, ``discard_changes``.
"""

from __future__ import annotations

from typing import Any

from genja_prefect.connection import (
    ConnectionBase,
    ConnectionKey,
    ConnectionOpenError,
    ConnectionPluginBase,
    ResolvedConnectionParams,
)

SCRAPLI_DEFINITIONS = {
    "ios": "cisco_iosxe",
    "iosxe": "cisco_iosxe",
    "eos": "arista_eos",
    "junos": "juniper_junos",
    "nxos": "cisco_nxos",
    "asa": "cisco_asa",
}


class FallbackScrapliConnection(ConnectionBase):
    def __init__(self, key: ConnectionKey) -> None:
        self.key = key
        self.cli: Any = None

    def open(self, params: ResolvedConnectionParams) -> None:
        from scrapli import Cli
        from scrapli.auth import Options as AuthOptions
        from scrapli.transport import BinOptions

        definition = SCRAPLI_DEFINITIONS.get(params.platform or "")
        if definition is None:
            raise ConnectionOpenError(f"{params.host_id}: no scrapli definition for {params.platform!r}",
                                      kind="unsupported", retryable=False)
        cli = Cli(
            params.hostname,
            port=params.port or 22,
            definition_file_or_name=definition,
            auth_options=AuthOptions(username=params.username or "", password=params.password_value() or ""),
            transport_options=BinOptions(enable_strict_key=False,
                                         extra_open_args=["-o", "UserKnownHostsFile=/dev/null"]),
        )
        try:
            cli.open()
        except Exception as exc:
            raise ConnectionOpenError(f"{params.host_id} ({params.address}): {type(exc).__name__}") from None
        self.cli = cli

    def execute_command(self, command: str) -> str:
        return str(self.cli.send_input(command).result)

    def send_commands(self, commands: list[str]) -> list[str]:
        return [self.execute_command(c) for c in commands]

    def send_config(self, lines: list[str]) -> str:
        return str(self.cli.send_inputs(lines, requested_mode="configuration",
                                        stop_on_indicated_failure=False).result)

    def close(self) -> ConnectionKey:
        if self.cli is not None:
            try:
                self.cli.close()
            finally:
                self.cli = None
        return self.key

    def is_alive(self) -> bool:
        return self.cli is not None


class FallbackScrapliPlugin(ConnectionPluginBase):
    name = "scrapli"

    def create(self, key: ConnectionKey) -> FallbackScrapliConnection:
        return FallbackScrapliConnection(key)


class FallbackNcclientConnection(ConnectionBase):
    def __init__(self, key: ConnectionKey) -> None:
        self.key = key
        self.manager: Any = None

    def open(self, params: ResolvedConnectionParams) -> None:
        from ncclient import manager

        try:
            self.manager = manager.connect(
                host=params.hostname, port=params.port or 830, username=params.username,
                password=params.password_value(), hostkey_verify=False, allow_agent=False,
                look_for_keys=False, device_params={"name": "default"}, timeout=30,
            )
        except Exception as exc:
            raise ConnectionOpenError(f"{params.host_id} ({params.address}): {type(exc).__name__}") from None

    @property
    def server_capabilities(self) -> list[str]:
        return list(self.manager.server_capabilities)

    def get(self, filter: str | None = None) -> str:  # noqa: A002
        return str(self.manager.get(filter=("subtree", filter) if filter else None).data_xml)

    def get_config(self, source: str = "running", filter: str | None = None) -> str:  # noqa: A002
        return str(self.manager.get_config(source, filter=("subtree", filter) if filter else None).data_xml)

    def edit_config(self, config: str, target: str = "running", default_operation: str | None = None) -> str:
        return str(self.manager.edit_config(config, target=target, default_operation=default_operation).xml)

    def lock(self, target: str = "running") -> None:
        self.manager.lock(target)

    def unlock(self, target: str = "running") -> None:
        self.manager.unlock(target)

    def commit(self) -> None:
        self.manager.commit()

    def discard_changes(self) -> None:
        self.manager.discard_changes()

    def close(self) -> ConnectionKey:
        if self.manager is not None:
            try:
                self.manager.close_session()
            finally:
                self.manager = None
        return self.key

    def is_alive(self) -> bool:
        return self.manager is not None and bool(self.manager.connected)


class FallbackNcclientPlugin(ConnectionPluginBase):
    name = "ncclient"

    def create(self, key: ConnectionKey) -> FallbackNcclientConnection:
        return FallbackNcclientConnection(key)
