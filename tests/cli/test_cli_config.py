"""Every command built on a config dataclass shows the dataclass's defaults and help (one source of truth)."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest

from synrank.cli.main import app
from synrank.config import default_of, help_of


def _commands():
    groups = [("", app)] + [(f"{g.name} ", g.typer_instance) for g in app.registered_groups]  # e.g. `models pull`
    for prefix, typer_app in groups:
        for info in typer_app.registered_commands:
            fn = info.callback
            cls = getattr(fn, "__synrank_config__", None)
            if cls is not None:
                yield prefix + (info.name or fn.__name__), fn, cls


CONFIG_COMMANDS = list(_commands())


@pytest.mark.parametrize(("name", "fn", "cls"), CONFIG_COMMANDS, ids=[c[0] for c in CONFIG_COMMANDS])
def test_defaults_and_help_come_from_the_config(name, fn, cls):
    fields = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(fn, include_extras=True)
    checked = 0
    for pname, param in inspect.signature(fn).parameters.items():
        if pname not in fields:
            continue
        checked += 1
        if param.default is not inspect.Parameter.empty:
            assert param.default == default_of(cls, pname), f"{name}: option {pname} default differs from {cls.__name__}"
        meta = [m for m in getattr(hints[pname], "__metadata__", ()) if hasattr(m, "help")]
        assert meta, f"{name}: {pname} has no Typer option"
        assert help_of(cls, pname) and help_of(cls, pname) in (meta[0].help or ""), f"{name}: {pname} help is not the config's"
    assert checked, f"{name}: no option maps to a field of {cls.__name__}"
