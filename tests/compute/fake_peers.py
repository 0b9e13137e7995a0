"""Test doubles for the compute service's peers (image, volume), with the interface
documented in ``overcast.compute.peers``. They keep real state and enforce real rules."""

from __future__ import annotations

import os
import threading

from overcast.errors import BadRequest, NotFound
from overcast.types import ConnectionInfo, ImageFile, ImageRef, Port, VifDetails


class FakeImageService:
    """The image service's compute-facing methods (see ``overcast.compute.peers``)."""

    def __init__(self) -> None:
        self.images: dict[str, dict] = {}
        self.lock = threading.Lock()

    def add(self, image_id: str, disk_format: str = "qcow2", owner: str = "", **properties: str) -> ImageRef:
        ref = ImageRef(id=image_id, name=f"img-{image_id[:8]}", disk_format=disk_format, properties=properties)
        self.images[image_id] = {"ref": ref, "owner": owner, "status": "active", "data": b"base"}
        return ref

    def image_ref(self, ctx, image_id: str) -> ImageRef:
        img = self.images.get(image_id)
        if img is None or (img["owner"] and not ctx.can_see(img["owner"])):
            raise NotFound(f"No image found with ID {image_id}")
        if img["status"] != "active":
            raise BadRequest(f"Image {image_id} is not active.")
        return img["ref"]

    def fetch_to_cache(self, image: ImageRef, cache_dir: str, formats, location: str | None = None) -> ImageFile:
        if image.disk_format not in formats:
            raise BadRequest(f"cannot convert {image.disk_format}")
        path = os.path.join(cache_dir, f"{image.id}.{image.disk_format}")
        with open(path, "wb") as f:
            f.write(self.images[image.id]["data"])
        return ImageFile(image=image, path=path, disk_format=image.disk_format)

    def create_snapshot_record(self, ctx, name: str, properties: dict) -> str:
        import uuid

        image_id = str(uuid.uuid4())
        ref = ImageRef(id=image_id, name=name, disk_format="", properties=dict(properties))
        self.images[image_id] = {"ref": ref, "owner": ctx.project_id, "status": "queued", "data": b""}
        return image_id

    def upload_file(self, image_id: str, path: str, disk_format: str) -> None:
        img = self.images[image_id]
        assert img["status"] == "queued"
        with open(path, "rb") as f:
            img["data"] = f.read()
        ref = img["ref"]
        img["ref"] = ImageRef(id=image_id, name=ref.name, disk_format=disk_format, properties=ref.properties)
        img["status"] = "active"

    def discard_image(self, image_id: str) -> None:
        self.images.pop(image_id, None)

    def images_with_properties(self, properties: dict) -> list[str]:
        return [
            i for i, img in self.images.items() if all(img["ref"].properties.get(k) == v for k, v in properties.items())
        ]


