from .conftest import boot, wait_status


def test_boot_and_delete(compute, ctx, flavor, fake_drivers):
    rec = boot(compute, ctx, flavor)
    assert rec.host in ("fake1", "fake2")
    assert rec.hv_name in fake_drivers.hypervisor.guests[rec.host]
    compute.delete_server(ctx, rec.uuid)
    wait_status(compute, ctx, rec.uuid, "DELETED")
    assert rec.hv_name not in fake_drivers.hypervisor.guests[rec.host]
