"""Device checkpoints for deploy_config's verify-and-roll-back: save the running config on the
device before a change, restore it when verification fails.

The checkpoint lives on the device (a ``flash:`` file, or an NX-OS named checkpoint), so
restoring needs nothing the flow kept in memory and works from a fresh session. Per platform:

========  ==========================================  ==============================================
platform  checkpoint (before the change)              restore (verification failed)
========  ==========================================  ==============================================
ios/iosxe ``copy running-config flash:NAME``          ``configure replace flash:NAME force``
eos       ``copy running-config flash:NAME``          ``configure replace flash:NAME``
nxos      ``checkpoint NAME``                         ``rollback running-config checkpoint NAME``
========  ==========================================  ==============================================

After a good verification the checkpoint is deleted (``delete /force flash:NAME`` on IOS,
``delete flash:NAME`` on EOS, ``no checkpoint NAME`` on NX-OS). On NX-OS the checkpoint is
NX-OS's own (``show checkpoint NAME`` prints it; the name drops the ``.cfg`` suffix of the
file name the other platforms use) and the rollback is NX-OS's atomic default: the whole
patch applies or none of it. IOS-XR and Junos CLI (``commit confirmed``) are not
implemented (deploy_config skips those platforms; ``Checkpoint.for_platform`` raises); for a
confirmed commit over NETCONF see ``NetconfEditConfig(confirmed=True)``. Real IOS asks for
confirmation on ``copy`` unless ``file prompt quiet`` is configured. Example::

    from genja_prefect_flows.rollback import Checkpoint

    checkpoint = Checkpoint.for_platform("eos", "genja-1a2b3c4d.cfg")
    checkpoint.save_command      # 'copy running-config flash:genja-1a2b3c4d.cfg'
    Checkpoint.for_platform("nxos", "genja-1a2b3c4d.cfg").restore_command
    # 'rollback running-config checkpoint genja-1a2b3c4d'
"""

from __future__ import annotations

from dataclasses import dataclass

from genja_prefect_flows.remediation import load

__all__ = ["ROLLBACK_PLATFORMS", "Checkpoint", "same_config"]

#: Platforms with a checkpoint and restore implemented.
ROLLBACK_PLATFORMS = frozenset({"ios", "iosxe", "eos", "nxos"})


@dataclass(frozen=True)
class Checkpoint:
    """The commands that save, show, restore and delete one checkpoint on one platform."""

    name: str
    save_command: str
    show_command: str
    restore_command: str
    delete_command: str
    #: how the user finds it on the device (``flash:NAME``, ``checkpoint NAME``).
    where: str = ""

    def saved_config(self, output: str) -> str:
        """The config text of ``show_command``'s output: NX-OS's ``show checkpoint NAME``
        starts with a dashed line and ``Name: NAME``, which are not configuration."""
        lines = output.splitlines()
        while lines and (not lines[0].strip() or set(lines[0].strip()) == {"-"} or lines[0].startswith("Name: ")):
            lines.pop(0)
        return "\n".join(lines)

    @classmethod
    def for_platform(cls, platform: str | None, name: str) -> Checkpoint:
        """The checkpoint ``name`` on ``platform`` (ValueError naming the supported platforms)."""
        if platform not in ROLLBACK_PLATFORMS:
            raise ValueError(
                f"rollback is implemented for platforms {sorted(ROLLBACK_PLATFORMS)}, not {platform!r}"
            )
        if platform == "nxos":
            # NX-OS names checkpoints, not files.
            name = name.removesuffix(".cfg")
            return cls(
                name=name,
                save_command=f"checkpoint {name}",
                show_command=f"show checkpoint {name}",
                restore_command=f"rollback running-config checkpoint {name}",
                delete_command=f"no checkpoint {name}",
                where=f"checkpoint {name}",
            )
        ios = platform in ("ios", "iosxe")
        return cls(
            name=name,
            save_command=f"copy running-config flash:{name}",
            show_command=f"more flash:{name}",
            restore_command=f"configure replace flash:{name}" + (" force" if ios else ""),
            delete_command=("delete /force " if ios else "delete ") + f"flash:{name}",
            where=f"flash:{name}",
        )


def same_config(platform: str | None, first: str, second: str) -> bool:
    """True when two configs hold the same lines (comments, sizes and banners aside)."""
    return load(platform, first).dump_simple() == load(platform, second).dump_simple()
