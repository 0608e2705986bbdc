"""Viewing an item under an approved request: registered, streamed from the WORM store by
version id with its digests checked on the way, never copied to disk."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

from archive import people
from archive.access.requests import _now, find_request_for
from archive.domain.errors import InputError, ProblemFound
from archive.domain.ids import uuid7
from archive.domain.model import iso
from archive.integrity.fixity import StreamDigests
from archive.ledger.chain import Actor
from archive.service import Archive


# --- views ----------------------------------------------------------------------------------
@people.records_refusals("view")
def open_view(archive: Archive, actor: Actor, item_id: str, request_id: str | None,
              how: str) -> tuple[dict, Iterator[bytes]]:
    """Register a view and return (register entry, verified byte stream).

    The stream reads the object from the WORM store by version id and checks size, SHA-256
    and SM3 as it goes; at its end the register entry is completed, and a mismatch raises
    ProblemFound (and is recorded) after the last byte.
    """
    item = archive.item(item_id)
    req = find_request_for(archive, actor, item_id, request_id, "view")
    at = _now()
    entry = {"id": uuid7(), "kind": "view", "at": iso(at), "person": actor.person_id,
             "item": item_id, "request": req["id"], "reason": req["reason"],
             "approved_by": req["decision"]["decision"]["by"], "how": how,
             "unit": item.description.unit, "outcome": "started"}
    led = archive.ledger.append(actor, "access-view", item_id, {
        "request": req["id"], "reason": req["reason"], "how": how, "register": entry["id"]})
    entry["ledger_seq"] = led.seq
    archive.catalog.put_record("access_register", entry["id"], entry)
    obj = item.storage["object"]

    def stream() -> Iterator[bytes]:
        digests = StreamDigests()
        completed = False
        try:
            for chunk in archive.store.read(obj["key"], obj["version_id"]):
                digests.update(chunk)
                yield chunk
            completed = True
        finally:
            got = digests.finish()
            ok = got == item.current.digests
            entry["outcome"] = ("completed" if ok else "digest-mismatch") if completed \
                else "stopped"
            entry["bytes"] = got.size
            entry["ended"] = iso(_now())
            archive.catalog.put_record("access_register", entry["id"], entry)
            if completed and not ok:
                archive.ledger.append(actor, "fixity-failure", item_id, {
                    "during": "view", "read": got.to_dict(),
                    "expected": item.current.digests.to_dict()})
        if not ok:
            raise ProblemFound(f"item {item_id}: the bytes read from the store do not match "
                               "their digests; the view is recorded as failed", subject=item_id)

    return entry, stream()


def _outcome(archive: Archive, entry: dict) -> str:
    """What the access register says became of the view."""
    doc = archive.catalog.get_record("access_register", entry["id"])
    return (doc or entry)["outcome"]


@people.records_refusals("view")
def view_with_player(archive: Archive, actor: Actor, item_id: str, request_id: str | None,
                     argv: list[str]) -> dict:
    """View an item by feeding a player's standard input (``argv``, e.g. ``["mpv", "-"]``);
    returns the register entry, the request, the player's exit status and the outcome."""
    entry, chunks = open_view(archive, actor, item_id, request_id, "player")
    status = pipe_to_player(chunks, argv)
    return {"register": entry["id"], "request": entry["request"], "player_exit": status,
            "outcome": _outcome(archive, entry)}


@people.records_refusals("view")
def view_by_link(archive: Archive, actor: Actor, item_id: str, request_id: str | None,
                 on_ready: Callable[[str], None], timeout: float = 300.0) -> dict:
    """View an item on a one-time 127.0.0.1 link (``on_ready`` is told its URL); returns the
    register entry, the request, whether it was fetched and the outcome."""
    entry, chunks = open_view(archive, actor, item_id, request_id, "link")
    size = archive.item(item_id).current.digests.size
    fetched = serve_once(chunks, on_ready, size, timeout=timeout)
    if not fetched:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return {"register": entry["id"], "request": entry["request"], "fetched": fetched,
            "outcome": _outcome(archive, entry)}


def pipe_to_player(chunks: Iterable[bytes], argv: list[str]) -> int:
    """Feed a player's standard input; returns the player's exit status. A player that
    closes early (the viewer stopped) ends the stream."""
    import subprocess

    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE)
    except OSError as exc:
        raise InputError(f"cannot start the player {argv[0]!r}: {exc}") from exc
    assert proc.stdin is not None
    it = iter(chunks)
    try:
        for chunk in it:
            proc.stdin.write(chunk)
    except BrokenPipeError:
        close = getattr(it, "close", None)
        if close:
            close()
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    return proc.wait()


def serve_once(chunks: Iterable[bytes], on_ready: Callable[[str], None], size: int,
               mime: str = "application/octet-stream", timeout: float = 300.0) -> bool:
    """Serve the bytes once on http://127.0.0.1:<random port>/<random token>; every other
    path gets 404, and the server closes after the one answer (or ``timeout`` seconds).
    Returns True when someone fetched it."""
    import http.server
    import secrets
    import threading

    token = secrets.token_urlsafe(24)
    served = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            if self.path != f"/{token}" or served.is_set():
                self.send_error(404)
                return
            served.set()
            self.send_response(200)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            it = iter(chunks)
            try:
                for chunk in it:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                close = getattr(it, "close", None)
                if close:
                    close()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 1.0
    try:
        on_ready(f"http://127.0.0.1:{server.server_address[1]}/{token}")
        deadline = _now() + timedelta(seconds=timeout)
        while not served.is_set() and _now() < deadline:
            server.handle_request()
    finally:
        server.server_close()
    return served.is_set()


