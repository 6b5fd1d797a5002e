"""The CLI of a simulated device: modes, command matching, a running config. No I/O here.

One :class:`DeviceState` per device (its config survives across sessions, like a real box);
one :class:`CliSession` per SSH session (its own mode). :meth:`CliSession.handle_line` takes one
line of input and returns what the device prints before the next prompt. Example::

    state = DeviceState(IOS, "r1")
    cli = CliSession(state)
    cli.handle_line("enable")
    print(cli.handle_line("show ip interface brief").output)
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from dataclasses import dataclass, field

from genja_prefect.lab.sim_platforms import SimPlatform
from genja_prefect.lab.sim_show import apply_pipe, interface_detail, interfaces_description, ip_interface_brief

# Child lines whose identity is their first two words ("ip address", "switchport mode").
_TWO_WORD_KEYS = frozenset({"ip", "ipv6", "switchport", "spanning-tree", "standby", "vrrp", "channel-group"})
# Top-level lines of which a device keeps only one.
_SINGLE_TOP = frozenset({"hostname", "ip domain name", "ip domain-name", "spanning-tree mode", "clock timezone"})
# Words a config section (interface, router, ...) commonly starts a child line with; known so
# that abbreviations such as "shut" or "desc" expand.
_CHILD_KEYWORDS = frozenset(
    {
        "shutdown",
        "description",
        "mtu",
        "speed",
        "duplex",
        "switchport",
        "encapsulation",
        "transport",
        "neighbor",
        "network",
        "name",
        "channel-group",
        "bgp",
        "redistribute",
        "passive-interface",
    }
)


_FILE_COMMAND = re.compile(
    r"^\s*(?P<verb>copy\s+running-config|configure\s+replace|more|delete(?:\s+/force)?)"
    r"\s+flash:(?P<name>[\w.-]+)(?:\s+force)?\s*$",
    re.IGNORECASE,
)
_VERBS = {"copy": "copy", "configure": "replace", "more": "more", "delete": "delete"}
# NX-OS named checkpoints (privileged mode): the verb, then the checkpoint name.
_CHECKPOINT_COMMAND = re.compile(
    r"^\s*(?:(?P<save>checkpoint)\s+(?P<save_name>[\w.-]+)(?:\s+description\s+.*)?"
    r"|(?P<delete>no\s+checkpoint)\s+(?P<delete_name>[\w.-]+)"
    r"|(?P<restore>rollback\s+running-config\s+checkpoint)\s+(?P<restore_name>[\w.-]+)"
    r"(?:\s+(?:atomic|best-effort|stop-at-first-failure|verbose))*"
    r"|(?P<show>show\s+checkpoint)\s+(?P<show_name>[\w.-]+))\s*$",
    re.IGNORECASE,
)
_ROLLBACK_DONE = (
    "Note: Applying config parallelly may fail Rollback verification\n"
    "Collecting Running-Config\n"
    "#Generating Rollback Patch\n"
    "Executing Rollback Patch\n"
    "#Generating Running-config for verification\n"
    "#Generating Patch for verification\n"
    "Verification is Successful.\n"
    "\n"
    "Rollback completed successfully."
)

# (words, action, lowest mode): "<n>" in words matches a number.
_Command = tuple[tuple[str, ...], str, str]


@dataclass
class Block:
    """One top-level config line and, for sections (interface, router, ...), its children."""

    line: str
    section: str | None = None
    children: list[str] = field(default_factory=list)


@dataclass
class Response:
    """What a line of input produced: text to print, and whether the session ends."""

    output: str = ""
    close: bool = False


def _key(line: str) -> str:
    words = line.split()
    if not words:
        return ""
    return " ".join(words[:2]) if words[0] in _TWO_WORD_KEYS else words[0]


class DeviceState:
    """A device's hostname and running/startup config, shared by all its sessions."""

    def __init__(self, platform: SimPlatform, hostname: str) -> None:
        self.platform = platform
        self.hostname = hostname
        self.blocks: list[Block] = []
        for raw in platform.initial_config:
            line = raw.format(hostname=hostname)
            if line.startswith(" "):
                self.blocks[-1].children.append(line.strip())
            else:
                first = line.split()[0]
                self.blocks.append(Block(line, platform.sections.get(first)))
        self._initial_hostname = hostname
        self._startup: str | None = None  # None: still the initial config (rendered on demand)
        #: files on the device's flash (``copy running-config flash:NAME``), name -> text.
        self.files: dict[str, str] = {}
        #: NX-OS named checkpoints (``checkpoint NAME``), name -> the running config then.
        self.checkpoints: dict[str, str] = {}

    def load_config(self, text: str) -> None:
        """Make ``text`` (as ``show running-config`` prints it) the running config:
        ``configure replace``. Header and footer lines (comments, ``end``, ``version``) are
        not configuration."""
        blocks: list[Block] = []
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("!") or stripped == "end" or line in self.platform.config_header:
                continue
            if line.startswith(" ") and blocks:
                blocks[-1].children.append(stripped)
                continue
            if stripped.startswith(("Building configuration", "Current configuration", "version ")):
                continue
            blocks.append(Block(stripped, self.platform.sections.get(stripped.split()[0])))
            if stripped.startswith("hostname "):
                self.hostname = stripped.split()[1]
        self.blocks = blocks

    def render_config(self) -> str:
        """The running config as ``show running-config`` prints it."""
        p = self.platform
        body: list[str] = []
        for block in self.blocks:
            if block.section:
                body.append(p.section_separator)
            body.append(block.line)
            body.extend(p.indent + child for child in block.children)
        size = sum(len(line) + 1 for line in body)
        header = [h.format(hostname=self.hostname, size=size) for h in p.config_header]
        return "\n".join([*header, *body, *p.config_footer])

    @property
    def startup(self) -> str:
        """The saved config (``write memory`` updates it)."""
        if self._startup is None:
            return DeviceState(self.platform, self._initial_hostname).render_config()
        return self._startup

    def save(self) -> None:
        """``write memory``: the running config becomes the startup config."""
        self._startup = self.render_config()

    def interfaces(self) -> list[tuple[str, str, bool, str]]:
        """(name, address, shut down?, description) of each interface, from the config."""
        result = []
        for block in self.blocks:
            if block.section != "if":
                continue
            name = block.line.split(maxsplit=1)[1]
            address = next((c.split()[2] for c in block.children if c.startswith("ip address ")), "unassigned")
            description = next((c.split(maxsplit=1)[1] for c in block.children if c.startswith("description ")), "")
            result.append((name, address, "shutdown" in block.children, description))
        return result

    def interface_prefixes(self) -> list[tuple[str, str | None, bool, str]]:
        """(name, address/prefix length or None, shut down?, description) of each interface:
        IOS configs give a dotted mask (``10.0.0.1 255.255.255.0``), EOS a prefix already."""
        result = []
        for block in self.blocks:
            if block.section != "if":
                continue
            name = block.line.split(maxsplit=1)[1]
            words = next((c.split()[2:] for c in block.children if c.startswith("ip address ")), [])
            cidr: str | None = None
            if words:
                try:
                    cidr = ipaddress.ip_interface("/".join(words[:2])).with_prefixlen
                except ValueError:  # an address the simulator accepted but cannot place
                    cidr = words[0]
            description = next((c.split(maxsplit=1)[1] for c in block.children if c.startswith("description ")), "")
            result.append((name, cidr, "shutdown" in block.children, description))
        return result

    def find_block(self, line: str) -> Block | None:
        return next((b for b in self.blocks if b.line == line), None)

    def set_top(self, line: str) -> None:
        """Add a top-level line, replacing the old one for single-valued settings."""
        words = line.split()
        if words[0] == "hostname" and len(words) > 1:
            self.hostname = words[1]
        for key in (" ".join(words[:3]), " ".join(words[:2]), words[0]):
            if key in _SINGLE_TOP:
                for block in self.blocks:
                    if not block.section and block.line.startswith(key + " "):
                        block.line = line
                        return
        if self.find_block(line) is None:
            self.blocks.append(Block(line))

    def remove_top(self, line: str) -> None:
        """``no <line>`` at the top level: drop the matching block or single-valued setting."""
        self.blocks = [
            b for b in self.blocks if b.line != line and not (b.line.startswith(line + " ") and not b.section)
        ]


