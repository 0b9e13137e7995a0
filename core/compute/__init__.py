"""The compute service's logic (the HTTP layer is ``overcast.api.compute``)."""
