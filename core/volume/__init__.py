"""The volume service's logic (the HTTP layer is ``overcast.api.volume``)."""
