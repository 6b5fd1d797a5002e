"""RFC 6242 NETCONF message framing: end-of-message ``]]>]]>`` (base:1.0) and chunks (base:1.1)."""

from __future__ import annotations

EOM = b"]]>]]>"
_MAX_CHUNK = 1 << 26  # refuse absurd chunk sizes instead of buffering them


class FramingError(Exception):
    """The peer broke RFC 6242 framing; the session must end."""


class Framer:
    """RFC 6242 message framing: ``]]>]]>`` until :attr:`chunked` is switched on."""

    def __init__(self) -> None:
        self.chunked = False
        self._buf = bytearray()
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._buf += data

    def next_message(self) -> bytes | None:
        """The next complete message, or None until more bytes arrive."""
        if not self.chunked:
            end = self._buf.find(EOM)
            if end < 0:
                return None
            message = bytes(self._buf[:end])
            del self._buf[: end + len(EOM)]
            return message
        while True:
            if len(self._buf) < 4:
                return None
            if self._buf.startswith(b"\n##\n"):
                del self._buf[:4]
                message, self._parts = b"".join(self._parts), []
                return message
            if not self._buf.startswith(b"\n#"):
                raise FramingError("expected a chunk header '\\n#<size>\\n'")
            newline = self._buf.find(b"\n", 2)
            if newline < 0:
                if len(self._buf) > 12:
                    raise FramingError("chunk header too long")
                return None
            size_text = bytes(self._buf[2:newline])
            if not size_text.isdigit() or not 0 < int(size_text) <= _MAX_CHUNK:
                raise FramingError(f"bad chunk size {size_text!r}")
            size = int(size_text)
            if len(self._buf) < newline + 1 + size:
                return None
            self._parts.append(bytes(self._buf[newline + 1 : newline + 1 + size]))
            del self._buf[: newline + 1 + size]

    def frame(self, message: bytes) -> bytes:
        """``message`` framed for sending."""
        if self.chunked:
            return b"\n#%d\n%s\n##\n" % (len(message), message)
        return message + EOM
