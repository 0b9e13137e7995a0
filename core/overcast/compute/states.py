"""Nova's state model: ``vm_state`` (what the server is), ``task_state`` (what is being done
to it) and ``power_state`` (what the hypervisor says), and the API ``status`` derived from them.
"""

from __future__ import annotations

from overcast.types import PowerState

# vm_state
BUILDING = "building"
ACTIVE = "active"
STOPPED = "stopped"
PAUSED = "paused"
SUSPENDED = "suspended"
RESIZED = "resized"
ERROR = "error"
DELETED = "deleted"
RESCUED = "rescued"  # issue 18: booted from a rescue image, the original disk second
SHELVED = "shelved"  # issue 18: snapshotted, guest stopped, still on its host
SHELVED_OFFLOADED = "shelved_offloaded"  # issue 18: the host is freed

# task_state
SCHEDULING = "scheduling"
SPAWNING = "spawning"
DELETING = "deleting"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
IMAGE_SNAPSHOT = "image_snapshot"
MIGRATING = "migrating"
RESIZE_PREP = "resize_prep"  # resize / cold migration: scheduling the destination
RESIZE_MIGRATING = "resize_migrating"  # the source stops the guest and hands over its disks
RESIZE_MIGRATED = "resize_migrated"
RESIZE_FINISH = "resize_finish"  # the destination defines (and starts) the guest
RESIZE_CONFIRMING = "resize_confirming"
RESIZE_REVERTING = "resize_reverting"
REBUILDING = "rebuilding"  # evacuate: rebuilt on another host
RESCUING = "rescuing"  # issue 18
UNRESCUING = "unrescuing"
SHELVING = "shelving"
SHELVING_IMAGE_UPLOADING = "shelving_image_uploading"
SHELVING_OFFLOADING = "shelving_offloading"
UNSHELVING = "unshelving"
IMAGE_BACKUP = "image_backup"
ATTACHING_VOLUME = "attaching_volume"  # kept off the server's task_state (Nova does too)

_ACTIVE_TASK_STATUS = {
    REBOOTING: "REBOOT",
    REBOOTING_HARD: "HARD_REBOOT",
    MIGRATING: "MIGRATING",
    RESIZE_PREP: "RESIZE",
    RESIZE_MIGRATING: "RESIZE",
    RESIZE_MIGRATED: "RESIZE",
    RESIZE_FINISH: "RESIZE",
}
#: task states of a resize or cold migration before it reaches VERIFY_RESIZE
RESIZE_TASKS = (RESIZE_PREP, RESIZE_MIGRATING, RESIZE_MIGRATED, RESIZE_FINISH)

_VM_STATUS = {
    BUILDING: "BUILD",
    ACTIVE: "ACTIVE",
    STOPPED: "SHUTOFF",
    PAUSED: "PAUSED",
    SUSPENDED: "SUSPENDED",
    RESIZED: "VERIFY_RESIZE",
    ERROR: "ERROR",
    DELETED: "DELETED",
    RESCUED: "RESCUE",
    SHELVED: "SHELVED",
    SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
}

#: API status -> vm_states it covers (for the ``status`` list filter).
STATUS_VM_STATES: dict[str, tuple[str, ...]] = {}
for _vm, _status in _VM_STATUS.items():
    STATUS_VM_STATES.setdefault(_status, ())
    STATUS_VM_STATES[_status] += (_vm,)

#: Nova's numeric power_state values (``OS-EXT-STS:power_state``).
POWER_STATE_CODES = {
    PowerState.NOSTATE.value: 0,
    PowerState.RUNNING.value: 1,
    PowerState.PAUSED.value: 3,
    PowerState.SHUTDOWN.value: 4,
    PowerState.CRASHED.value: 6,
    PowerState.SUSPENDED.value: 7,
}


def status_of(vm_state: str, task_state: str | None) -> str:
    """The API ``status`` Nova shows for a (vm_state, task_state) pair."""
    if vm_state in (ACTIVE, STOPPED) and (task_state == MIGRATING or task_state in RESIZE_TASKS):
        return _ACTIVE_TASK_STATUS[task_state]
    if vm_state == ACTIVE and task_state in _ACTIVE_TASK_STATUS:
        return _ACTIVE_TASK_STATUS[task_state]
    if vm_state == RESIZED and task_state == RESIZE_REVERTING:
        return "REVERT_RESIZE"
    if task_state == REBUILDING and vm_state in (ACTIVE, STOPPED, ERROR):
        return "REBUILD"
    return _VM_STATUS.get(vm_state, "UNKNOWN")


def vm_state_for_power(power: PowerState | str) -> str:
    """The vm_state a guest in ``power`` state should have once no task runs on it."""
    value = power.value if isinstance(power, PowerState) else power
    return {
        PowerState.RUNNING.value: ACTIVE,
        PowerState.PAUSED.value: PAUSED,
        PowerState.SUSPENDED.value: SUSPENDED,
        PowerState.SHUTDOWN.value: STOPPED,
        PowerState.CRASHED.value: STOPPED,
    }.get(value, ERROR)
