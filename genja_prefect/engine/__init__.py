"""The engine: running task trees on hosts, with no knowledge of Prefect.

- :mod:`.loop`: one ``run_tasks`` call, root task by root task, through the runner plugin.
- :mod:`.execution`: one task tree on one host (connections, processors, depth, retries).
- :mod:`.dispatch`: the threaded and serial scheduling the built-in runners use.
- :mod:`.resolver`: the connection cache (``TaskConnectionResolver``).
- :mod:`.bridge`: the event loop that runs async task bodies and plugins.

An orchestrator (the Prefect adapter, :mod:`genja_prefect.prefect`) plugs in through
:class:`~genja_prefect.engine.execution.HostRunHooks` and the loop's root wrapper; the engine
never imports it.
"""
