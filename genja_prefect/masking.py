"""Secrets in device configuration text, masked by a table of per-platform rules.

Plain Python, no Prefect: flows (backup diffs, deploy diffs, NETCONF diffs) and later the
engine use the same table. Each :class:`SecretRule` names the command it knows, the platforms
it was written for, a cheap lower-case substring that must be in the line before its regular
expression is tried, and the regular expression itself, whose groups named ``secret``,
``secret2``, ... are the tokens to hide. Only those tokens change; the rest of the line (and
every line no rule matches) is left exactly as it was, so a masked diff still reads like the
device's config::

    from genja_prefect.masking import mask_secrets

    mask_secrets("snmp-server user u1 g1 v3 auth sha AuthPass123 priv aes 128 PrivPass456")
    # 'snmp-server user u1 g1 v3 auth sha <removed> priv aes 128 <removed>'
    mask_secrets("crypto key generate rsa modulus 2048")   # unchanged: not a secret

XML text (NETCONF replies) is masked element-wise: the text of ``<password>``,
``<encrypted-password>``, ``<authentication-key>``, ... becomes ``***`` so the XML stays
well formed.

Why a regex table and not structure: the secret is already inside text the device printed
(``show running-config``); structural redaction (``SecretStr``) covers what genja-prefect
itself reads from settings, this covers what devices hand back.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate
from typing import Any
from dataclasses import dataclass

__all__ = [
    "MASK",
    "SECRET_RULES",
    "XML_MASK",
    "MaskingFilter",
    "SecretRule",
    "mask_logger",
    "mask_secrets",
    "mask_tree",
    "mask_value",
]

#: What a secret token is replaced with in CLI text.
MASK = "<removed>"
#: What the text of a secret XML element is replaced with (``<`` would break the XML).
XML_MASK = "***"

# A secret token: a quoted string (NX-OS, Junos) or one word; a trailing ";" (Junos curly
# syntax) is not part of it.
_VALUE = r'(?:"[^"\n]*"|[^\s;"]+)'
# Tokens that may stand between a keyword and its secret: encryption types ("7", "sha512",
# "encrypted", "hmac-md5", "clear"), levels ("level 15"). Each is followed by whitespace, so
# the secret itself is never swallowed as a "type". Possessive (*+): once taken as types they
# are not given back, so masking masked text changes nothing ("secret 0 <removed>" stays).
_TYPE = (
    r"(?:(?:level\s+\d+|\d{1,2}|sha512|sha256|encrypted|unencrypted|clear|cleartext|text|"
    r"hmac-md5|hmac-sha[\w-]*|ascii-text|ascii|hex|md5)\s+)*+"
)
# Words after "password"/"secret" that make the line a setting about passwords, not one.
_NOT_A_SECRET = r"(?!(?:keychain|key-chain|encryption|restriction|policy|required|prompt|expiry|minimum-\S+|maximum-\S+|format|change-type|\{)(?:\s|$))"


@dataclass(frozen=True)
class SecretRule:
    """One kind of secret in config text.

    ``trigger`` is a lower-case substring that every line this rule masks contains: lines
    without it are never handed to ``pattern``. ``section`` (optional) is the first word of
    the enclosing top-level block the line must be in (Junos ``snmp {``). Groups of
    ``pattern`` named ``secret`` or ``secret<N>`` are replaced by :data:`MASK`.
    """

    name: str
    platforms: tuple[str, ...]
    trigger: str
    pattern: re.Pattern[str]
    section: str | None = None

    def apply(self, line: str) -> str:
        """``line`` with this rule's secret tokens masked (unchanged when it does not match)."""
        return self.pattern.sub(_masker, line)


def _masker(match: re.Match[str]) -> str:
    text = match.group(0)
    start = match.start()
    spans = sorted(
        match.span(name) for name, value in match.groupdict().items() if name.startswith("secret") and value
    )
    out, pos = [], 0
    for s, e in spans:
        out.append(text[pos : s - start])
        out.append(MASK)
        pos = e - start
    out.append(text[pos:])
    return "".join(out)


def _rule(name: str, platforms: str, trigger: str, pattern: str, section: str | None = None) -> SecretRule:
    return SecretRule(name, tuple(platforms.split()), trigger, re.compile(pattern, re.IGNORECASE), section)


#: The rule table, most specific first: a later, more general rule never re-masks a token
#: (``<removed>`` is not a value it accepts).
SECRET_RULES: tuple[SecretRule, ...] = (
    # Junos marks every secret it prints: `encrypted-password "$6$..."; ## SECRET-DATA`.
    _rule("junos_secret_data", "junos", "## secret-data", rf"(?P<secret>{_VALUE})(?=\s*;\s*## SECRET-DATA)"),
    # SNMPv3 users: auth and priv keys (IOS/IOS-XE/EOS/NX-OS/IOS-XR, NX-OS localizedkey form).
    _rule(
        "snmp_user_keys",
        "ios iosxe eos nxos iosxr",
        "snmp-server user",
        r"^\s*(?:no\s+)?snmp-server\s+user\s.*?\bauth\s+(?:md5|sha\S*)\s+(?:encrypted\s+)?(?P<secret>" + _VALUE + r")"
        r"(?:.*?\bpriv\s+(?:(?:3?des(?:56)?|aes(?:-?\d+)?)\s+)?(?:(?:128|192|256)\s+)?(?:encrypted\s+)?"
        r"(?P<secret2>" + _VALUE + r"))?",
    ),
    _rule("snmp_community", "ios iosxe eos nxos iosxr", "snmp-server community",
          rf"^\s*(?:no\s+)?snmp-server\s+community\s+(?:\d\s+)?(?P<secret>{_VALUE})"),
    # A v1/v2c trap host's last positional word is its community; a v3 host's is a user name.
    _rule("snmp_host_community", "ios iosxe eos nxos iosxr", "snmp-server host",
          r"^\s*(?:no\s+)?snmp-server\s+host\s+\S+(?:\s+(?:vrf\s+\S+|traps|informs))*(?:\s+version\s+(?:1|2c))?\s+"
          rf"(?!version\b|traps\b|informs\b|vrf\b)(?P<secret>{_VALUE})"),
    _rule("junos_snmp_community", "junos", "community", rf"^\s*(?:set|delete)\s+snmp\s+community\s+(?P<secret>{_VALUE})"),
    _rule("junos_snmp_community_block", "junos", "community", rf"^\s+community\s+(?P<secret>{_VALUE})\s*[{{;]",
          section="snmp"),
    # Junos SNMPv3 usm keys and "value" of NTP keys (set style).
    _rule("junos_key_value", "junos", "set ",
          rf"^\s*(?:set|delete)\s.*?\b(?:authentication-key|privacy-key|secret|value|ascii-text|hexadecimal)\s+(?P<secret>{_VALUE})\s*$"),
    # NTP keys: `ntp authentication-key 1 md5 <key> 7` (IOS), `... md5 7 <key>` (EOS),
    # `... md5 encrypted <key>` (IOS-XR).
    _rule("ntp_key", "ios iosxe eos nxos iosxr", "ntp authentication-key",
          r"^\s*(?:no\s+)?ntp\s+authentication-key\s+\d+\s+(?:md5|sha1|sha256|cmac-aes-128)\s+"
          rf"(?:(?:\d|encrypted)\s+)?(?P<secret>{_VALUE})"),
    # OSPF message digest keys: `ip ospf message-digest-key 1 md5 7 <key>`, IOS-XR
    # `message-digest-key 1 md5 encrypted <key>`.
    _rule("ospf_md5_key", "ios iosxe eos nxos iosxr", "message-digest-key",
          rf"\bmessage-digest-key\s+\d+\s+(?:md5|sha\d*)\s+(?:(?:\d|encrypted)\s+)?(?P<secret>{_VALUE})"),
    # IKEv1: `crypto isakmp key 6 <psk> address 192.0.2.1`; keyrings: `pre-shared-key address
    # 192.0.2.1 key <psk>`; IKEv2 `pre-shared-key local|remote 6 <psk>`; ASA tunnel groups.
    _rule("isakmp_key", "ios iosxe", "crypto isakmp key",
          rf"^\s*(?:no\s+)?crypto\s+isakmp\s+key\s+(?:\d\s+)?(?P<secret>{_VALUE})"),
    _rule("psk_address_key", "ios iosxe", "pre-shared-key",
          rf"\bpre-shared-key\s+(?:address|hostname)\s+.*?\bkey\s+(?:\d\s+)?(?P<secret>{_VALUE})"),
    _rule("psk", "ios iosxe iosxr nxos asa junos", "pre-shared-key",
          rf"\bpre-shared-key\s+(?!address\b|hostname\b)(?:(?:local|remote|password|ascii-text|hexadecimal|\d)\s+)*"
          rf"(?P<secret>{_VALUE})"),
    # Wireless: `wpa-psk ascii 0 <key>` (autonomous APs), `security wpa psk set-key ascii 0 <key>`
    # (IOS-XE WLC).
    _rule("wpa_psk", "ios iosxe", "wpa-psk", rf"\bwpa-psk\s+(?:ascii|hex)\s+(?:\d\s+)?(?P<secret>{_VALUE})"),
    _rule("wlan_set_key", "ios iosxe", "set-key", rf"\bset-key\s+(?:ascii|hex)\s+(?:\d\s+)?(?P<secret>{_VALUE})"),
    # Key chains (BGP/OSPF/ISIS/EIGRP/HSRP): `key-string 7 <key>`, IOS-XR `key-string password <key>`.
    _rule("key_string", "ios iosxe eos nxos iosxr", "key-string",
          rf"\bkey-string\s+(?:(?:\d|password|clear|encrypted)\s+)?(?P<secret>{_VALUE})"),
    # HSRP/VRRP plain-text authentication.
    _rule("fhrp_text_auth", "ios iosxe nxos eos", "authentication",
          rf"^\s*(?:no\s+)?(?:standby\s+\d+\s+|vrrp\s+\d+\s+(?:ipv4\s+\S+\s+)?)?authentication\s+text\s+(?P<secret>{_VALUE})"),
    _rule("hsrp_auth", "ios iosxe", "standby",
          rf"^\s*(?:no\s+)?standby\s+\d+\s+authentication\s+(?!md5\b|text\b)(?P<secret>{_VALUE})"),
    # EOS IS-IS: `isis authentication key 7 <key>`, `authentication key 0 <key> level-2`.
    _rule("isis_auth_key", "eos", "authentication key",
          rf"\bauthentication\s+key\s+(?:\d\s+)?(?P<secret>{_VALUE})"),
    # TACACS+/RADIUS: `tacacs-server key 7 <key>`, `radius-server host 192.0.2.1 ... key 7 <key>`,
    # NX-OS `key 7 "<key>"`, and the `key` line inside `tacacs server X` / `radius server X`.
    _rule("aaa_server_key", "ios iosxe eos nxos iosxr", "-server",
          rf"^\s*(?:no\s+)?(?:tacacs-server|radius-server)\b.*?\skey\s+(?:\d\s+)?(?P<secret>{_VALUE})"),
    _rule("aaa_server_key_line", "ios iosxe nxos iosxr", "key",
          rf'^\s+(?:no\s+)?key\s+(?:\d+\s+(?P<secret>{_VALUE})|(?!\d+\s*$)(?P<secret2>"[^"\n]*"|[^\s;"]+))\s*$'),
    # `authentication-key`: OSPF interface keys, IOS-XR `authentication-key encrypted <key>`,
    # Junos BGP/IS-IS keys. Not NTP's `authentication-key 1 md5 ...` (ntp_key above).
    _rule("authentication_key", "ios iosxe eos nxos iosxr junos", "authentication-key",
          rf"\bauthentication-key\s+(?!\d+\s+(?:md5|sha\w*|type|cmac)\b){_TYPE}(?P<secret>{_VALUE})"),
    # Passwords and secrets everywhere: `enable secret 9 ...`, `username x password 7 ...`,
    # `neighbor 192.0.2.1 password 7 ...`, NX-OS BGP `password 3 0x...`, IS-IS
    # `area-password`/`lsp-password hmac-md5 encrypted ...`, Junos `encrypted-password "..."`.
    _rule("password", "ios iosxe eos nxos iosxr junos asa", "password",
          rf"(?<![\w-])(?:[a-z]+-)?password\s+{_NOT_A_SECRET}{_TYPE}{_NOT_A_SECRET}(?P<secret>{_VALUE})"),
    _rule("secret", "ios iosxe eos nxos iosxr junos", "secret",
          rf"(?<![\w-])secret\s+{_NOT_A_SECRET}{_TYPE}{_NOT_A_SECRET}(?P<secret>{_VALUE})"),
    _rule("passphrase", "ios iosxe junos", "passphrase", rf"(?<![\w-])passphrase\s+{_TYPE}(?P<secret>{_VALUE})"),
    # Any crypt(3)-style hash or Junos $9$ string left, wherever it stands.
    _rule("hash_token", "ios iosxe eos nxos iosxr junos", "$",
          r'(?P<secret>"?\$(?:1|5|6|7|8|9|y|2[aby]?)\$[^\s";]+"?)'),
)

# Free text (descriptions, remarks, banners' text) is never masked: a description may say
# "password reset VLAN".
_FREE_TEXT = re.compile(r"(?:^|\s)(?:description|remark|alias)\s", re.IGNORECASE)
_XML_SECRET = re.compile(
    r"(?P<open><(?P<tag>(?:[\w.-]+:)?(?:password|secret|community|key|passphrase|key-string|ascii-text|"
    r"pre-shared-key|[\w-]*-password|[\w-]*-key))(?:\s[^>]*)?>)(?P<value>[^<]+)(?P<close></(?P=tag)>)",
    re.IGNORECASE,
)
# Every line a rule (or the XML pattern) can change contains one of these, in lower case.
# Finding them with str.find over the whole text is what keeps a clean 100,000-line config
# cheap: only lines holding a trigger are looked at further.
_TRIGGERS: tuple[str, ...] = tuple(
    sorted({rule.trigger for rule in SECRET_RULES} | {"password", "secret", "community", "key", "passphrase", "ascii-text"})
)
_BLOCK_WORD = re.compile(r"^(\S+)")


def mask_value(line: str, section: str | None = None) -> str:
    """One line (no newline) with its secret tokens masked; ``section`` is the enclosing
    top-level block's first word (for rules that only apply inside one)."""
    free = _FREE_TEXT.search(line)
    head, tail = (line[: free.start()], line[free.start() :]) if free else (line, "")
    lowered = head.lower()
    for rule in SECRET_RULES:
        if rule.trigger in lowered and (rule.section is None or rule.section == section):
            head = rule.apply(head)
            lowered = head.lower()
    return head + tail


def _xml_masker(match: re.Match[str]) -> str:
    return match.group("open") + XML_MASK + match.group("close")


def _hit_lines(lowered: str, starts: list[int]) -> list[int]:
    """Indexes of the lines holding a trigger (``starts``: each line's offset)."""
    found: set[int] = set()
    for trigger in _TRIGGERS:
        at = lowered.find(trigger)
        while at != -1:
            index = bisect_right(starts, at) - 1
            found.add(index)
            end = lowered.find("\n", at)
            if end == -1:
                break
            at = lowered.find(trigger, end)
    return sorted(found)


def mask_secrets(text: str) -> str:
    """``text`` (config lines, a unified diff, XML) with every secret token masked.

    Lines of a unified diff are masked like config lines (their ``+``/``-``/`` `` marker is
    kept). Text without secrets comes back as the same object.
    """
    if not text:
        return text
    lowered = text.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return text
    lines = text.split("\n")
    starts = [0, *accumulate(len(line) + 1 for line in lines[:-1])]
    # A unified diff (difflib's starts with "--- "): each line's first character is its
    # +/-/space marker, not part of the config line.
    is_diff = text.startswith(("--- ", "@@ ")) or "\n@@ " in text
    changed = False
    for index in _hit_lines(lowered, starts):
        line = lines[index]
        prefix, body = "", line
        if is_diff and not line.startswith(("--- ", "+++ ", "@@ ")):
            prefix, body = line[:1], line[1:]
        eol = "\r" if body.endswith("\r") else ""
        body = body[: len(body) - len(eol)]
        if "<" in body and ">" in body:
            body = _XML_SECRET.sub(_xml_masker, body)
        masked = mask_value(body, _section(lines, index, is_diff))
        new = prefix + masked + eol
        if new != line:
            lines[index] = new
            changed = True
    return "\n".join(lines) if changed else text


def _section(lines: list[str], index: int, is_diff: bool) -> str | None:
    """First word of the top-level line whose block holds line ``index``."""
    skip = 1 if is_diff else 0
    for i in range(index, -1, -1):
        body = lines[i][skip:]
        if body[:1] not in (" ", "\t", "") and body.strip():
            word = _BLOCK_WORD.match(body)
            return word.group(1).lower() if word else None
    return None


def mask_tree(value: Any) -> Any:
    """``value`` with :func:`mask_secrets` applied to every string in it (dict values, list
    and tuple items, recursively); dict keys and other types are kept. For result trees."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {key: mask_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_tree(item) for item in value]
    if isinstance(value, tuple):
        return tuple(mask_tree(item) for item in value)
    return value


class MaskingFilter(logging.Filter):
    """A logging filter that masks config secrets in the records of the logger it is on.

    For libraries that log what they send and receive at DEBUG (scrapli's every input line,
    ncclient's every RPC): the record's message is formatted and masked, so every handler sees
    the masked text. A logger's filters run only for records that pass its level, so this
    costs nothing while DEBUG is off.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if "'" in masked or '"' in masked:
            # Libraries log what they send as a repr: "input 'snmp-server community x RO'",
            # several lines joined by a literal backslash-n. Each quoted part is config text.
            masked = _QUOTED.sub(_mask_quoted, masked)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_QUOTED = re.compile(r"(?P<q>['\"])(?P<text>[^'\"\n]*)(?P=q)")


def _mask_quoted(match: re.Match[str]) -> str:
    text = match.group("text")
    parts = [mask_secrets(part) for part in text.replace("\\r", "").split("\\n")]
    return match.group("q") + "\\n".join(parts) + match.group("q")


_FILTER = MaskingFilter()


def mask_logger(logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | str) -> None:
    """Put the :class:`MaskingFilter` on ``logger`` (a name, logger or adapter); once is enough.

    Filters act on records logged on that very logger, not on its children: name the loggers
    a library really logs to.
    """
    target = logging.getLogger(logger) if isinstance(logger, str) else logger
    if isinstance(target, logging.LoggerAdapter):
        target = target.logger
    if _FILTER not in target.filters:
        target.addFilter(_FILTER)


def rules_for(platform: str) -> Iterable[SecretRule]:
    """The rules written for ``platform`` (documentation and tests)."""
    return (rule for rule in SECRET_RULES if platform in rule.platforms)
