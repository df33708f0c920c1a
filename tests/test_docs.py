"""The generated configuration reference covers the whole schema (docs/hooks)."""

import importlib.util
import json
import re
import typing
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")

from assimilax.experiments import Config  # noqa: E402

HOOK = Path(__file__).parents[1] / "docs" / "hooks" / "config_reference.py"


@pytest.fixture(scope="module")
def hook():
    spec = importlib.util.spec_from_file_location("config_reference", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def section_models(field) -> list:
    return [m for m in _flatten(field.annotation) if hasattr(m, "model_fields")]


def _flatten(annotation) -> list:
    args = typing.get_args(annotation)
    if not args:
        return [annotation]
    return [m for a in args for m in _flatten(a)]


def test_every_key_has_a_description(hook):
    """A key added to the schema without a docstring fails here, not silently in the docs."""
    for section, field in Config.model_fields.items():
        assert field.description, section
        for model in section_models(field):
            for key in model.model_fields:
                assert hook._description(model, key), f"[{section}] {model.__name__}.{key}"


def test_reference_lists_every_section_kind_and_key(hook):
    page = hook.render({"methods/etkf.md"})
    for section, field in Config.model_fields.items():
        assert f"## `[{section}]`" in page
        start = page.index(f"## `[{section}]`")
        end = page.find("\n## ", start + 1)
        body = page[start: end if end > 0 else None]
        if section == "truth":
            assert "same kinds and keys as [`[model]`](#model)" in body
            continue
        models = section_models(field)
        for model in models:
            if len(models) > 1:
                tag = model.tag
                value = model.model_fields[tag].default
                assert f'### `{tag} = "{value}"`' in body
            for key in model.model_fields:
                assert re.search(rf"^\| `{key}` \| \w", body, re.M), (section, key)
    assert "Equations and references: the [ETKF page](methods/etkf.md)." in page
    assert "[LETKF page]" not in page  # only pages that exist are linked


def test_reference_states_types_defaults_and_bounds(hook):
    page = hook.render()
    rows = {
        "| `ensemble_size` | integer | required | ≥ 2 |",
        '| `inflation_kind` | string | `"multiplicative"` | '
        '`"multiplicative"`, `"rtps"`, `"rtpp"` |',
        "| `fraction` | float | required | > 0, ≤ 1 |",
        "| `localization_radius` | float | `4.0` | > 0 |",
        "| `seed` | integer | `0` | ≥ 0, < 2^63 |",
        "| `indices` | list of integers | required | at least 1 item |",
    }
    for row in rows:
        assert row in page, row
    default = Config.default().to_toml()
    assert all(f"    {line}" in page for line in default.splitlines() if line)


def test_json_schema_is_the_models(hook):
    assert json.loads(hook.json_schema()) == Config.model_json_schema()
