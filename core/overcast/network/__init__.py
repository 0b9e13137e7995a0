"""The network service's logic (the HTTP layer is ``overcast.api.network``)."""
