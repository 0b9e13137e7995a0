"""QoS specs (Cinder's ``qos-specs``): named sets of I/O limits, associated with volume types.

A volume type carries at most one QoS specs. ``consumer`` says who applies the limits:
``front-end`` (the hypervisor, on each attachment), ``back-end`` (the storage) or ``both``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db.models.volume import VolumeQosSpecs, VolumeType
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.volume.volume_types import VolumeTypes

CONSUMERS = ("front-end", "back-end", "both")


def _specs(values: Mapping[str, object]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 255:
            raise BadRequest(f"Invalid input received: invalid QoS specs key {key!r}.")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or len(str(value)) > 255:
            raise BadRequest(f"Invalid input received: the value of QoS specs key {key} must be a string.")
        out[key] = str(value)
    return out


class QosSpecs:
    def __init__(self, types: VolumeTypes) -> None:
        self.types = types

    def get(self, session: Session, qos_id: str) -> VolumeQosSpecs:
        row = session.get(VolumeQosSpecs, qos_id)
        if row is None:
            raise NotFound(f"QoS Specs {qos_id} could not be found.", code="QoSSpecsNotFound")
        return row

    def all(self, session: Session) -> list[VolumeQosSpecs]:
        return list(session.execute(select(VolumeQosSpecs).order_by(VolumeQosSpecs.created_at.desc())).scalars())

    def create(self, session: Session, body: Mapping[str, object]) -> VolumeQosSpecs:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("Invalid input received: QoS specs name must be a non-empty string.")
        consumer = body.get("consumer", "back-end")
        if consumer not in CONSUMERS:
            raise BadRequest(f"Invalid input received: consumer {consumer} is not one of {', '.join(CONSUMERS)}.")
        if session.execute(select(VolumeQosSpecs.id).where(VolumeQosSpecs.name == name)).first():
            raise Conflict(f"QoS Specs {name} already exists.", code="QoSSpecsExists")
        specs = _specs({k: v for k, v in body.items() if k not in ("name", "consumer")})
        row = VolumeQosSpecs(name=name.strip(), consumer=str(consumer), specs=specs)
        session.add(row)
        session.flush()
        return row

    def set_keys(self, session: Session, qos_id: str, values: Mapping[str, object]) -> dict[str, str]:
        """Add or change keys; ``consumer`` changes the consumer. Returns what was set."""
        row = self.get(session, qos_id)
        values = dict(values)
        if "name" in values:
            raise BadRequest("Invalid input received: the name of a QoS specs cannot be changed.")
        if "consumer" in values:
            consumer = values.pop("consumer")
            if consumer not in CONSUMERS:
                raise BadRequest(f"Invalid input received: consumer {consumer} is not one of {', '.join(CONSUMERS)}.")
            row.consumer = str(consumer)
        changes = _specs(values)
        row.specs = {**(row.specs or {}), **changes}
        session.flush()
        return changes

    def unset_keys(self, session: Session, qos_id: str, keys: Iterable[object]) -> None:
        row = self.get(session, qos_id)
        specs = dict(row.specs or {})
        for key in keys:
            if not isinstance(key, str) or key not in specs:
                raise NotFound(f"QoS spec {key} is not found in QoS Specs {qos_id}.", code="QoSSpecsKeyNotFound")
            del specs[key]
        row.specs = specs
        session.flush()

    def associations(self, session: Session, qos_id: str) -> list[VolumeType]:
        self.get(session, qos_id)
        stmt = select(VolumeType).where(VolumeType.qos_specs_id == qos_id).order_by(VolumeType.name)
        return list(session.execute(stmt).scalars())

    def associate(self, session: Session, qos_id: str, type_id: str | None) -> None:
        self.get(session, qos_id)
        vtype = self._type(session, type_id)
        if vtype.qos_specs_id and vtype.qos_specs_id != qos_id:
            raise BadRequest(
                f"Invalid input received: Type {vtype.id} is already associated with another qos specs: "
                f"{vtype.qos_specs_id}"
            )
        vtype.qos_specs_id = qos_id
        session.flush()

    def disassociate(self, session: Session, qos_id: str, type_id: str | None) -> None:
        self.get(session, qos_id)
        vtype = self._type(session, type_id)
        if vtype.qos_specs_id != qos_id:
            raise BadRequest(f"Invalid input received: Type {vtype.id} is not associated with QoS Specs {qos_id}.")
        vtype.qos_specs_id = None
        session.flush()

    def disassociate_all(self, session: Session, qos_id: str) -> None:
        for vtype in self.associations(session, qos_id):
            vtype.qos_specs_id = None
        session.flush()

    def delete(self, session: Session, qos_id: str, force: bool) -> None:
        row = self.get(session, qos_id)
        in_use = self.associations(session, qos_id)
        if in_use and not force:
            raise BadRequest(f"QoS Specs {qos_id} is still associated with entities.", code="QoSSpecsInUse")
        for vtype in in_use:
            vtype.qos_specs_id = None
        session.delete(row)
        session.flush()

    def _type(self, session: Session, type_id: str | None) -> VolumeType:
        if not type_id:
            raise BadRequest("Invalid input received: vol_type_id is required.")
        return self.types.get(session, type_id)


def front_end_qos(session: Session, type_id: str | None, size_gb: int) -> dict[str, str]:
    """The limits a hypervisor applies to an attachment of a volume of this type: the specs
    of its QoS specs when their consumer is ``front-end`` or ``both``. As Cinder, a
    ``<key>_per_gb`` spec becomes ``<key>`` scaled by the volume's size (at least
    ``<key>_per_gb_min`` when given)."""
    if not type_id:
        return {}
    vtype = session.get(VolumeType, type_id)
    if vtype is None or not vtype.qos_specs_id:
        return {}
    qos = session.get(VolumeQosSpecs, vtype.qos_specs_id)
    if qos is None or qos.consumer not in ("front-end", "both"):
        return {}
    specs = dict(qos.specs or {})
    out = {k: v for k, v in specs.items() if not k.endswith(("_per_gb", "_per_gb_min"))}
    for key, value in specs.items():
        if not key.endswith("_per_gb"):
            continue
        base = key[: -len("_per_gb")]
        try:
            scaled = int(float(value) * size_gb)
            floor = int(float(specs.get(f"{key}_min", 0)))
        except ValueError:
            continue
        out[base] = str(max(scaled, floor))
    return out
