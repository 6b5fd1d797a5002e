"""Ready-made network jobs for genja-prefect: genja tasks plus a Prefect flow for each.

=======================  ================================  ==========================================
flow                     genja task(s)                     what it does
=======================  ================================  ==========================================
``collect_facts``        :class:`CollectFacts`             version, model, serial, uptime per host
``backup_configs``       :class:`BackupConfig`             running config to one file per host, diff
``deploy_config``        :class:`DeployConfig`,            Jinja2 template -> dry-run diff, or apply
                         :class:`VerifyConfig`             and read back
``netconf_get_config``   :class:`NetconfGetConfig`         NETCONF <get-config>
``netconf_edit_config``  :class:`NetconfEditConfig`        NETCONF <edit-config> (candidate + commit)
``run_commands``         :class:`RunCommands`              show commands per platform, parsed (TextFSM)
=======================  ================================  ==========================================

Every flow takes ``settings`` (the path of settings.yaml, never a secret), ``filter`` (a keyword
filter such as ``{"platform": "ios"}``), ``workers`` and ``runner``, plus its own parameters,
and returns the result tree as a dict. Example::

    from genja_prefect_flows import collect_facts

    tree = collect_facts(settings="lab/settings.yaml", filter={"platform": "eos"})

Every job needs the ``devices`` extra (scrapli, ncclient, ntc-templates, lxml). This package
imports its modules on first use, so that a base install can still list the jobs and say what
to install: :func:`load_job` raises :class:`MissingExtraError` ("install
genja-prefect[devices] to run collect_facts") instead of an ImportError from deep inside.
"""

from __future__ import annotations

import importlib
from typing import Any

#: The extra every ready-made job needs.
JOB_EXTRA = "devices"

#: The top-level modules that extra installs (checked without importing them: a job's device
#: libraries are imported only when it connects, after its run has started).
JOB_EXTRA_MODULES = ("scrapli", "ncclient", "ntc_templates", "netutils", "lxml")


def missing_extra_module() -> str | None:
    """The first module of the jobs' extra that is not installed, or None."""
    import importlib.util

    for name in JOB_EXTRA_MODULES:
        if importlib.util.find_spec(name) is None:
            return name
    return None

#: job name -> (module, flow function); the names ``genja-prefect run JOB`` knows.
JOB_MODULES: dict[str, tuple[str, str]] = {
    "collect_facts": ("genja_prefect_flows.facts", "collect_facts"),
    "backup_configs": ("genja_prefect_flows.backup", "backup_configs"),
    "deploy_config": ("genja_prefect_flows.deploy", "deploy_config"),
    "netconf_get_config": ("genja_prefect_flows.netconf", "netconf_get_config"),
    "netconf_edit_config": ("genja_prefect_flows.netconf", "netconf_edit_config"),
    "run_commands": ("genja_prefect_flows.commands", "run_commands"),
}

# public name -> module defining it (imported on first access: PEP 562)
_EXPORTS: dict[str, str] = {
    "BackupConfig": "backup",
    "atomic_write": "backup",
    "backup_configs": "backup",
    "backup_path": "backup",
    "FlowParameterError": "common",
    "build_runtime": "common",
    "DeployConfig": "deploy",
    "VerifyConfig": "deploy",
    "deploy_config": "deploy",
    "CollectFacts": "facts",
    "collect_facts": "facts",
    "BackupGitError": "gitrepo",
    "commit_backups": "gitrepo",
    "NetconfEditConfig": "netconf",
    "NetconfGetConfig": "netconf",
    "NetconfXmlError": "netconf",
    "netconf_edit_config": "netconf",
    "netconf_get_config": "netconf",
    "RunCommands": "commands",
    "run_commands": "commands",
    "ConfigTemplate": "templates",
    "JOB_SPECS": "jobs",
    "JobSpec": "jobs",
    "backup_configs_job": "backup",
    "collect_facts_job": "facts",
    "deploy_config_job": "deploy",
    "netconf_edit_config_job": "netconf",
    "netconf_get_config_job": "netconf",
    "run_commands_job": "commands",
    "TemplateError": "templates",
    "TemplateNotFoundError": "templates",
}


class MissingExtraError(ImportError):
    """A ready-made job's dependencies are not installed; the message names the extra."""


class UnknownJobError(LookupError):
    """No ready-made job of that name; the message lists the jobs."""


def load_job(name: str) -> Any:
    """The flow of job ``name``.

    Raises :class:`UnknownJobError` for a name that is no job and :class:`MissingExtraError`
    ("install genja-prefect[devices] to run collect_facts (missing Python package 'scrapli')")
    when the job's extra is not installed.
    """
    if name not in JOB_MODULES:
        raise UnknownJobError(f"unknown job '{name}' (ready-made jobs: {', '.join(sorted(JOB_MODULES))})")
    module_name, attribute = JOB_MODULES[name]
    missing = missing_extra_module()
    if missing is not None:
        raise MissingExtraError(f"install genja-prefect[{JOB_EXTRA}] to run {name} (missing Python package {missing!r})")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("genja_prefect_flows", "genja_prefect"):
            raise  # our own module missing is a packaging bug, not a missing extra
        raise MissingExtraError(
            f"install genja-prefect[{JOB_EXTRA}] to run {name} (missing Python package {exc.name!r})"
        ) from exc
    return getattr(module, attribute)


def available_jobs() -> dict[str, Any]:
    """The jobs whose dependencies are installed, by job name."""
    jobs = {}
    for name in JOB_MODULES:
        try:
            jobs[name] = load_job(name)
        except MissingExtraError:
            continue
    return jobs


def __getattr__(name: str) -> Any:
    if name == "JOBS":  # the flows by job name, as ``genja-prefect run JOB`` knows them
        return {job: load_job(job) for job in JOB_MODULES}
    if name == "FLOWS":  # the flows by Prefect flow name, for deployments and ``flow.serve()``
        return {job.replace("_", "-"): load_job(job) for job in JOB_MODULES}
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genja_prefect_flows' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"genja_prefect_flows.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, "JOBS", "FLOWS"])


__all__ = [
    "FLOWS",
    "JOBS",
    "JOB_EXTRA",
    "JOB_MODULES",
    "MissingExtraError",
    "UnknownJobError",
    "available_jobs",
    "load_job",
    *sorted(_EXPORTS),
]
