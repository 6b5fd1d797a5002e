import genja as genja_lib
from genja.connection import (
    ConnectionBase,
    ConnectionKey,
    ConnectionPluginBase,
    ResolvedConnectionParams,
)


class SshConnection(ConnectionBase):
    def __init__(self, key: ConnectionKey):
        self.key = key
        self.alive = False

    def open(self, params: ResolvedConnectionParams) -> None:
        self.alive = True

    def execute_command(self, command: str) -> str:
        return f"ran {command}"

    def close(self) -> ConnectionKey:
        self.alive = False
        return self.key

    def is_alive(self) -> bool:
        return self.alive


class SshPlugin(ConnectionPluginBase):
    name = "ssh"

    def create(self, key: ConnectionKey) -> SshConnection:
        return SshConnection(key)


plugins = genja_lib.PluginManager()
plugins.register_plugin(SshPlugin())
