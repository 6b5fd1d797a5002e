from genja.task import task


@task(name="backup_config", connection_plugin_name="ssh")
class BackupConfig:
    ...
