"""Generated passwords never begin with a dash (a CLI would read them as an option)."""

from __future__ import annotations

from overcast.passwords import new_password


def test_generated_passwords_are_random_url_safe_and_never_begin_with_a_dash() -> None:
    seen = {new_password() for _ in range(2000)}  # one token in 64 begins with "-"
    assert len(seen) == 2000
    assert not any(p.startswith("-") for p in seen)
    assert all(len(p) == 22 and p.replace("-", "").replace("_", "").isalnum() for p in seen)
    assert len(new_password(9)) == 12
