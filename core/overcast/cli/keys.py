"""``overcast keys``: the Fernet key repository that signs tokens."""

from __future__ import annotations

import click

from overcast.cli.output import config_option
from overcast.config import load_config
from overcast.identity.keys import KeyRepository
from overcast.identity.service import keys_dir


def _repository(config_path: str | None) -> KeyRepository:
    config = load_config(config_path)
    return KeyRepository(keys_dir(config), config.identity.max_active_keys)


@click.group("keys")
def keys_group() -> None:
    """Token signing keys (Fernet): staged 0, primary = highest, the rest secondary."""


@keys_group.command("rotate")
@config_option
def keys_rotate(config_path: str | None) -> None:
    """Promote the staged key to primary, stage a new key, retire the oldest beyond
    [identity] max_active_keys. Running servers pick the change up within a second;
    tokens signed by a retired key stop validating."""
    repo = _repository(config_path)
    primary = repo.rotate()
    click.echo(f"rotated {repo.directory}: primary key {primary}, keys {repo.key_numbers()}")


@keys_group.command("list")
@config_option
def keys_list(config_path: str | None) -> None:
    """The key files and their roles."""
    repo = _repository(config_path)
    numbers = repo.key_numbers()
    if not numbers:
        raise click.ClickException(f"{repo.directory}: no keys (run 'overcast init')")
    primary = max(numbers)
    for n in sorted(numbers, reverse=True):
        role = "staged" if n == 0 else "primary" if n == primary else "secondary"
        click.echo(f"{n}\t{role}")


COMMANDS = [keys_group]
