"""Overcast's ``xen`` hypervisor driver (XenServer / XCP-ng over XAPI)."""
