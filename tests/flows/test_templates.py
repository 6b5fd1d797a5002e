"""Unit tests: Jinja2 config templates (paths, inline text, host data, clear errors)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from genja_prefect.task import Host
from genja_prefect_flows.templates import ConfigTemplate, TemplateError, TemplateNotFoundError, TemplateRenderError

HOST = Host(id="r1", hostname="127.0.0.1", platform="eos", data={"site": "lab", "ntp": ["192.0.2.1", "192.0.2.2"]})


def test_inline_template_sees_host_data_and_variables() -> None:
    template = ConfigTemplate(
        "hostname {{ host.id }}-{{ data.site }}\n{% for s in host['ntp'] %}ntp server {{ s }}\n{% endfor %}"
        "logging host {{ syslog }}\n",
        variables={"syslog": "192.0.2.50"},
    )
    assert template.render(HOST) == (
        "hostname r1-lab\nntp server 192.0.2.1\nntp server 192.0.2.2\nlogging host 192.0.2.50\n"
    )


def test_file_template_with_include(tmp_path: Path) -> None:
    (tmp_path / "ntp.j2").write_text("ntp server {{ vars.ntp }}\n")
    (tmp_path / "main.j2").write_text("{% include 'ntp.j2' %}hostname {{ host.id }}\n")
    template = ConfigTemplate(str(tmp_path / "main.j2"), {"ntp": "192.0.2.9"})
    assert template.render(HOST) == "ntp server 192.0.2.9\nhostname r1\n"
    assert template.name == str(tmp_path / "main.j2")


def test_missing_template_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "ntp.j2"
    with pytest.raises(TemplateNotFoundError, match=str(missing)):
        ConfigTemplate(str(missing))
    with pytest.raises(TemplateNotFoundError, match="ntp.j2"):
        ConfigTemplate(missing)


def test_single_line_command_is_template_text() -> None:
    assert ConfigTemplate("ntp server 192.0.2.1").render(HOST) == "ntp server 192.0.2.1"


def test_undefined_variable_names_host_and_variable() -> None:
    with pytest.raises(TemplateRenderError, match=r"<string> for host r1: 'vlan' is undefined"):
        ConfigTemplate("vlan {{ vlan }}\n").render(HOST)


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.j2"
    path.write_text("ok\n{% for x in %}\n")
    with pytest.raises(TemplateError, match=r"bad.j2, line 2"):
        ConfigTemplate(path)


def test_sandbox_blocks_python_internals() -> None:
    with pytest.raises(TemplateRenderError):
        ConfigTemplate("{{ ''.__class__.__mro__[1].__subclasses__() }}").render(HOST)


def test_reserved_variable_names() -> None:
    with pytest.raises(TemplateError, match="host"):
        ConfigTemplate("x {{ host }}", variables={"host": "a"})


def test_pickles_and_renders_after() -> None:
    template = pickle.loads(pickle.dumps(ConfigTemplate("ntp server {{ s }}\n", {"s": "192.0.2.1"})))
    assert template.render(HOST) == "ntp server 192.0.2.1\n"