class CliSession:
    """The state of one CLI session: mode, current config section, and the commands it knows."""

    def __init__(self, state: DeviceState) -> None:
        self.state = state
        self.platform = state.platform
        self.mode = self.platform.start_mode
        self.section: Block | None = None
        self._commands: list[_Command] = [
            (("enable",), "enable", "exec"),
            (("disable",), "disable", "exec"),
            (("configure",), "configure", "privileged"),
            (("configure", "terminal"), "configure", "privileged"),
            (("terminal", "length", "<n>"), "term_length", "exec"),
            (("terminal", "width", "<n>"), "term_width", "exec"),
            (("terminal", "monitor"), "noop", "exec"),
            (("show", "running-config"), "show_run", "privileged"),
            (("show", "startup-config"), "show_start", "privileged"),
            (("show", "ip", "interface", "brief"), "show_ip_int_brief", "exec"),
            (("show", "interfaces", "description"), "show_int_desc", "exec"),
            (("show", "interfaces"), "show_interfaces", "exec"),
            (("write", "memory"), "write", "privileged"),
            (("copy", "running-config", "startup-config"), "write", "privileged"),
            (("exit",), "exit", "exec"),
            (("logout",), "exit", "exec"),
            (("quit",), "exit", "exec"),
        ]
        self._commands += [(tuple(cmd.split()), "output:" + cmd, "exec") for cmd in self.platform.outputs]

    @property
    def prompt(self) -> str:
        """The prompt for the current mode."""
        if self.section is not None:
            return self.platform.prompts["section"].format(hostname=self.state.hostname, section=self.section.section)
        return self.platform.prompts[self.mode].format(hostname=self.state.hostname)

    def handle_line(self, line: str) -> Response:
        """Run one line of input; the caller prints ``output`` then :attr:`prompt`."""
        line = line.strip()
        if not line or line.startswith("!"):
            return Response()
        if self.mode == "config":
            return self._config_line(line)
        return self._exec_line(line, len(self.prompt))

    # -- exec and privileged mode -------------------------------------------------------

    def _file_command(self, line: str) -> Response | None:
        """Checkpoint files on flash (privileged mode): ``copy running-config flash:NAME``,
        ``configure replace flash:NAME [force]``, ``more flash:NAME``, ``delete [/force]
        flash:NAME``. None when ``line`` is none of these."""
        match = _FILE_COMMAND.match(line)
        if match is None or self.mode != "privileged":
            return None
        verb, name = _VERBS[match.group("verb").split()[0].lower()], match.group("name")
        files = self.state.files
        if verb == "copy":
            files[name] = self.state.render_config()
            return Response(self.platform.write_memory_output)
        if name not in files:
            return Response(f"%Error opening flash:{name} (No such file or directory)")
        if verb == "replace":
            self.state.load_config(files[name])
            return Response(self.platform.replace_output)
        if verb == "more":
            return Response(files[name])
        del files[name]
        return Response()

    def _checkpoint_command(self, line: str) -> Response | None:
        """NX-OS named checkpoints (privileged mode): ``checkpoint NAME [description ...]``,
        ``rollback running-config checkpoint NAME [atomic|...]``, ``show checkpoint NAME``,
        ``no checkpoint NAME``. None when ``line`` is none of these (or the platform has none)."""
        if not self.platform.named_checkpoints or self.mode != "privileged":
            return None
        match = _CHECKPOINT_COMMAND.match(line)
        if match is None:
            return None
        verb = next(v for v in ("save", "delete", "restore", "show") if match.group(v))
        name = match.group(f"{verb}_name")
        saved = self.state.checkpoints
        if verb == "save":
            if name in saved:
                return Response(f"ERROR: Checkpoint name {name} is already in use")
            saved[name] = self.state.render_config()
            return Response("...........Done")
        if name not in saved:
            return Response(f"ERROR: Checkpoint {name} does not exist")
        if verb == "restore":
            self.state.load_config(saved[name])
            return Response(_ROLLBACK_DONE)
        if verb == "show":
            text = saved[name].replace("!Command: show running-config", "!Command: Checkpoint cmd vdc 1", 1)
            return Response("-" * 80 + f"\nName: {name}\n" + text)
        del saved[name]
        return Response()

    def _exec_line(self, line: str, column: int) -> Response:
        handled = self._file_command(line)
        if handled is None:
            handled = self._checkpoint_command(line)
        if handled is not None:
            return handled
        command, _, pipe = line.partition("|")
        words = command.split()
        allowed = [c for c in self._commands if c[2] == "exec" or self.mode == "privileged"]
        matches, incomplete, depth = self._match(words, allowed)
        if len(matches) > 1:
            return Response(self.platform.ambiguous.format(command=command.strip()))
        if incomplete:
            return Response(self.platform.incomplete)
        if not matches:
            return Response(self._invalid(line, words, depth, column))
        _, action, _ = matches[0]
        response = self._run(action, words)
        if pipe and response.output:
            response.output = apply_pipe(response.output, pipe.strip())
        return response

    def _match(self, words: list[str], commands: list[_Command]) -> tuple[list[_Command], bool, int]:
        """Commands matching ``words`` word by word (abbreviations allowed); whether ``words``
        only start a command (incomplete); how many words the best candidate matched."""
        depth, prefix = 0, False
        full: list[_Command] = []
        exact: list[_Command] = []
        lowered = [w.lower() for w in words]
        for cmd in commands:
            cmd_words = cmd[0]
            matched = 0
            for word, cmd_word in zip(lowered, cmd_words, strict=False):
                if (cmd_word == "<n>" and word.isdigit()) or (cmd_word != "<n>" and cmd_word.startswith(word)):
                    matched += 1
                else:
                    break
            depth = max(depth, matched)
            if matched == len(words) == len(cmd_words):
                full.append(cmd)
                if all(w == c or c == "<n>" for w, c in zip(lowered, cmd_words, strict=True)):
                    exact.append(cmd)
            elif matched == len(words) < len(cmd_words):
                prefix = True
        if exact:
            return exact[:1], False, depth
        if full:
            return full, False, depth
        return [], prefix, depth

    def _invalid(self, line: str, words: list[str], depth: int, column: int) -> str:
        if not self.platform.show_caret:
            return self.platform.invalid_input
        offset = 0
        for word in words[:depth]:
            offset = line.index(word, offset) + len(word)
        if depth < len(words):
            offset = line.index(words[depth], offset)
        return " " * (column + offset) + "^\n" + self.platform.invalid_input

    def _run(self, action: str, words: list[str]) -> Response:
        p, state = self.platform, self.state
        if action.startswith("output:"):
            return Response(p.outputs[action[7:]].format(hostname=state.hostname))
        if action == "enable":
            self.mode = "privileged"
        elif action == "disable":
            self.mode = "exec"
        elif action == "configure":
            self.mode, self.section = "config", None
            return Response(p.configure_banner)
        elif action == "term_length":
            return Response(p.terminal_length_message if words[-1] == "0" else "")
        elif action == "term_width":
            return Response(p.terminal_width_message.format(width=words[-1]))
        elif action == "show_run":
            return Response(state.render_config())
        elif action == "show_start":
            return Response(state.startup)
        elif action == "write":
            state.save()
            return Response(p.write_memory_output)
        elif action == "show_ip_int_brief":
            return Response(ip_interface_brief(p.name, state.interfaces()))
        elif action == "show_interfaces":
            # the MAC addresses differ per device, as on a real network (stable across runs)
            seed = zlib.crc32(state.hostname.encode())
            return Response(interface_detail(p.name, state.interface_prefixes(), seed))
        elif action == "show_int_desc":
            return Response(interfaces_description(p.interface_names, state.interfaces()))
        elif action == "exit":
            return Response(close=True)
        return Response()

    # -- configuration mode -------------------------------------------------------------

    def _config_line(self, line: str) -> Response:
        p, state = self.platform, self.state
        words = line.split()
        first = self._config_keyword(words[0].lower())
        if first is None:
            return Response(self._invalid(line, words, 0, len(self.prompt)))
        if first == "ambiguous":
            return Response(p.ambiguous.format(command=line))
        rest = " ".join(words[1:])
        if first == "end":
            self.mode, self.section = "privileged", None
        elif first == "exit":
            if self.section is not None:
                self.section = None
            else:
                self.mode = "privileged"
        elif first == "do":
            saved = self.mode
            self.mode = "privileged"
            try:
                return self._exec_line(rest, len(self.prompt) + 3) if rest else Response(p.incomplete)
            finally:
                self.mode = saved
        elif first in p.sections:
            if not rest:
                return Response(p.incomplete)
            full = self._normalize(first, rest)
            block = state.find_block(full)
            if block is None:
                block = Block(full, p.sections[first])
                state.blocks.append(block)
            self.section = block
        elif first == "no":
            self._no(rest)
        elif self.section is not None:
            child = " ".join([first, *words[1:]])
            key = _key(child)
            kids = self.section.children
            idx = next((i for i, c in enumerate(kids) if _key(c) == key), None)
            if idx is None:
                kids.append(child)
            else:
                kids[idx] = child
        else:
            state.set_top(" ".join([first, *words[1:]]))
        return Response()

    def _config_keyword(self, word: str) -> str | None:
        known = {"end", "exit", "do", "no"} | set(self.platform.sections) | self.platform.config_keywords
        if self.section is not None:
            known |= _CHILD_KEYWORDS
            return word if word in known else (self._unique(word, known) or word)
        if word in known:
            return word
        return self._unique(word, known)

    @staticmethod
    def _unique(word: str, known: set[str]) -> str | None:
        hits = [k for k in known if k.startswith(word)]
        if len(hits) > 1:
            return "ambiguous"
        return hits[0] if hits else None

    def _normalize(self, keyword: str, rest: str) -> str:
        """``int gi1`` -> ``interface GigabitEthernet1`` (interface names only)."""
        if keyword == "interface":
            match = re.match(r"([A-Za-z-]+)\s*([\d/.:]+)$", rest)
            if match:
                prefix, number = match.groups()
                for short, full in self.platform.interface_names.items():
                    if full.lower().startswith(prefix.lower()) and prefix.lower().startswith(short):
                        return f"interface {full}{number}"
        return f"{keyword} {rest}"

    def _no(self, rest: str) -> None:
        words = rest.split()
        if not words:
            return
        first = self._config_keyword(words[0].lower()) or words[0]
        if first in self.platform.sections:
            self.state.blocks = [b for b in self.state.blocks if b.line != self._normalize(first, " ".join(words[1:]))]
            return
        line = " ".join([first, *words[1:]])
        if self.section is not None:
            kids = self.section.children
            self.section.children = [c for c in kids if c != line and _key(c) != line and _key(c) != _key(line)]
        else:
            self.state.remove_top(line)
