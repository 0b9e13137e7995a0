"""Overcast's QEMU/KVM hypervisor driver (``kvm``), built on libvirt-python.

Modules:

* :mod:`.options`    the driver's config options and their parsed, per-host form;
* :mod:`.errors`     libvirt errors -> Overcast errors, in one place;
* :mod:`.connection` one libvirt connection per URI, reopened when it dies;
* :mod:`.xml`        domain, disk and interface XML (pure functions);
* :mod:`.images`     qemu-img: overlays on cached base images, flattening copies;
* :mod:`.driver`     :class:`KvmDriver`, the ``hv_*`` hook implementations;
* :mod:`.migration`  cold and live migration between libvirt daemons;
* :mod:`.plugin`     the entry point (driver and option registration).
"""

__version__ = "0.1.0"
