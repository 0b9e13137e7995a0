"""The objectstore service's logic (the HTTP layer is ``overcast.api.objectstore``)."""
