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
"""

from genja_prefect_flows.backup import BackupConfig, atomic_write, backup_configs, backup_path
from genja_prefect_flows.commands import RunCommands, run_commands
from genja_prefect_flows.common import FlowParameterError, build_runtime
from genja_prefect_flows.deploy import DeployConfig, VerifyConfig, deploy_config
from genja_prefect_flows.facts import CollectFacts, collect_facts
from genja_prefect_flows.gitrepo import BackupGitError, commit_backups
from genja_prefect_flows.netconf import (
    NetconfEditConfig,
    NetconfGetConfig,
    NetconfXmlError,
    netconf_edit_config,
    netconf_get_config,
)
from genja_prefect_flows.templates import ConfigTemplate, TemplateError, TemplateNotFoundError

#: The flows by job name, as ``genja-prefect run JOB`` knows them.
JOBS = {
    "collect_facts": collect_facts,
    "backup_configs": backup_configs,
    "deploy_config": deploy_config,
    "netconf_get_config": netconf_get_config,
    "netconf_edit_config": netconf_edit_config,
    "run_commands": run_commands,
}

#: The flows by Prefect flow name, for deployments and ``flow.serve()``.
FLOWS = {
    "collect-facts": collect_facts,
    "backup-configs": backup_configs,
    "deploy-config": deploy_config,
    "netconf-get-config": netconf_get_config,
    "netconf-edit-config": netconf_edit_config,
    "run-commands": run_commands,
}

__all__ = [
    "FLOWS",
    "JOBS",
    "BackupConfig",
    "BackupGitError",
    "CollectFacts",
    "ConfigTemplate",
    "DeployConfig",
    "FlowParameterError",
    "NetconfEditConfig",
    "NetconfGetConfig",
    "NetconfXmlError",
    "RunCommands",
    "TemplateError",
    "TemplateNotFoundError",
    "VerifyConfig",
    "atomic_write",
    "backup_configs",
    "backup_path",
    "build_runtime",
    "collect_facts",
    "commit_backups",
    "deploy_config",
    "netconf_edit_config",
    "netconf_get_config",
    "run_commands",
]
