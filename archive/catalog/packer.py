"""A batch's records, packed on the machine's other core.

Writing a large batch (a rebuild's 50,000 items) the catalog spends about a quarter of its time
in Python building each item's record and writing it as JSON (``Item.to_record``,
``packing.dump``), and a fifth of the rest compressing it. Python runs one thread at a time,
so a second thread cannot take that work off the one inserting rows (measured before: a
thread building the records made a batch slower, 7,648 against 9,519 items/s at a million;
only compressing, which releases the GIL, gained on a thread). A second process can.
For a large batch a child is forked: it holds the batch as the parent does (the pages are
shared until written), packs the records a chunk at a time, and sends them back in order,
while the parent checks the batch, finds its names and inserts its rows. The records are the
same bytes as the parent would make (``pack_chunk`` in both).

Nothing depends on the child: if it cannot be started, dies, or fails on an item, the parent
packs whatever it has not received itself, and an item that cannot be packed fails there as
it always did. The child ignores Ctrl-C and prints nothing; the parent ends it on any way
out.

Measured (benchmarks/README.md, "Issue 17, 2026-12-03 (third session)"): a million items in
random order, 9,369 items/s with the records packed in the parent (a thread compressing)
and ... with the child.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
from multiprocessing.connection import Connection

from archive.catalog import packing
from archive.domain.model import Item

_END = None  # in the queue of received chunks: the child sends no more


def pack_chunk(items: list[Item]) -> list[bytes]:
    """The items' records, packed: what the catalog stores in each row."""
    return packing.compress_many([packing.dump(i.to_record()) for i in items])


def _child(items: list[Item], chunk: int, conn: Connection) -> None:
    # Ctrl-C reaches the whole process group: the parent decides, and ends the child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for n in range(0, len(items), chunk):
            conn.send(pack_chunk(items[n:n + chunk]))
    except BaseException:  # noqa: BLE001 - the parent packs the rest, and meets the error
        pass
    finally:
        conn.close()


class Packer:
    """The packed records of ``items``, ``chunk`` at a time and in order (``next``). Use as a
    context manager: leaving it ends the child, whichever way it is left."""

    def __init__(self, items: list[Item], chunk: int, *, fork_items: int) -> None:
        """A batch of ``fork_items`` or more is packed in a child: forking a process that
        holds a large batch costs some 50 ms, the time of a thousand records."""
        self.items, self.chunk = items, chunk
        self.taken = 0  # chunks handed out
        self.from_child = 0  # of which the child packed
        self._process: multiprocessing.process.BaseProcess | None = None
        if len(items) >= fork_items:
            self._start()

    def _start(self) -> None:
        ctx = multiprocessing.get_context("fork")
        conn, child_end = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_child, args=(self.items, self.chunk, child_end),
                              name="custody-catalog-packer", daemon=True)
        try:
            process.start()
        except OSError:  # no memory or no process to spare: packed here, as a small batch
            conn.close()
            child_end.close()
            return
        child_end.close()
        self._conn, self._process = conn, process
        self._received: queue.SimpleQueue = queue.SimpleQueue()
        # drained as the child sends, so it never waits for the parent to want a chunk:
        # it runs ahead while the parent checks the batch and commits it
        self._reader = threading.Thread(target=self._drain, name="custody-packer-reader",
                                        daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        chunks = -(-len(self.items) // self.chunk)
        try:
            for _ in range(chunks):
                self._received.put(self._conn.recv())
        except (EOFError, OSError):
            pass
        self._received.put(_END)

    @property
    def forked(self) -> bool:
        return self._process is not None

    def next(self) -> list[bytes]:
        """The next chunk's packed records."""
        n = self.taken * self.chunk
        self.taken += 1
        if self._process is not None:
            got = self._received.get()
            if got is not _END:
                self.from_child += 1
                return got
            self._stop()
        return pack_chunk(self.items[n:n + self.chunk])

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.join()
        self._reader.join()  # the child's end is closed with it: the reader ends
        self._conn.close()

    def __enter__(self) -> Packer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._stop()
