"""Overcast's QEMU/KVM hypervisor driver (``kvm``), built on libvirt-python.

Modules:

* :mod:`.options`    the driver's config options and their parsed, per-host form;
* :mod:`.errors`     libvirt errors -> Overcast errors, in one place;
* :mod:`.connection` one libvirt connection per URI, reopened when it dies;
* :mod:`.domxml`     domain, disk and interface XML (pure functions);
* :mod:`.images`     qemu-img: overlays on cached base images, flattening copies;
* :mod:`.base`       shared plumbing (lookup, state, domain definition);
* :mod:`.driver`     :class:`KvmDriver`: host, lifecycle, snapshot and console hooks;
* :mod:`.devices`    volume and vif hooks (hot-plug);
* :mod:`.migration`  cold and live migration between libvirt daemons, and their hooks;
* :mod:`.plugin`     the entry point (driver and option registration).
"""

__version__ = "0.1.0"
