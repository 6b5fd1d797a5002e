"""ncclient plugin: registration, platform handlers, XML normalization, TICK. No network."""

from __future__ import annotations

from collections.abc import Iterator

import ncclient.transport.session as nc_session
import pytest
from lxml import etree
from ncclient.transport.errors import AuthenticationError, SSHError, SSHUnknownHostError

from genja_prefect import PluginManager
from genja_prefect.connection import AmbiguousPluginError
from genja_prefect.resolution import resolve_connection_plugin
from genja_prefect_ncclient import NcclientPlugin, NetconfCandidate, NetconfEdit, NetconfGet, lower_ncclient_tick
from genja_prefect_ncclient.options import handler_for, parse_extras
from genja_prefect_ncclient.plugin import BASE_NS, _classify, _config_element, _filter

SYS_NS = "urn:ietf:params:xml:ns:yang:ietf-system"


def test_installed_through_the_entry_point(plugin_manager: PluginManager) -> None:
    plugin = plugin_manager.get("connection", "ncclient")
    assert isinstance(plugin, NcclientPlugin)
    for platform in ("netconf", "junos", "iosxe", "eos"):
        assert resolve_connection_plugin(platform, "netconf", plugin_manager=plugin_manager) is plugin
    # The generic platform has one plugin whatever the type; ios needs a type (or a default).
    assert resolve_connection_plugin("netconf", plugin_manager=plugin_manager) is plugin
    assert resolve_connection_plugin("ios", "ssh", plugin_manager=plugin_manager).name == "scrapli"
    with pytest.raises(AmbiguousPluginError):
        resolve_connection_plugin("ios", plugin_manager=plugin_manager)
    # No "*": platforms without a NETCONF mapping are not silently claimed.
    assert "*" not in plugin.__genja_connection__.platforms
    assert set(plugin.__genja_connection__.capabilities) == {NetconfGet, NetconfEdit, NetconfCandidate}


@pytest.mark.parametrize(
    ("platform", "handler"),
    [("netconf", "default"), ("junos", "junos"), ("ios", "iosxe"), ("iosxe", "iosxe"), ("eos", "default"),
     ("nxos", "nexus"), ("iosxr", "iosxr"), ("default", "default"), ("csr", "csr"), ("something", "default")],
)
def test_platform_maps_to_an_ncclient_device_handler(platform: str, handler: str) -> None:
    assert handler_for(platform, parse_extras({})) == handler


def test_extras_pick_the_handler_and_reject_typos() -> None:
    assert handler_for("ios", parse_extras({"device_handler": "csr"})) == "csr"
    with pytest.raises(ValueError, match="unknown ncclient device handler 'cisco'"):
        handler_for("ios", parse_extras({"device_handler": "cisco"}))
    with pytest.raises(ValueError, match="key 'hostkey_verfiy'"):
        parse_extras({"hostkey_verfiy": False})
    extras = parse_extras({})
    assert extras.hostkey_verify is True and extras.ncclient_tick == 0.005


def test_config_is_put_into_the_netconf_config_element() -> None:
    body = f'<system xmlns="{SYS_NS}"><location>A</location></system>'
    for given in (body, f"<config>{body}</config>", f'<config xmlns="{BASE_NS}">{body}</config>',
                  etree.fromstring(body)):
        element = _config_element(given)
        assert element.tag == f"{{{BASE_NS}}}config"
        (system,) = list(element)
        assert system.tag == f"{{{SYS_NS}}}system" and system.findtext(f"{{{SYS_NS}}}location") == "A"


def test_filters_are_subtree_unless_already_a_filter() -> None:
    kind, element = _filter(f'<system xmlns="{SYS_NS}"/>')
    assert kind == "subtree" and element.tag == f"{{{SYS_NS}}}system"
    as_filter = _filter(f'<filter type="subtree"><system xmlns="{SYS_NS}"/></filter>')
    assert etree.QName(as_filter).localname == "filter"
    assert _filter(("xpath", "/system")) == ("xpath", "/system")
    assert _filter(None) is None


@pytest.fixture
def tick() -> Iterator[None]:
    saved = nc_session.TICK
    yield
    nc_session.TICK = saved


def test_tick_is_only_ever_lowered(tick: None) -> None:
    nc_session.TICK = 0.1
    assert lower_ncclient_tick(None) == 0.1  # opted out: untouched
    assert lower_ncclient_tick(0.005) == 0.005
    assert lower_ncclient_tick(0.05) == 0.005  # another host's larger value does not raise it
    assert nc_session.TICK == 0.005


@pytest.mark.parametrize(
    ("exc", "kind", "retryable"),
    [
        (AuthenticationError("Authentication failed."), "authentication", False),
        (SSHUnknownHostError("127.0.0.1", "aa:bb"), "authentication", False),
        (SSHError("Negotiation failed: Error reading SSH protocol banner"), "connection", True),
        (TimeoutError("timed out"), "timeout", True),
    ],
)
def test_open_failures_are_classified(exc: Exception, kind: str, retryable: bool) -> None:
    got_kind, got_retryable, _ = _classify(exc)
    assert (got_kind.value, got_retryable) == (kind, retryable)
