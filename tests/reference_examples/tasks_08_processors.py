from genja.task import task


@task(name="backup_config", processors=["audit"])
class BackupConfig:
    ...
