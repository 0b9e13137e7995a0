"""The image service's logic (the HTTP layer is ``overcast.api.image``)."""
