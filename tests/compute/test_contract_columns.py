"""Contract values in database columns are decoded by their declared types, never by tags.

The server's ``flavor`` and ``image`` columns, a port's ``vif``, a volume attachment's
``connection_info``, a migration's ``data`` and a host's ``capabilities`` hold values of
``overcast.types``. User data lands inside some of them (flavor extra specs, image
properties), so a key named ``__type__`` there must stay data: with the old ``from_dict``
reader, a flavor extra spec ``{"__type__": "Host"}`` made rebuilding the hosts' usage fail.
Rows written with the old tags still read.
"""

from __future__ import annotations

from typing import Any

from overcast.compute.hoststate import reported_capabilities
from overcast.compute.records import flavor_snapshot, image_snapshot, instance_of
from overcast.db.models.compute import BlockDeviceMapping, InstanceRecord, MigrationRecord
from overcast.db.values import load, store
from overcast.types import ConnectionInfo, HvCapabilities, MigrationData, VifDetails, to_dict

from .conftest import boot, wait_status
from .fake_peers import FakeNetworkService

TAG = {"__type__": "Host"}


def test_user_data_named_like_a_type_tag_round_trips(compute: Any, ctx: Any, admin_ctx: Any) -> None:
    images = compute.runtime.service("image")
    image = images.add("22222222-3333-4444-5555-666666666666", __type__="Host")
    flavor = compute.flavors.create(admin_ctx, {"name": "tagged", "vcpus": 1, "ram": 512, "disk": 1})
    compute.flavors.set_extra_specs(admin_ctx, flavor.id, dict(TAG))
    compute.runtime._services["network"] = FakeNetworkService()
    volumes = compute.runtime.service("volume")
    volumes.add("vol-t", "p1")

    server = boot(compute, ctx, flavor, metadata=dict(TAG), imageRef=image.id, networks=[{"uuid": "net-1"}])
    compute.volumes.attach(ctx, server.uuid, "vol-t")

    with compute.runtime.db.session() as s:
        rec = s.get(InstanceRecord, server.uuid)
        instance = instance_of(rec)
        assert dict(instance.metadata) == TAG
        assert dict(flavor_snapshot(rec).extra_specs) == TAG
        snapshot = image_snapshot(rec)
        assert snapshot is not None and dict(snapshot.properties) == TAG
        assert "__type__" not in rec.flavor and "__type__" not in rec.image  # stored without tags
        bdm = s.query(BlockDeviceMapping).filter_by(instance_uuid=server.uuid).one()
        assert isinstance(load(ConnectionInfo, bdm.connection_info), ConnectionInfo)
        caps = reported_capabilities(s, rec.host)
        assert isinstance(caps, HvCapabilities) and caps.hypervisor_type == "fake"
    [vif] = compute.tasks.vifs_of(server.uuid)
    assert isinstance(vif, VifDetails) and vif.port_id == "port-1"
    compute.hosts.recompute_usage()  # reads every server's stored flavor

    compute.live_migrate(admin_ctx, server.uuid)  # stores and reads MigrationData
    moved = wait_status(compute, ctx, server.uuid, "ACTIVE")
    assert moved.host != server.host
    with compute.runtime.db.session() as s:
        mig = s.query(MigrationRecord).filter_by(instance_uuid=server.uuid).one()
        assert isinstance(load(MigrationData, mig.data), MigrationData)
    shown = compute.get_server(ctx, server.uuid)
    assert dict(shown.metadata_) == TAG and shown.vm_state == "active"


def test_rows_written_with_the_old_tags_still_read() -> None:
    caps = HvCapabilities("kvm", frozenset({"qcow2", "raw"}), live_migration=True)
    vif = VifDetails(vif_type="bridge", port_id="p", mac_address="fa:16:3e:00:00:01", network_id="n", details=dict(TAG))
    data = MigrationData("a", "b", data={"disk": "/x"})
    for value in (caps, vif, data):
        legacy = to_dict(value)
        assert legacy["__type__"] == type(value).__name__
        assert load(type(value), legacy) == value  # the tag is ignored like any unknown key
        assert load(type(value), store(value)) == value
        assert "__type__" not in store(value)
    assert load(VifDetails, store(vif)).details == TAG  # user data keeps the key
