"""Overcast's LVM volume driver (``[volume_backends.NAME] driver = "lvm"``)."""
