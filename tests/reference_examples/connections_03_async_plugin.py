from genja.connection import (
    ConnectionBase,
    ConnectionKey,
    ConnectionPluginBase,
    ResolvedConnectionParams,
)


class AsyncSshConnection(ConnectionBase):
    def __init__(self, key: ConnectionKey):
        self.key = key
        self.alive = False

    async def open(self, params: ResolvedConnectionParams) -> None:
        self.alive = True

    async def execute_command(self, command: str) -> str:
        return f"ran {command}"

    async def close(self) -> ConnectionKey:
        self.alive = False
        return self.key

    async def is_alive(self) -> bool:
        return self.alive


class AsyncSshPlugin(ConnectionPluginBase):
    name = "ssh"

    async def create(self, key: ConnectionKey) -> AsyncSshConnection:
        return AsyncSshConnection(key)
