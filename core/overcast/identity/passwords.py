"""Password and secret hashing with argon2id (``argon2-cffi``), cost from ``[identity]``."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from overcast.config import IdentitySection
from overcast.errors import BadRequest

MAX_PASSWORD_BYTES = 4096  # refuse absurd inputs before spending CPU on them


class Passwords:
    def __init__(self, section: IdentitySection) -> None:
        self.min_length = section.password_min_length
        self.regex = re.compile(section.password_regex) if section.password_regex else None
        self.regex_description = section.password_regex_description
        self._hasher = PasswordHasher(
            time_cost=section.password_hash_time_cost,
            memory_cost=section.password_hash_memory_kib,
            parallelism=1,
        )

    def check_rules(self, password: str) -> None:
        """A new password meets ``[identity] password_min_length`` and ``password_regex``
        (Keystone's ``PasswordValidationError``: 400, with the regex's description)."""
        if len(password) < self.min_length:
            raise BadRequest(
                "Password validation error: The password does not meet the requirements: "
                f"it must be at least {self.min_length} characters long."
            )
        if self.regex is not None and not self.regex.match(password):
            detail = self.regex_description or f"it must match {self.regex.pattern}"
            raise BadRequest(f"Password validation error: The password does not meet the requirements: {detail}.")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches. A missing hash never matches, but still costs one
        hash, so timing does not tell whether the user has a password."""
        if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
            return False
        if not stored_hash:
            self._hasher.hash(password)
            return False
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
