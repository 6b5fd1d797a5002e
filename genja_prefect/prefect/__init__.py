"""The Prefect adapter: the only part of genja-prefect that imports Prefect.

- :mod:`.flows`: a ``run_tasks`` call as a flow run, a subflow per root task (``run_with_prefect``).
- :mod:`.task_runs` and :mod:`.events`: host executions recorded as Prefect task runs.
- :mod:`.subflows`: root-task subflow runs created through the API.
- :mod:`.naming`: names of runs, task runs, tags and artifact keys.
- :mod:`.artifacts`: the per-root-task table and summary (written and read back).
- :mod:`.history`: reading a past run back (``genja-prefect rerun``).
- :mod:`.dask`: host executions on a Dask cluster through prefect-dask.
- :mod:`.secret_blocks`: ``{prefect_secret: NAME}`` secret values.
- :mod:`.server`: settings that make a Prefect server ingest host runs fast.
- :mod:`.doctor`: ``genja-prefect doctor``, checks of a user's server (API, schedules, workers,
  versions).
- :mod:`.blocks`: the ``GenjaInventory`` and ``DeviceCredentials`` blocks (the module the
  ``prefect.collections`` entry point names, so Prefect lists them in its Blocks catalogue).
"""