class FakeVolumeService:
    """The volume service's attach handshake with Cinder's status rules."""

    def __init__(self) -> None:
        self.volumes: dict[str, dict] = {}
        self.calls: list[str] = []

    def add(self, volume_id: str, project_id: str) -> None:
        self.volumes[volume_id] = {"status": "available", "project": project_id, "server": None}

    def get_volume(self, ctx, volume_id: str) -> dict:
        vol = self.volumes.get(volume_id)
        if vol is None or not ctx.can_see(vol["project"]):
            raise NotFound(f"Volume {volume_id} could not be found.")
        return vol

    def reserve_attach(self, ctx, volume_id: str, instance_uuid: str) -> str:
        vol = self.get_volume(ctx, volume_id)
        if vol["status"] != "available":
            raise BadRequest(f"Invalid volume: Volume {volume_id} status must be available, but it is {vol['status']}")
        vol.update(status="attaching", server=instance_uuid)
        self.calls.append("reserve_attach")
        return f"att-{volume_id}"

    def initialize_connection(self, ctx, volume_id: str, connector, instance_uuid=None) -> ConnectionInfo:
        vol = self.get_volume(ctx, volume_id)
        assert vol["server"] == instance_uuid
        vol["connector"] = connector  # Cinder moves the attachment to the connector's host
        self.calls.append(f"initialize_connection {connector.host}")
        return ConnectionInfo("file", {"path": f"/fake/{volume_id}", "format": "raw", "host": connector.host})

    def attachment_of(self, ctx, volume_id: str, instance_uuid: str):
        from types import SimpleNamespace

        from overcast.db.values import store

        vol = self.get_volume(ctx, volume_id)
        if vol["server"] != instance_uuid:
            return None
        return SimpleNamespace(connector=store(vol["connector"]) if vol.get("connector") else None)

    def complete_attach(self, ctx, volume_id: str, instance_uuid: str, mountpoint: str, host: str) -> None:
        self.get_volume(ctx, volume_id).update(status="in-use", mountpoint=mountpoint)
        self.calls.append("complete_attach")

    def unreserve(self, ctx, volume_id: str, instance_uuid=None) -> None:
        self.get_volume(ctx, volume_id).update(status="available", server=None)

    def begin_detach(self, ctx, volume_id: str, instance_uuid: str) -> None:
        vol = self.get_volume(ctx, volume_id)
        if vol["status"] != "in-use":
            raise BadRequest("Invalid volume: must be in-use to detach")
        vol["status"] = "detaching"

    def roll_detaching(self, ctx, volume_id: str, instance_uuid=None) -> None:
        self.get_volume(ctx, volume_id)["status"] = "in-use"

    def terminate_connection(self, ctx, volume_id: str, connector) -> None:
        self.get_volume(ctx, volume_id)
        self.calls.append(f"terminate_connection {connector.host}")

    def complete_detach(self, ctx, volume_id: str, instance_uuid: str) -> None:
        self.get_volume(ctx, volume_id).update(status="available", server=None)


class FakeNetworkService:
    """Ports on networks, bound as bridge vifs, with fixed IPs from one /24 per network."""

    def __init__(self) -> None:
        self.nets = {"net-1": {"name": "private", "project": "p1"}}
        self.ports: dict[str, dict] = {}
        self.bindings: list[tuple[str, str]] = []

        class _Finder:
            def __init__(self, table):
                self.table = table

            def get(self, ctx, item_id):
                item = self.table.get(item_id)
                if item is None or not ctx.can_see(item["project"]):
                    raise NotFound(f"{item_id} not found")
                return item

        self.networks = _Finder(self.nets)

    def allocate_port_for_instance(
        self, ctx, instance_uuid, host, network_id=None, port_id=None, fixed_ip=None, security_groups=None
    ) -> Port:
        self.networks.get(ctx, network_id)
        pid = f"port-{len(self.ports) + 1}"
        ip = fixed_ip or f"10.0.0.{len(self.ports) + 10}"
        self.ports[pid] = {
            "network": network_id,
            "device": instance_uuid,
            "ip": ip,
            "host": host,
            "security_groups": security_groups,
        }
        return Port(id=pid, network_id=network_id, mac_address="fa:16:3e:00:00:01")

    def bind_port(self, ctx, port_id, host) -> VifDetails:
        self.ports[port_id]["host"] = host
        self.bindings.append((port_id, host))
        return VifDetails(
            vif_type="bridge",
            port_id=port_id,
            mac_address="fa:16:3e:00:00:01",
            network_id=self.ports[port_id]["network"],
            details={"bridge": f"brq-{host}"},
        )

    def get_instance_addresses(self, instance_uuid) -> dict:
        out: dict = {}
        for p in self.ports.values():
            if p["device"] == instance_uuid:
                out.setdefault(self.nets[p["network"]]["name"], []).append({"version": 4, "addr": p["ip"]})
        return out

    def deallocate_ports(self, ctx, instance_uuid) -> None:
        for pid in [k for k, p in self.ports.items() if p["device"] == instance_uuid]:
            del self.ports[pid]
