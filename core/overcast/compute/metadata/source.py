"""Gathering a server's metadata (:class:`~.content.GuestMetadata`) from the compute
records, the key pair and the network service."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from sqlalchemy import select

from overcast.compute.metadata.content import GuestAddress, GuestLink, GuestMetadata, KeyPair
from overcast.compute.peers import optional_service
from overcast.db.models.compute import InstanceRecord, KeyPairRecord

log = logging.getLogger(__name__)


def _user_data(rec: InstanceRecord) -> bytes | None:
    if not rec.user_data:
        return None
    try:
        return base64.b64decode(rec.user_data)
    except (binascii.Error, ValueError):  # the API validated it; a row edited by hand
        log.warning("user data of %s is not base64; not served", rec.uuid)
        return None


def _links(runtime: Any, uuid: str) -> tuple[GuestLink, ...]:
    network = optional_service(runtime, "network")
    if network is None:
        return ()
    return tuple(
        GuestLink(
            port_id=p.id,
            network_id=p.network_id,
            mac_address=p.mac_address,
            mtu=p.mtu,
            vif_type=p.vif_type,
            addresses=tuple(
                GuestAddress(
                    address=address,
                    cidr=sub.cidr,
                    gateway_ip=sub.gateway_ip,
                    enable_dhcp=sub.enable_dhcp,
                    dns_nameservers=sub.dns_nameservers,
                    host_routes=sub.host_routes,
                )
                for address, sub in p.fixed_ips
            ),
            floating_ips=p.floating_ips,
        )
        for p in network.guest_ports(uuid)
    )


def guest_metadata(runtime: Any, rec: InstanceRecord) -> GuestMetadata:
    """The metadata of the server ``rec`` (a row of the caller's session)."""
    key = None
    if rec.key_data:
        with runtime.db.session() as s:
            kp = s.scalars(
                select(KeyPairRecord).where(KeyPairRecord.user_id == rec.user_id, KeyPairRecord.name == rec.key_name)
            ).first()
            key_type = kp.type if kp is not None and kp.public_key == rec.key_data else "ssh"
        key = KeyPair(name=rec.key_name or "default", public_key=rec.key_data.strip(), type=key_type)
    section = runtime.config.metadata
    return GuestMetadata(
        uuid=rec.uuid,
        name=rec.name,
        project_id=rec.project_id,
        availability_zone=rec.availability_zone or "",
        image_id=rec.image_ref or "",
        flavor_name=str((rec.flavor or {}).get("name", "")),
        reservation_id=rec.reservation_id or "",
        meta=dict(rec.metadata_ or {}),
        key=key,
        user_data=_user_data(rec),
        links=_links(runtime, rec.uuid),
        vendor_data=dict(section.vendor_data),
        vendor_data2=dict(section.vendor_data2),
    )


def load(runtime: Any, uuid: str) -> GuestMetadata | None:
    """The metadata of a live server, or ``None`` (deleted or unknown)."""
    with runtime.db.session() as s:
        rec = s.get(InstanceRecord, uuid)
        if rec is None or rec.deleted:
            return None
        s.expunge(rec)
    return guest_metadata(runtime, rec)
