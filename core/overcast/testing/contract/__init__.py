"""Contract test suites, one per driver kind.

A driver package (ours or a vendor's) runs the suite for its kind against its own backend by
subclassing it in a test module and providing two fixtures::

    from overcast.testing.contract import VolumeContract

    class TestMyVolumes(VolumeContract):
        @pytest.fixture
        def driver(self, my_pm):          # typed VolumeHooks: pm.driver("volume", "mine")
            return my_pm.driver("volume", "mine")

        @pytest.fixture
        def target(self, tmp_path):       # the Backend (or Host) the hooks act on
            return Backend(DriverKind.VOLUME, "b1", "mine", {"path": str(tmp_path)})

Tests for operations the driver does not implement are skipped ("capability"), and the
suite checks that such operations are refused before any call.
"""

from overcast.testing.contract.backup import BackupContract
from overcast.testing.contract.hypervisor import HypervisorContract
from overcast.testing.contract.image_store import ImageStoreContract
from overcast.testing.contract.loadbalancer import LoadBalancerContract
from overcast.testing.contract.network import NetworkContract
from overcast.testing.contract.object_store import ObjectStoreContract
from overcast.testing.contract.volume import VolumeContract

# --- orchestration ---
from overcast.testing.contract.resource_type import ResourceTypeContract  # noqa: E402

__all__ = [
    "BackupContract",
    "HypervisorContract",
    "ImageStoreContract",
    "LoadBalancerContract",
    "NetworkContract",
    "ObjectStoreContract",
    "VolumeContract",
]
__all__ += ["ResourceTypeContract"]
