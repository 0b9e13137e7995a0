"""The identity service's logic (the HTTP layer is ``overcast.api.identity``)."""
