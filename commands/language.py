"""The language of the command line: ``--lang``/``CUSTODY_LANG``/``[archive] language``, and
click's help texts shown in it.

Help texts are written once, in English, when the commands are defined; the language is known
only once the command line is read. So each command and option is given a class that looks its
help up in the catalog when click shows it (``translate_help``), instead of every command
module wrapping every text.
"""

from __future__ import annotations

import os
import tomllib
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

import i18n
from i18n.catalogs import help_text


@contextmanager
def _shown(objects: list[object], *attrs: str) -> Iterator[None]:
    """For the time click takes to show them, the help texts of ``objects`` in the language
    in force (the English written in the code is put back after)."""
    saved = [(obj, attr, getattr(obj, attr, None)) for obj in objects for attr in attrs]
    try:
        for obj, attr, text in saved:
            if isinstance(text, str) and text:
                setattr(obj, attr, i18n._(help_text(text)))
        yield
    finally:
        for obj, attr, text in saved:
            setattr(obj, attr, text)


class _TranslatedCommand:
    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _shown([self], "help"):
            super().format_help_text(ctx, formatter)  # type: ignore[misc]

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _shown(list(self.get_params(ctx)), "help"), \
                _shown(_path_types(self), "name"):  # type: ignore[arg-type]
            super().format_options(ctx, formatter)  # type: ignore[misc]

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _shown(_path_types(self), "name"):  # type: ignore[arg-type]
            super().format_usage(ctx, formatter)  # type: ignore[misc]

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # click names a path "file" or "directory" in its refusals ("文件 'x' 不存在。")
        with _shown(_path_types(self), "name"):  # type: ignore[arg-type]
            return super().parse_args(ctx, args)  # type: ignore[misc]

    def get_short_help_str(self, limit: int = 45) -> str:
        """The first sentence, cut to ``limit`` columns: click's own cut knows neither "。"
        nor that a Chinese character takes two columns."""
        with _shown([self], "help", "short_help"):
            text = self.short_help or self.help or ""  # type: ignore[attr-defined]
            if not text or i18n.language() == "en":
                return super().get_short_help_str(limit)  # type: ignore[misc]
        first = help_text(text).split("\n\n", 1)[0].replace("\n", "")
        for end in ("。", "；", "：", ". "):
            if end in first:
                first = first.split(end, 1)[0]
        return _cut(first, limit)


def _width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _cut(text: str, limit: int) -> str:
    if sum(map(_width, text)) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        if used + _width(ch) > limit - 1:
            break
        out.append(ch)
        used += _width(ch)
    return "".join(out) + "…"


_CLASSES: dict[type, type] = {}


def _path_types(command: click.Command) -> list[click.Path]:
    return [p.type for p in command.params if isinstance(p.type, click.Path)]


def _english_path_name(kind: click.Path) -> str:
    """What click calls a path type in English (it translated it once, when the command was
    defined, in whatever language was in force then)."""
    if kind.file_okay and not kind.dir_okay:
        return "file"
    if kind.dir_okay and not kind.file_okay:
        return "directory"
    return "path"


def translate_help(command: click.Command) -> None:
    """Every command and group under ``command`` (and their options) shows its help in the
    language in force when it is shown."""
    cls = type(command)
    if not issubclass(cls, _TranslatedCommand):
        if cls not in _CLASSES:
            _CLASSES[cls] = type(f"Translated{cls.__name__}", (_TranslatedCommand, cls), {})
        command.__class__ = _CLASSES[cls]
        for kind in _path_types(command):
            kind.name = _english_path_name(kind)
    for sub in getattr(command, "commands", {}).values():
        translate_help(sub)


def configured_language(config: str | None) -> str | None:
    """``[archive] language`` of the config file, read on its own so that the language is set
    before anything else is said; a file that cannot be read is reported later, in full, by
    the settings loader."""
    path = config or os.environ.get("CUSTODY_CONFIG")
    if not path:
        return None
    try:
        with Path(path).open("rb") as f:
            value = tomllib.load(f).get("archive", {}).get("language")
    except (OSError, ValueError, AttributeError):  # bad TOML, bad UTF-8: ValueErrors
        return None
    return value if isinstance(value, str) else None


def choose_language(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """--lang (or CUSTODY_LANG) wins; otherwise the config's, read once --config is known."""
    try:
        i18n.use(value)  # None: the default, until the config is read
    except i18n.UnknownLanguage as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
    if value is not None:
        ctx.meta["custody.language"] = i18n.language()


def apply_config_language(ctx: click.Context, config: str | None) -> None:
    if "custody.language" in ctx.meta:
        return
    wanted = configured_language(config)
    if wanted:
        try:
            i18n.use(wanted)
        except i18n.UnknownLanguage:
            pass  # the settings loader refuses it with the file and the key


def startup_language() -> None:
    """Before the command line is read (``custody --help``): CUSTODY_LANG, else Chinese."""
    try:
        i18n.use(os.environ.get("CUSTODY_LANG") or None)
    except i18n.UnknownLanguage:
        i18n.use(None)  # --lang/CUSTODY_LANG is refused by name when the line is read


lang_option = click.option(
    "--lang", envvar="CUSTODY_LANG", callback=choose_language, is_eager=True,
    expose_value=False, metavar="zh_CN|en",
    help="Language of what custody shows and prints: zh_CN (default) or en "
         "(or $CUSTODY_LANG, or [archive] language in the config).")
