"""Every command is built from its config dataclass: flags <-> fields <-> defaults <-> help <-> docs/cli.md.

The builder (``synrank.cli.options.config_command``) is checked twice: on a toy config written here, where
every spelling rule has a hand-written expectation, and on every real command, where each field must have
exactly one option with the field's default and help, and no option may exist that is not a field except
the command-only switches listed below.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from synrank.cli.main import app
from synrank.cli.options import config_command
from synrank.config import STAGES, default_of, help_of, setting
from synrank.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

# Options that are not settings: they choose what the command does (list, preview, join) rather than how.
SWITCHES = {
    "generate": {"inputs", "list_templates", "dry_run", "merge"},
}
EXCLUDED = {"generate": {"input"}}  # given by the `inputs` argument (which --merge also reads)
COMMON = {"config", "print_config", "help"}


def _commands():
    root = get_command(app)
    for name, cmd in root.commands.items():
        if hasattr(cmd, "commands"):  # a group (`models`)
            for sub, subcmd in cmd.commands.items():
                yield sub, f"{name} {sub}", subcmd
        else:
            yield name, name, cmd


def _config_of(cmd):
    return getattr(cmd.callback, "__synrank_config__", None)


CONFIG_COMMANDS = [(key, label, cmd) for key, label, cmd in _commands() if _config_of(cmd) is not None]


def test_every_stage_a_recipe_may_hold_is_a_command_built_from_its_config():
    assert sorted(key for key, _, _ in CONFIG_COMMANDS) == sorted(STAGES)


@pytest.mark.parametrize(("key", "label", "cmd"), CONFIG_COMMANDS, ids=[c[1] for c in CONFIG_COMMANDS])
def test_options_are_the_config_fields(key, label, cmd):
    cls = _config_of(cmd)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in EXCLUDED.get(key, set())}
    params = {p.name: p for p in cmd.params}
    assert set(params) - COMMON - SWITCHES.get(key, set()) == set(fields), f"{label}: options differ from {cls.__name__}'s fields"
    for name, field in fields.items():
        p = params[name]
        meta = field.metadata
        if meta.get("positional"):
            assert p.param_type_name == "argument", f"{label}: {name} should be an argument"
        else:
            assert p.param_type_name == "option", f"{label}: {name} should be an option"
            assert (meta.get("flag") or "--" + name.replace("_", "-")) in p.opts
            if meta.get("short"):
                assert meta["short"] in p.opts
        try:
            expected = default_of(cls, name)
        except KeyError:
            assert p.default is None, f"{label}: {name} has no default in {cls.__name__}"  # checked after --config
            continue
        got = p.default
        if isinstance(expected, list):
            got = list(got or [])
        assert got == expected or (isinstance(expected, Path) and Path(got) == expected), f"{label}: {name} default"
        if p.param_type_name == "option":
            assert help_of(cls, name) in p.help, f"{label}: {name} help is not the config's"


def test_docs_cli_md_is_generated_from_these_commands(tmp_path):
    """docs/cli.md is exactly what `make docs` writes today (re-run it when a setting changes)."""
    out = tmp_path / "cli.md"
    subprocess.run(
        [sys.executable, "-m", "typer", "synrank.cli.main", "utils", "docs", "--name", "synrank",
         "--title", "synrank command reference", "--output", str(out)],
        check=True, capture_output=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert out.read_text(encoding="utf-8") == (REPO / "docs" / "cli.md").read_text(encoding="utf-8"), "run `make docs`"


# --- the builder on a config written here ------------------------------------------------------------


@dataclasses.dataclass
class ToyConfig:
    source: str = setting(help="What to read.", positional=True)
    out: Path = setting(help="Where to write.", short="-o")
    folder: Path | None = setting(None, help="A folder to write.", folder=True)
    level: int = setting(3, help="How much.", choices=(1, 2, 3))
    samples: int = setting(10, help="Resamples.", flag="--bootstrap")
    shuffle: bool = setting(True, help="Shuffle first.")
    verbose: bool = setting(False, help="Say more.", short="-v")
    names: list[str] = setting(default_factory=list, help="Names; repeatable.")

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ConfigError("must be at least 1", setting="samples")


@pytest.fixture
def toy():
    seen = {}
    toy_app = typer.Typer()

    @config_command(toy_app, "toy", ToyConfig)
    def toy_cmd(settings, dry: bool = typer.Option(False, "--dry", help="Do nothing.")):
        """A toy stage."""
        seen["cfg"] = ToyConfig(**settings)
        seen["dry"] = dry

    @toy_app.callback()
    def _root():  # a group, so the command is invoked by name as in synrank
        pass

    def run(*args):
        seen.clear()
        result = CliRunner().invoke(toy_app, ["toy", *args])
        return result, seen

    return run


def test_builder_spells_each_setting_as_its_metadata_says(toy):
    result, seen = toy("in.txt", "-o", "o.txt", "--bootstrap", "5", "--no-shuffle", "-v", "--names", "a", "--names", "b", "--dry")
    assert result.exit_code == 0, result.output
    assert seen["cfg"] == ToyConfig(source="in.txt", out=Path("o.txt"), samples=5, shuffle=False, verbose=True, names=["a", "b"])
    assert seen["dry"] is True


def test_builder_defaults_required_and_choices(toy):
    result, seen = toy("in.txt", "--out", "o.txt")
    assert result.exit_code == 0, result.output
    assert seen["cfg"] == ToyConfig(source="in.txt", out=Path("o.txt"))
    missing = toy("in.txt")[0]
    assert missing.exit_code == 2 and "Missing option '--out' / '-o'" in missing.output  # no default: required
    assert "Missing argument" in toy("-o", "o.txt")[0].output
    help_text = toy("--help")[0].output
    assert "How much. One of: 1, 2, 3." in " ".join(help_text.split())
    assert "--samples" not in help_text and "--bootstrap" in help_text


def test_builder_refuses_a_file_output_named_like_a_folder(toy, tmp_path):
    result, _ = toy("in.txt", "-o", f"{tmp_path}/new/")
    assert result.exit_code != 0
    result, seen = toy("in.txt", "-o", "o.txt", "--folder", f"{tmp_path}/new/")  # a folder output may end in "/"
    assert result.exit_code == 0, result.output


def test_builder_names_the_flag_in_errors(toy):
    result, _ = toy("in.txt", "-o", "o.txt", "--bootstrap", "0")
    assert isinstance(result.exception, ConfigError)
    assert result.exception.one_line(flags=True) == "--bootstrap: must be at least 1"


def test_builder_reads_a_settings_file_and_flags_win(toy, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("out: from-file.txt\nsamples: 7\nlevel: 2\n", encoding="utf-8")
    result, seen = toy("in.txt", "--config", str(recipe), "--level", "1")  # the required --out from the file
    assert result.exit_code == 0, result.output
    assert (seen["cfg"].out, seen["cfg"].samples, seen["cfg"].level) == (Path("from-file.txt"), 7, 1)
