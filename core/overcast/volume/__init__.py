"""The volume service's logic (the HTTP layer is ``overcast.api.volume``).

``service.VolumeService`` is the one interface other services call; it is composed of
small parts: quotas, the backend scheduler, driver calls (direct or through a host's
agent), background tasks, and one module per resource (volumes, snapshots, attachments,
types).
"""
