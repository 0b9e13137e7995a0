"""Overcast's ``esx`` hypervisor driver (vCenter / ESXi over pyvmomi)."""
