"""custody: the command line. The entry point only: global options and the command groups,
which live in ``commands/`` by topic; each command parses, calls one service, renders.

Exit codes (DESIGN.md): 0 success, 1 a problem found, 2 bad usage or input, 3 a required
service unavailable.
"""

from __future__ import annotations

import click

from commands import (
    access,
    audit,
    copies,
    cycle,
    documents,
    ingest,
    items,
    jobs,
    people,
    reports,
    retention,
    scanner,
    setup,
    web,
)
from commands.base import Context
from commands.language import (
    apply_config_language,
    lang_option,
    startup_language,
    translate_help,
)

startup_language()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), envvar="CUSTODY_CONFIG",
              help="Policy file over the defaults (or $CUSTODY_CONFIG).")
@click.option("--home", type=click.Path(file_okay=False), envvar="CUSTODY_HOME",
              help="Data home (or $CUSTODY_HOME; default ~/.local/share/custody).")
@lang_option
@click.version_option(package_name="custody")
@click.pass_context
def main(ctx: click.Context, config: str | None, home: str | None) -> None:
    """custody: a write-once archive for law-enforcement records."""
    apply_config_language(ctx, config)
    ctx.obj = Context(config, home)


for _module in (setup, ingest, items, audit, people, scanner, retention, cycle, access, copies,
                reports, documents, jobs, web):
    for _command in _module.COMMANDS:
        main.add_command(_command)
translate_help(main)


if __name__ == "__main__":
    main()
