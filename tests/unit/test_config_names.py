"""Destination names in dailyfetch.toml: tables PostgreSQL would cut are refused, key fields of any length are not."""

from __future__ import annotations

import pytest

from dailyfetch.config_file import parse_config
from dailyfetch.errors import ConfigError

BASE = """
[job]
name = "j"
[source]
kind = "rest"
url = "http://127.0.0.1:1/items"
[destination]
{dest}
"""


def parse(dest: str) -> object:
    return parse_config(BASE.format(dest=dest), source="t.toml", env={})


@pytest.mark.parametrize(("key", "name"), [("table", "таблица" * 6), ("schema", "схема" * 7)])
def test_a_table_or_schema_name_past_63_bytes_is_refused_naming_it(key: str, name: str) -> None:
    """42 Cyrillic letters are 84 bytes: PostgreSQL would cut the name, so the config names the key."""
    dest = f'table = "{name}"' if key == "table" else f'table = "t"\nschema = "{name}"'
    with pytest.raises(ConfigError) as info:
        parse(dest)
    message = str(info.value)
    assert f"destination.{key}" in message and "63 bytes" in message, message


def test_primary_key_fields_of_any_length_are_accepted() -> None:
    """A key field longer than an identifier is fine: its column gets a mapped name."""
    long = "k" * 70 + "ключ" * 10
    config = parse(f'table = "t"\nprimary_key = ["{long}"]')
    assert config.destination.primary_key == [long]  # type: ignore[attr-defined]
