"""What people read is Chinese by default and English on request, through the gettext
catalogs; the language is custody's setting, never the process locale."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import i18n
from cli import main
from i18n import catalogs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _default_language(monkeypatch):
    monkeypatch.delenv("CUSTODY_LANG", raising=False)
    i18n.use(None)
    yield
    i18n.use("en")


def _help(*args: str, env: dict | None = None) -> str:
    result = CliRunner().invoke(main, [*args, "--help"], env=env, prog_name="custody")
    assert result.exit_code == 0, result.output
    return result.output


def test_every_message_has_its_translation():
    assert catalogs.missing("zh_CN") == []
    assert catalogs.missing("en") == []


def test_the_catalogs_hold_every_message_of_the_code():
    """A help text or message added without running `python -m i18n.catalogs update` (and
    translating it) fails here, naming it."""
    wanted = {m.id for m in catalogs.template() if m.id}
    for lang in i18n.LANGUAGES:
        held = {m.id for m in catalogs.read(lang) if m.id}
        assert sorted(str(i) for i in wanted - held) == [], lang


def test_translations_keep_the_fields_of_their_message():
    """A translation naming other {fields} than its message would fail when shown."""
    for lang in i18n.LANGUAGES:
        assert catalogs.broken_placeholders(lang) == [], lang


def test_a_message_is_shown_in_the_readers_language_and_kept_in_english():
    from archive.domain.errors import ConfigError, InputError

    zh = i18n.translations("zh_CN").gettext
    inner = i18n.Text("unknown key")
    exc = ConfigError("custody.toml", "archive.colour", inner)
    assert exc.message == "custody.toml: archive.colour: unknown key"
    shown = i18n.localize(exc)
    assert zh("unknown key") in shown and zh("unknown key") != "unknown key"
    assert exc.to_dict()["message"] == exc.message and exc.to_dict()["text"] == shown
    i18n.use("en")
    assert i18n.localize(exc) == exc.message
    assert str(InputError("plain text")) == "plain text"


def test_help_is_chinese_by_default():
    out = _help("search")
    assert i18n.translations("zh_CN").gettext("Usage:") in out
    assert "Usage:" not in out
    doc = catalogs.help_text(main.commands["search"].help)
    assert i18n.translations("zh_CN").gettext(doc)[:8] in out
    assert doc not in out


def test_english_on_request_by_option_environment_or_config(tmp_path):
    doc = catalogs.help_text(main.commands["search"].help)
    assert doc.split(",")[0] in _help("--lang", "en", "search")
    assert doc.split(",")[0] in _help("search", env={"CUSTODY_LANG": "en"})
    config = tmp_path / "custody.toml"
    config.write_text('[archive]\nlanguage = "en"\n', encoding="utf-8")
    assert doc.split(",")[0] in _help("--config", str(config), "search")
    # and the next command, without any of them, is Chinese again
    assert "Usage:" not in _help("search")


def test_the_option_wins_over_the_config(tmp_path):
    config = tmp_path / "custody.toml"
    config.write_text('[archive]\nlanguage = "en"\n', encoding="utf-8")
    assert "Usage:" not in _help("--lang", "zh", "--config", str(config), "search")


def test_an_unknown_language_is_refused_by_name(tmp_path):
    result = CliRunner().invoke(main, ["--lang", "fr", "status"])
    assert result.exit_code == 2
    assert "'fr'" in result.output
    config = tmp_path / "custody.toml"
    config.write_text('[archive]\nlanguage = "fr"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "--home", str(tmp_path),
                                       "status"])
    assert result.exit_code == 2
    assert "archive.language" in result.output and "'fr'" in result.output


@pytest.mark.parametrize("locale_env", [
    {"LANG": "en_US.UTF-8", "LC_ALL": "C.UTF-8", "LANGUAGE": "en"},
    {"LANG": "zh_CN.UTF-8", "LANGUAGE": "zh_CN"},
    {},
])
def test_the_process_locale_changes_nothing(locale_env):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE", "CUSTODY_LANG")}
    env.update(locale_env)
    out = subprocess.run([str(Path(sys.executable).parent / "custody"), "ingest", "--help"],
                         cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out == _help("ingest")


def test_click_and_custody_messages_share_one_catalog():
    result = CliRunner().invoke(main, ["search", "--no-such-option"])
    assert result.exit_code == 2
    assert "Error" not in result.output and "Usage" not in result.output
    assert "错误" in result.output and "--no-such-option" in result.output


def test_the_extractor_finds_help_texts_docstrings_and_gettext_calls():
    source = b'''
import click
from i18n import _, N_, ngettext

@click.command()
@click.option("--unit", help="The unit.")
def search(unit):
    """Find items.

    More text.\\f
    Not shown."""
    print(_("no such item {item}"), N_("kept"), ngettext("one file", "{n} files", 2))

def plain():
    """Not a command: not extracted."""
'''
    found = {m for _l, _f, m, _c in catalogs.extract_custody(io.BytesIO(source), None, None,
                                                              {})}
    assert found == {"The unit.", "Find items.\n\nMore text.", "no such item {item}", "kept",
                     ("one file", "{n} files")}
