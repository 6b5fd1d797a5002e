"""A fast SSH CLI device simulator on asyncssh: many devices, one event loop.

Every device listens on its own 127.0.0.1 port; all of them are served by one asyncio loop in a
background thread. A device has a platform (:data:`~genja_prefect.lab.sim_platforms.SIM_PLATFORMS`:
``ios`` for scrapli's ``cisco_iosxe``, ``eos`` for ``arista_eos``, ``nxos`` for ``cisco_nxos``),
a running config that
``configure terminal`` changes and ``show running-config`` prints, and fault knobs that can be
changed while it runs:

- ``delay_s``: every command is answered that many seconds late (a slow device);
- ``fail_auth``: every login is rejected;
- ``drop_on``: receiving this exact command aborts the TCP connection without an answer;
- :meth:`Simulator.drop_connections` aborts a device's live connections now.

Measured on 2 cores: 1,000 devices start in 0.55-0.95 s (5,000 in ~3 s); through scrapli a
command takes ~2 ms (p50) and a login ~0.1-0.2 s.

scrapli waits on its file descriptors with ``select()``, which fails for descriptors above
1023 ("filedescriptor out of range"). Every simulated device holds one listening socket, so
with more than ~900 devices run the simulator in another process (:func:`~genja_prefect.lab.lab_up`
or ``python -m genja_prefect.lab serve``) than the one running scrapli.
Example::

    with Simulator.from_counts(ios=100, eos=10, password="lab") as sim:
        device = sim.devices[0]
        print(device.name, device.port)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncssh

from genja_prefect.lab._loop import LoopThread
from genja_prefect.lab._service import LabService
from genja_prefect.lab._ssh_common import PasswordServer, lab_host_key
from genja_prefect.lab.errors import LabStartError
from genja_prefect.lab.ports import LOOPBACK, bind_listener, release_port
from genja_prefect.lab.sim_cli import CliSession, DeviceState
from genja_prefect.lab.sim_platforms import SIM_PLATFORMS

T = TypeVar("T")


@dataclass
class SimDevice:
    """One simulated device. ``port`` is set by :meth:`Simulator.start`; the fault knobs
    (``delay_s``, ``fail_auth``, ``drop_on``) may be changed at any time."""

    name: str
    platform: str = "ios"
    delay_s: float = 0.0
    fail_auth: bool = False
    drop_on: str | None = None
    port: int = 0
    host: str = LOOPBACK

    @property
    def scrapli_definition(self) -> str:
        """The scrapli definition name this device's prompts are built for."""
        return SIM_PLATFORMS[self.platform].scrapli_definition


@dataclass
class _Runtime:
    device: SimDevice
    state: DeviceState
    acceptor: asyncssh.SSHAcceptor | None = None
    conns: set[asyncssh.SSHServerConnection] = field(default_factory=set)
    #: SSH connections accepted since the start (sessions opened, for tests).
    accepted: int = 0

    def connected(self, conn: asyncssh.SSHServerConnection) -> None:
        self.accepted += 1
        self.conns.add(conn)


