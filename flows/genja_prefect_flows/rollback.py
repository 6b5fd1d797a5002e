"""Device checkpoints for deploy_config's verify-and-roll-back: save the running config on the
device before a change, restore it with ``configure replace`` when verification fails.

The checkpoint lives on the device (``flash:``), so restoring needs nothing the flow kept in
memory and works from a fresh session. Per platform:

========  ==========================================  ==========================================
platform  checkpoint (before the change)              restore (verification failed)
========  ==========================================  ==========================================
ios/iosxe ``copy running-config flash:NAME``          ``configure replace flash:NAME force``
eos       ``copy running-config flash:NAME``          ``configure replace flash:NAME``
========  ==========================================  ==========================================

After a good verification the checkpoint is deleted (``delete /force flash:NAME`` on IOS,
``delete flash:NAME`` on EOS). NX-OS (``checkpoint`` / ``rollback running-config``), IOS-XR and
Junos (``commit confirmed``) are not implemented: ``rollback=True`` on them fails before
anything is sent. Real IOS asks for confirmation on ``copy`` unless ``file prompt quiet`` is
configured. Example::

    from genja_prefect_flows.rollback import Checkpoint

    checkpoint = Checkpoint.for_platform("eos", "genja-1a2b3c4d.cfg")
    checkpoint.save_command      # 'copy running-config flash:genja-1a2b3c4d.cfg'
"""

from __future__ import annotations

from dataclasses import dataclass

from genja_prefect_flows.remediation import load

__all__ = ["ROLLBACK_PLATFORMS", "Checkpoint", "same_config"]

#: Platforms with a checkpoint and restore implemented.
ROLLBACK_PLATFORMS = frozenset({"ios", "iosxe", "eos"})


@dataclass(frozen=True)
class Checkpoint:
    """The commands that save, show, restore and delete one checkpoint file on one platform."""

    name: str
    save_command: str
    show_command: str
    restore_command: str
    delete_command: str

    @classmethod
    def for_platform(cls, platform: str | None, name: str) -> Checkpoint:
        """The checkpoint ``name`` on ``platform`` (ValueError naming the supported platforms)."""
        if platform not in ROLLBACK_PLATFORMS:
            raise ValueError(
                f"rollback is implemented for platforms {sorted(ROLLBACK_PLATFORMS)}, not {platform!r}"
            )
        ios = platform in ("ios", "iosxe")
        return cls(
            name=name,
            save_command=f"copy running-config flash:{name}",
            show_command=f"more flash:{name}",
            restore_command=f"configure replace flash:{name}" + (" force" if ios else ""),
            delete_command=("delete /force " if ios else "delete ") + f"flash:{name}",
        )


def same_config(platform: str | None, first: str, second: str) -> bool:
    """True when two configs hold the same lines (comments, sizes and banners aside)."""
    return load(platform, first).dump_simple() == load(platform, second).dump_simple()
