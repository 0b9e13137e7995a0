"""Overcast's ``hyperv`` hypervisor driver (Hyper-V over WinRM / PowerShell)."""
