"""The identity service's logic (the HTTP layer is ``overcast.api.identity``).

* ``service``: :class:`~overcast.identity.service.IdentityService`, what everyone calls;
* ``tokens`` / ``keys``: Fernet tokens with a compact binary payload, and the Keystone-style
  key repository (staged 0, primary = highest, secondaries) that ``overcast keys rotate``
  rotates;
* ``auth``: password, token (re-scope) and application-credential authentication;
* ``validation`` / ``revocation`` / ``cache``: token validation with short-lived caches that
  every process drops when the shared identity generation moves (revocations, role or user
  changes), so a revocation applies on the next validation everywhere;
* ``directory`` / ``assignments`` / ``appcreds``: the resources and their rules;
* ``passwords``: argon2id with the cost from ``[identity]``; ``catalog``: the endpoints.

An ``admin`` role on any project makes a caller admin everywhere (Keystone's classic
behaviour); ``member`` and ``reader`` are limited to their token's project.
"""
