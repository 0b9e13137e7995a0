"""The fake drivers pass every contract suite (which also tests the suites themselves)."""

from __future__ import annotations

import pytest

from overcast.plugins import DriverCaller, PluginManager
from overcast.testing.contract import (
    BackupContract,
    HypervisorContract,
    ImageStoreContract,
    LoadBalancerContract,
    NetworkContract,
    ObjectStoreContract,
    VolumeContract,
)
from overcast.types import Backend, DriverKind, Host


class TestFakeHypervisor(HypervisorContract):
    @pytest.fixture
    def driver(self, overcast_pm: PluginManager) -> DriverCaller:
        return overcast_pm.driver(DriverKind.HYPERVISOR, "fake")

    @pytest.fixture
    def target(self) -> Host:
        return Host(name="fake1", driver="fake")


class TestFakeVolumes(VolumeContract):
    @pytest.fixture
    def driver(self, overcast_pm: PluginManager) -> DriverCaller:
        return overcast_pm.driver(DriverKind.VOLUME, "fake")

    @pytest.fixture
    def target(self) -> Backend:
        return Backend(DriverKind.VOLUME, "fake", "fake")


class TestFakeNetwork(NetworkContract):
    @pytest.fixture
    def driver(self, overcast_pm: PluginManager) -> DriverCaller:
        return overcast_pm.driver(DriverKind.NETWORK, "fake")

    @pytest.fixture
    def target(self) -> Backend:
        return Backend(DriverKind.NETWORK, "network", "fake")


class TestFakeImageStore(ImageStoreContract):
    @pytest.fixture
    def driver(self, overcast_pm: PluginManager) -> DriverCaller:
        return overcast_pm.driver(DriverKind.IMAGE_STORE, "fake")

    @pytest.fixture
    def target(self) -> Backend:
        return Backend(DriverKind.IMAGE_STORE, "image_store", "fake")


class TestFakeObjectStore(ObjectStoreContract):
    @pytest.fixture
    def driver(self, overcast_pm: PluginManager) -> DriverCaller:
        return overcast_pm.driver(DriverKind.OBJECT_STORE, "fake")

    @pytest.fixture
    def target(self) -> Backend:
        return Backend(DriverKind.OBJECT_STORE, "object_store", "fake")


class TestFakeBackupTarget(BackupContract):
    @pytest.fixture
    def driver(self, overcast_pm: PluginManager) -> DriverCaller:
        return overcast_pm.driver(DriverKind.BACKUP, "fake")

    @pytest.fixture
    def target(self) -> Backend:
        return Backend(DriverKind.BACKUP, "backup", "fake")


class TestFakeLoadBalancer(LoadBalancerContract):
    @pytest.fixture
    def driver(self, overcast_pm: PluginManager) -> DriverCaller:
        return overcast_pm.driver(DriverKind.LOADBALANCER, "fake")

    @pytest.fixture
    def target(self) -> Backend:
        return Backend(DriverKind.LOADBALANCER, "loadbalancer", "fake")
