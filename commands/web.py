"""custody web: the web console (issue 15), served by gunicorn on 127.0.0.1 by default;
beyond loopback only over HTTPS ([web] cert and key)."""

from __future__ import annotations

import os
import re

import click

import bootstrap
from archive.domain.errors import ConfigError, InputError
from commands.base import Context, command
from config.settings import check_web, is_loopback
from i18n import N_

_INVITE = re.compile(r"/invite/[^/\s?\"]+")


def redacted(text: str) -> str:
    """A request line without the invite token in it (the access log is read by more
    people than should enroll with it)."""
    return _INVITE.sub("/invite/…", text)


def _serve(app, bind: str, port: int, threads: int, cert: str, key: str) -> None:
    """gunicorn in this process: one worker process (one archive, one journal flush a
    minute) with threads; TLS from the certificate and key."""
    from gunicorn import glogging
    from gunicorn.app.base import BaseApplication

    class Logger(glogging.Logger):
        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            for name in ("r", "U", "{raw_uri}e"):
                if isinstance(atoms.get(name), str):
                    atoms[name] = redacted(atoms[name])
            return atoms

    class Server(BaseApplication):
        def load_config(self) -> None:
            host = f"[{bind}]" if ":" in bind else bind
            options = {"bind": f"{host}:{port}", "workers": 1, "threads": threads,
                       "worker_class": "gthread", "timeout": 120, "graceful_timeout": 20,
                       "accesslog": "-", "errorlog": "-", "proc_name": "custody-web",
                       "limit_request_line": 8190, "forwarded_allow_ips": "127.0.0.1",
                       "control_socket_disable": True, "logger_class": Logger}
            if cert:
                options |= {"certfile": cert, "keyfile": key}
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self):
            return app

    Server().run()


@click.command("web")
@click.option("--bind", help="Address to listen on (default [web] bind, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default [web] port).")
@click.option("--origin", help="The origin browsers use, e.g. https://custody.example:8443 "
                               "(default [web] origin).")
@command
def web(ctx: Context, bind: str | None, port: int | None, origin: str | None) -> int:
    """Serve the web console (passkey sign-in, search, items, access requests)."""
    for option, value in (("--bind", bind), ("--origin", origin)):
        if value is not None and not value.strip():
            raise InputError(N_("{option} is empty: give a value, or leave the option out for "
                                "the configured one"), option=option)
    settings = ctx.settings
    cfg = dict(settings.section("web"))
    cfg |= {k: v for k, v in (("bind", bind), ("port", port), ("origin", origin))
            if v is not None}
    check_web(cfg, "custody web")
    if not is_loopback(cfg["bind"]) and os.geteuid() == 0:
        raise InputError(N_("custody web does not serve beyond loopback ({bind}) as root: run "
                            "it as the non-root service account (see the systemd unit in "
                            "the README)"), bind=cfg["bind"])
    data = dict(settings.data) | {"web": cfg}
    settings = type(settings)(data=data, home=settings.home, files=settings.files)
    for name in ("cert", "key"):
        if cfg[name]:
            try:
                with open(cfg[name], "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(settings.files[-1], f"web.{name}", str(exc)) from exc
    app = bootstrap.console_app(settings)
    console = app.extensions["custody"]
    click.echo(f"custody web: {console.origin} (listening on {cfg['bind']}:{cfg['port']})",
               err=True)
    try:
        _serve(app, cfg["bind"], cfg["port"], cfg["threads"], cfg["cert"], cfg["key"])
    finally:
        console.close()
    return 0


COMMANDS = (web,)