class _Session(asyncssh.SSHServerSession[str]):
    """One SSH session on a device: echoes input like a terminal and answers each line."""

    def __init__(self, runtime: _Runtime) -> None:
        self._rt = runtime
        self._cli = CliSession(runtime.state)
        self._chan: asyncssh.SSHServerChannel[str] | None = None
        self._line: list[str] = []
        self._last_cr = False
        self._busy = False
        self._typeahead = ""
        self._exec_command: str | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel[str]) -> None:
        self._chan = chan

    def connection_lost(self, exc: Exception | None) -> None:
        self._chan = None

    def pty_requested(self, term_type: str, term_size: Any, term_modes: Any) -> bool:
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self._exec_command = command
        return True

    def session_started(self) -> None:
        assert self._chan is not None
        if self._exec_command is None:
            self._chan.write("\r\n" + self._cli.prompt)
            return
        # `ssh host "show version"`: run at the privileged level, print, exit
        self._cli.mode = "privileged"
        response = self._cli.handle_line(self._exec_command)
        self._chan.write(response.output.replace("\n", "\r\n") + ("\r\n" if response.output else ""))
        self._chan.exit(0)

    def data_received(self, data: str, datatype: Any) -> None:
        if self._busy:
            # A real device buffers type-ahead while busy and echoes it later.
            self._typeahead += data
            return
        self._feed(data)

    def eof_received(self) -> bool:
        return False  # close the channel

    def _feed(self, data: str) -> None:
        out: list[str] = []
        for index, char in enumerate(data):
            if char == "\n" and self._last_cr:
                self._last_cr = False
                continue
            self._last_cr = char == "\r"
            if char in "\r\n":
                line = "".join(self._line)
                self._line.clear()
                out.append("\r\n")
                if self._rt.device.delay_s > 0:
                    self._write("".join(out))
                    self._busy = True
                    self._typeahead = data[index + 1 :]
                    asyncio.get_running_loop().call_later(self._rt.device.delay_s, self._answer_later, line)
                    return
                answer = self._answer(line)
                if answer is None:
                    return
                out.append(answer)
            elif char in "\x7f\x08":
                if self._line:
                    self._line.pop()
                    out.append("\b \b")
            elif char == "\x03":  # Ctrl-C: drop the line
                self._line.clear()
                out.append("^C\r\n" + self._cli.prompt)
            elif char >= " " or char == "\t":
                self._line.append(char)
                out.append(char)
        self._write("".join(out))

    def _answer_later(self, line: str) -> None:
        self._busy = False
        if self._chan is None:
            return
        answer = self._answer(line)
        if answer is None:
            return
        self._write(answer)
        rest, self._typeahead = self._typeahead, ""
        if rest:
            self._feed(rest)

    def _answer(self, line: str) -> str | None:
        """The text to print for a completed line (output and next prompt), or None when the
        session ended (closed or dropped) and nothing more may be written."""
        device = self._rt.device
        if device.drop_on is not None and line.strip() == device.drop_on:
            conn = self._chan.get_extra_info("connection") if self._chan else None
            if conn is not None:
                conn.abort()
            self._chan = None
            return None
        response = self._cli.handle_line(line)
        text = response.output.replace("\n", "\r\n") + "\r\n" if response.output else ""
        if response.close:
            self._write(text)
            if self._chan is not None:
                self._chan.exit(0)
                self._chan = None
            return None
        return text + self._cli.prompt

    def _write(self, text: str) -> None:
        if text and self._chan is not None:
            self._chan.write(text)


