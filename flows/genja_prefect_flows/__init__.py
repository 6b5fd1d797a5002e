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
=======================  ================================  ==========================================

Every flow takes ``settings`` (the path of settings.yaml, never a secret), ``filter`` (a keyword
filter such as ``{"platform": "ios"}``), ``workers`` and ``runner``, plus its own parameters,
and returns the result tree as a dict. Example::

    from genja_prefect_flows import collect_facts

    tree = collect_facts(settings="lab/settings.yaml", filter={"platform": "eos"})
"""

from typing import TYPE_CHECKING, Any

from genja_prefect_flows.backup import BackupConfig, atomic_write, backup_configs_job, backup_path
from genja_prefect_flows.common import FlowParameterError, build_runtime
from genja_prefect_flows.deploy import DeployConfig, VerifyConfig, deploy_config_job
from genja_prefect_flows.facts import CollectFacts, collect_facts_job
from genja_prefect_flows.gitrepo import BackupGitError, commit_backups
from genja_prefect_flows.jobs import JOB_SPECS, JobSpec
from genja_prefect_flows.netconf import (
    NetconfEditConfig,
    NetconfGetConfig,
    NetconfXmlError,
    netconf_edit_config_job,
    netconf_get_config_job,
)
from genja_prefect_flows.templates import ConfigTemplate, TemplateError, TemplateNotFoundError

if TYPE_CHECKING:
    from genja_prefect_flows.backup import backup_configs
    from genja_prefect_flows.deploy import deploy_config
    from genja_prefect_flows.facts import collect_facts
    from genja_prefect_flows.netconf import netconf_edit_config, netconf_get_config


def __getattr__(name: str) -> Any:
    # The flows, and the JOBS / FLOWS tables of them, are made on first use: they import
    # Prefect, which a run without it (``genja-prefect run JOB --no-prefect``) never needs.
    if name in JOB_SPECS:
        return JOB_SPECS[name].flow()
    if name == "JOBS":
        #: The flows by job name, as ``genja-prefect run JOB`` knows them.
        return {job: spec.flow() for job, spec in JOB_SPECS.items()}
    if name == "FLOWS":
        #: The flows by Prefect flow name, for deployments and ``flow.serve()``.
        return {spec.flow_name: spec.flow() for spec in JOB_SPECS.values()}
    raise AttributeError(f"module 'genja_prefect_flows' has no attribute {name!r}")


__all__ = [
    "FLOWS",
    "JOBS",
    "BackupConfig",
    "BackupGitError",
    "CollectFacts",
    "ConfigTemplate",
    "DeployConfig",
    "FlowParameterError",
    "JOB_SPECS",
    "JobSpec",
    "NetconfEditConfig",
    "NetconfGetConfig",
    "NetconfXmlError",
    "TemplateError",
    "TemplateNotFoundError",
    "VerifyConfig",
    "atomic_write",
    "backup_configs",
    "backup_configs_job",
    "backup_path",
    "build_runtime",
    "collect_facts",
    "collect_facts_job",
    "commit_backups",
    "deploy_config",
    "deploy_config_job",
    "netconf_edit_config",
    "netconf_edit_config_job",
    "netconf_get_config",
    "netconf_get_config_job",
]
