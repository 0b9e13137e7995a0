"""The hypervisor driver contract (``hv_*``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.errors import Conflict, NotFound, OvercastError
from overcast.hookspecs import HypervisorDriver
from overcast.testing.contract._common import check_refuses_unimplemented, needs
from overcast.types import (
    Flavor,
    Host,
    HostResources,
    HvCapabilities,
    ImageFile,
    ImageRef,
    Instance,
    InstanceInfo,
    PowerState,
    SnapshotResult,
)


class HypervisorContract:
    """Provide ``driver`` and ``target`` (a :class:`Host`); optionally override
    ``image_file`` (an :class:`ImageFile` the host can boot; ``None`` boots without one),
    ``flavor`` and ``power_off_timeout``."""

    power_off_timeout = 0

    @pytest.fixture
    def image_file(self) -> ImageFile | None:
        return None

    @pytest.fixture
    def flavor(self) -> Flavor:
        return Flavor(id="contract", name="contract.tiny", vcpus=1, memory_mb=256, root_gb=1)

    @pytest.fixture
    def instance(
        self, driver: HypervisorDriver, target: Host, flavor: Flavor, image_file: ImageFile | None
    ) -> Iterator[Instance]:
        """A spawned guest, destroyed (with its disks) after the test."""
        needs(driver, "spawn", "destroy")
        driver.init_host(host=target) if driver.supports("init_host") else None
        uid = str(uuid.uuid4())
        inst = Instance(
            uuid=uid,
            name=f"oc-{uid}",
            display_name="contract <guest>",
            project_id="contract-project",
            flavor=flavor,
            image=image_file.image if image_file else None,
            host=target.name,
        )
        info = driver.spawn(host=target, instance=inst, image=image_file, network_info=[], block_devices=[])
        assert isinstance(info, InstanceInfo)
        try:
            yield inst
        finally:
            driver.destroy(host=target, instance=inst, destroy_disks=True)

    # --- host -----------------------------------------------------------------------------

    def test_capabilities_are_data(self, driver: HypervisorDriver, target: Host) -> None:
        needs(driver, "get_capabilities")
        caps = driver.get_capabilities(host=target)
        assert isinstance(caps, HvCapabilities)
        assert caps.hypervisor_type
        assert caps.image_types, "a host must boot at least one disk format"
        assert all(isinstance(t, str) for t in caps.image_types | caps.volume_connection_types | caps.vif_types)

    def test_resources(self, driver: HypervisorDriver, target: Host) -> None:
        needs(driver, "get_available_resource")
        res = driver.get_available_resource(host=target)
        assert isinstance(res, HostResources)
        assert res.vcpus > 0 and res.memory_mb > 0
        assert 0 <= res.vcpus_used and 0 <= res.memory_mb_used

    def test_unimplemented_operations_are_refused_before_the_call(self, driver: HypervisorDriver) -> None:
        check_refuses_unimplemented(driver)

    # --- lifecycle --------------------------------------------------------------------------

    def test_spawn_lists_and_reports_running(self, driver: HypervisorDriver, target: Host, instance: Instance) -> None:
        assert driver.get_info(host=target, instance=instance).state == PowerState.RUNNING
        if driver.supports("list_instances"):
            assert instance.name in driver.list_instances(host=target)

    def test_destroy_removes_and_is_idempotent(
        self, driver: HypervisorDriver, target: Host, instance: Instance
    ) -> None:
        assert driver.destroy(host=target, instance=instance, destroy_disks=True) is True
        with pytest.raises(NotFound):
            driver.get_info(host=target, instance=instance)
        if driver.supports("list_instances"):
            assert instance.name not in driver.list_instances(host=target)
        assert driver.destroy(host=target, instance=instance, destroy_disks=True) is True

    def test_get_info_of_unknown_guest_is_not_found(
        self, driver: HypervisorDriver, target: Host, flavor: Flavor
    ) -> None:
        needs(driver, "get_info")
        ghost = Instance(
            uuid="00000000-0000-0000-0000-000000000000",
            name="oc-ghost",
            display_name="ghost",
            project_id="p",
            flavor=flavor,
        )
        with pytest.raises(NotFound):
            driver.get_info(host=target, instance=ghost)

    def test_power_off_and_on(self, driver: HypervisorDriver, target: Host, instance: Instance) -> None:
        needs(driver, "power_off", "power_on")
        assert (
            driver.power_off(host=target, instance=instance, timeout=self.power_off_timeout, retry_interval=1) is True
        )
        assert driver.get_info(host=target, instance=instance).state == PowerState.SHUTDOWN
        assert driver.power_on(host=target, instance=instance) is True
        assert driver.get_info(host=target, instance=instance).state == PowerState.RUNNING

    def test_pause_and_unpause(self, driver: HypervisorDriver, target: Host, instance: Instance) -> None:
        needs(driver, "pause", "unpause")
        driver.pause(host=target, instance=instance)
        assert driver.get_info(host=target, instance=instance).state == PowerState.PAUSED
        driver.unpause(host=target, instance=instance)
        assert driver.get_info(host=target, instance=instance).state == PowerState.RUNNING

    def test_suspend_and_resume(self, driver: HypervisorDriver, target: Host, instance: Instance) -> None:
        needs(driver, "suspend", "resume")
        driver.suspend(host=target, instance=instance)
        assert driver.get_info(host=target, instance=instance).state in (PowerState.SUSPENDED, PowerState.SHUTDOWN)
        driver.resume(host=target, instance=instance)
        assert driver.get_info(host=target, instance=instance).state == PowerState.RUNNING

    def test_reboot_keeps_it_running(self, driver: HypervisorDriver, target: Host, instance: Instance) -> None:
        needs(driver, "reboot")
        assert driver.reboot(host=target, instance=instance, hard=True) is True
        assert driver.get_info(host=target, instance=instance).state == PowerState.RUNNING

    def test_wrong_state_is_an_overcast_error(self, driver: HypervisorDriver, target: Host, instance: Instance) -> None:
        needs(driver, "power_off", "pause")
        driver.power_off(host=target, instance=instance, timeout=0, retry_interval=1)
        with pytest.raises(OvercastError) as err:
            driver.pause(host=target, instance=instance)
        assert isinstance(err.value, (Conflict, OvercastError)) and str(err.value)

    def test_console_output_is_text(self, driver: HypervisorDriver, target: Host, instance: Instance) -> None:
        needs(driver, "get_console_output")
        out = driver.get_console_output(host=target, instance=instance, length=None)
        assert isinstance(out, str)

    def test_snapshot_produces_a_standalone_file(
        self, driver: HypervisorDriver, target: Host, instance: Instance
    ) -> None:
        needs(driver, "snapshot")
        result = driver.snapshot(host=target, instance=instance, image_name="contract-snap")
        assert isinstance(result, SnapshotResult)
        try:
            assert os.path.getsize(result.path) > 0
            assert result.disk_format
        finally:
            if result.cleanup and os.path.exists(result.path):
                os.unlink(result.path)

    def test_rescue_and_unrescue(
        self, driver: HypervisorDriver, target: Host, instance: Instance, image_file: ImageFile | None, tmp_path: Any
    ) -> None:
        """Issue 18: rescue boots a rescue guest (running), a second rescue is refused, unrescue
        brings the guest back (running), a second unrescue is refused."""
        needs(driver, "rescue", "unrescue")
        if image_file is None:  # a driver that reads no image data: a small raw file will do
            path = tmp_path / "rescue.raw"
            path.write_bytes(bytes(1024 * 1024))
            image_file = ImageFile(
                image=ImageRef(id=str(uuid.uuid4()), name="rescue", disk_format="raw"),
                path=str(path),
                disk_format="raw",
            )
        info = driver.rescue(host=target, instance=instance, image=image_file)
        assert isinstance(info, InstanceInfo) and info.state == PowerState.RUNNING
        with pytest.raises(Conflict):
            driver.rescue(host=target, instance=instance, image=image_file)
        info = driver.unrescue(host=target, instance=instance)
        assert info.state == PowerState.RUNNING
        assert driver.get_info(host=target, instance=instance).state == PowerState.RUNNING
        with pytest.raises(Conflict):
            driver.unrescue(host=target, instance=instance)

    def test_volume_connector_describes_the_host(self, driver: HypervisorDriver, target: Host) -> None:
        needs(driver, "get_volume_connector")
        connector = driver.get_volume_connector(host=target)
        assert connector.host
        if driver.supports("get_capabilities"):
            caps = driver.get_capabilities(host=target)
            assert (
                set(connector.connection_types) <= set(caps.volume_connection_types) or not caps.volume_connection_types
            )