class Simulator(LabService):
    """Simulated SSH CLI devices on 127.0.0.1; a context manager.

    ``loop`` lets several lab servers share one event-loop thread; without it the simulator
    runs its own and stops it in :meth:`stop`.
    """

    def __init__(
        self,
        devices: Iterable[SimDevice] = (),
        *,
        username: str = "admin",
        password: str = "admin",
        loop: LoopThread | None = None,
    ) -> None:
        self.devices: list[SimDevice] = list(devices)
        unknown = sorted({d.platform for d in self.devices} - set(SIM_PLATFORMS))
        if unknown:
            raise ValueError(f"unknown simulator platform(s) {unknown}; choose from {sorted(SIM_PLATFORMS)}")
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            raise ValueError("simulated device names must be unique")
        self.username = username
        self._password = password
        self._own_loop = loop is None
        self._loop = loop or LoopThread("genja-lab-sim")
        self._runtimes: dict[str, _Runtime] = {}

    @classmethod
    def from_counts(cls, *, ios: int = 0, eos: int = 0, nxos: int = 0, prefix: str = "sim-",
                    **kwargs: Any) -> Simulator:
        """Devices named ``<prefix><platform><n>``: ``sim-ios1``, ..., ``sim-eos1``, ...,
        ``sim-nxos1``, ..."""
        devices = [SimDevice(f"{prefix}ios{i}", "ios") for i in range(1, ios + 1)]
        devices += [SimDevice(f"{prefix}eos{i}", "eos") for i in range(1, eos + 1)]
        devices += [SimDevice(f"{prefix}nxos{i}", "nxos") for i in range(1, nxos + 1)]
        return cls(devices, **kwargs)

    def __repr__(self) -> str:
        return f"Simulator({len(self.devices)} devices, username={self.username!r}, running={bool(self._runtimes)})"

    def start(self) -> list[SimDevice]:
        """Bind and serve every device; return them with their ports set."""
        if self._runtimes or not self.devices:
            return self.devices
        self._loop.start()
        try:
            self._loop.run(self._start_all())
        except BaseException as exc:
            self.stop()
            if isinstance(exc, OSError):
                raise LabStartError(f"simulated devices could not listen: {exc}") from exc
            raise
        return self.devices

    async def _start_all(self) -> None:
        key = lab_host_key()
        runtimes = [_Runtime(d, DeviceState(SIM_PLATFORMS[d.platform], d.name)) for d in self.devices]
        for runtime in runtimes:
            self._runtimes[runtime.device.name] = runtime

        async def _listen(runtime: _Runtime) -> None:
            sock = bind_listener()
            runtime.device.port = int(sock.getsockname()[1])
            try:
                runtime.acceptor = await asyncssh.listen(
                    sock=sock,
                    server_factory=lambda: PasswordServer(
                        self.username,
                        self._password,
                        session=lambda: _Session(runtime),
                        reject_all=lambda: runtime.device.fail_auth,
                        on_connect=runtime.connected,
                        on_disconnect=runtime.conns.discard,
                    ),
                    server_host_keys=[key],
                    line_editor=False,
                    agent_forwarding=False,
                    x11_forwarding=False,
                    allow_scp=False,
                )
            except BaseException:
                sock.close()
                raise

        # listen() waits on an executor round trip; overlapping them halves a 1,000-device start.
        # return_exceptions: let every listen() finish, so stop() sees all acceptors to close.
        results = await asyncio.gather(*(_listen(r) for r in runtimes), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    def stop(self) -> None:
        """Close every listener and live connection; stop the loop thread if we own it."""
        if self._runtimes and self._loop.running:
            self._loop.run(self._stop_all())
        for runtime in self._runtimes.values():
            if runtime.device.port:
                release_port(runtime.device.port)
        self._runtimes.clear()
        if self._own_loop:
            self._loop.stop()

    async def _stop_all(self) -> None:
        acceptors = [r.acceptor for r in self._runtimes.values() if r.acceptor is not None]
        for acceptor in acceptors:
            acceptor.close()
        for runtime in self._runtimes.values():
            for conn in list(runtime.conns):
                conn.abort()
        await asyncio.gather(*(a.wait_closed() for a in acceptors), return_exceptions=True)

    def device(self, name: str) -> SimDevice:
        """The device called ``name`` (``KeyError`` lists the known names if absent)."""
        for device in self.devices:
            if device.name == name:
                return device
        raise KeyError(f"no simulated device {name!r}; known: {[d.name for d in self.devices][:10]}...")

    def running_config(self, name: str) -> str:
        """The device's current running config, as ``show running-config`` prints it."""
        state = self._runtimes[self.device(name).name].state
        return self._loop.run(_call(state.render_config))

    def checkpoint_names(self, name: str) -> list[str]:
        """The NX-OS named checkpoints ``name`` holds now (``checkpoint NAME``), sorted."""
        state = self._runtimes[self.device(name).name].state
        return self._loop.run(_call(lambda: sorted(state.checkpoints)))

    def drop_connections(self, name: str) -> int:
        """Abort every live connection to ``name`` now (no SSH goodbye); return how many."""
        runtime = self._runtimes[self.device(name).name]

        async def _drop() -> int:
            conns = list(runtime.conns)
            for conn in conns:
                conn.abort()
            return len(conns)

        return self._loop.run(_drop())

    def accepted_count(self, name: str) -> int:
        """How many SSH connections ``name`` has accepted since it started."""
        runtime = self._runtimes[self.device(name).name]
        return self._loop.run(_call(lambda: runtime.accepted))

    def connection_count(self, name: str) -> int:
        """How many SSH connections ``name`` has open now."""
        runtime = self._runtimes[self.device(name).name]
        return self._loop.run(_call(lambda: len(runtime.conns)))


async def _call(func: Callable[[], T]) -> T:
    """Run a plain callable on the loop thread (the device state belongs to that thread)."""
    return func()
