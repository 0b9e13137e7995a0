"""A request body received straight into page-aligned blocks, for a consumer thread.

The HTTP parser hands a body over as ``bytes`` parts it copies out of the read buffer, and a
store that writes past the page cache (``O_DIRECT``) then copies each part again into an
aligned buffer: two copies of every byte in user space, the first of them in the event loop
(with the GIL held). For a large upload an app may ask for the rest of the body as
:class:`BodyBlocks` instead (:data:`EXTENSION` in the ASGI scope, see
:mod:`overcast.httpwire`): the connection's reads then go straight into blocks of
:data:`BLOCK` bytes from a pool of anonymous (page-aligned) memory, so the kernel's copy out
of the socket is the only one, and each full block is handed to the consumer as a
``memoryview`` that an ``O_DIRECT`` write takes as it is. Measured in the object-API workers
during a volume backup (32 MiB objects): see the commit that added this module. A chunked body
(``Transfer-Encoding: chunked``) cannot be read past the HTTP parser, which alone knows where
its chunks' framing is: the parser decodes it and each part it hands on is copied into the
blocks (:meth:`BodyBlocks.feed`), with no ASGI message per part; a framing error is answered
400 by the server and ends the consumer's iteration with :class:`ClientGone`.

A block goes back to the pool once nothing refers to it (:class:`~overcast.buffers.BufferPool`
counts references), so a consumer that keeps a part (a store that joins them at the end) keeps
it whole: the pool makes another block. At most :data:`QUEUED` full blocks (2 large ones) wait for the
consumer; then the connection stops reading until it takes one. A consumer that stops early
(an error), or calls :meth:`BodyBlocks.close` without reading, leaves the rest of the body to be
read and dropped, so the connection stays usable,
as it does when an app answers before reading a body; a connection lost before the body's
end ends the consumer's iteration with :class:`ClientGone`.
"""

from __future__ import annotations

import asyncio
import mmap
import queue
from collections.abc import Callable, Iterator

from overcast.buffers import IDLE_RELEASE, BufferPool, anonymous, huge

#: the scope extension that holds the callable starting a request's :class:`BodyBlocks`
#: (``start(chunked=False, block=BLOCK)``: pass ``chunked=True`` to take a chunked body too,
#: counting it against a limit of one's own, see
#: :meth:`overcast.httpwire.BufferedReadsHttpProtocol.body_blocks`, and ``block=LARGE_BLOCK`` for
#: 4 MiB blocks)
EXTENSION = "overcast.body_blocks"
#: bytes per block: a multiple of any O_DIRECT alignment
BLOCK = 1024 * 1024
#: the blocks a consumer may ask for instead (``start(block=LARGE_BLOCK)``) that hashes every
#: byte on other threads (an image upload's md5 and sha512): a quarter of the hand-overs, wake-ups
#: and GIL round trips per MiB, in huge pages (see :func:`~overcast.buffers.huge`). A 1 GiB upload
#: with sendfile, 4 against 1 MiB blocks, interleaved: 3.16 against 3.30 ms of server CPU per MiB,
#: the event loop's 0.16-0.23 against 0.31-0.39, 68-74 % of one core's md5 rate against 58-67 %
LARGE_BLOCK = 4 * BLOCK
#: full 1 MiB blocks that may wait for the consumer before the connection stops reading
#: (large blocks: 2, see :func:`_queue_limit`)
QUEUED = 3
#: bodies of at least this many bytes still to come may be taken as blocks
MIN_BODY = 4 * BLOCK

#: the blocks of each size, kept for the next body while bodies come; dropped once none was
#: taken for :data:`~overcast.buffers.IDLE_RELEASE` seconds, so an idle server holds none of them
_pools: dict[int, BufferPool[mmap.mmap]] = {
    BLOCK: BufferPool(lambda: anonymous(BLOCK), keep=4 * (QUEUED + 2), idle_release=IDLE_RELEASE),
    LARGE_BLOCK: BufferPool(lambda: huge(LARGE_BLOCK), keep=12, idle_release=IDLE_RELEASE),
}


def _queue_limit(block: int) -> int:
    """Full blocks of ``block`` bytes that may wait for the consumer: about 3 MiB, at least 2."""
    return max(2, QUEUED * BLOCK // block)


_END = object()


class ClientGone(Exception):
    """The client went away before sending the whole body: nothing is stored."""


class BodyBlocks:
    """The rest of one request's body (``remaining`` bytes after ``first``; ``remaining``
    None for a chunked body, whose length is known at its end). The event loop calls
    :meth:`buffer` and :meth:`filled` as it reads a body of known length off the socket, or
    :meth:`feed` with each decoded part of a chunked one and :meth:`end` at its end, and
    :meth:`lost` if the connection goes; one consumer thread iterates over the blocks."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pause: Callable[[], None],
        resume: Callable[[], None],
        first: bytes,
        remaining: int | None,
        block: int = BLOCK,
    ) -> None:
        self._loop = loop
        self.block = block
        self._pool = _pools[block]
        self._queue_limit = _queue_limit(block)
        self._pause, self._resume = pause, resume
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._block: mmap.mmap | None = None
        self._fill = 0
        self.chunked = remaining is None
        self.remaining = 0 if remaining is None else len(first) + remaining  # bytes still to read
        self._queued = 0
        self._paused = False
        self._dropping = False
        self._consumed = False  # the consumer reached the end (or ClientGone), or stopped
        if self.chunked:
            self.feed(first)
            return
        view = memoryview(first)
        while view:  # what the parser had already taken goes first, copied once
            room = self.buffer()
            n = min(len(room), len(view))
            room[:n] = view[:n]
            view = view[n:]
            self.filled(n)

    # --- the event loop's side ---------------------------------------------------------------

    def buffer(self) -> memoryview:
        """Where the next read goes: the free part of the current block, no longer than the
        body's rest."""
        if self._block is None:
            self._block, self._fill = self._pool.take(), 0
        return memoryview(self._block)[self._fill : self._fill + min(self.block - self._fill, self.remaining)]

    def filled(self, nbytes: int) -> bool:
        """``nbytes`` were read into :meth:`buffer`; True once the whole body is in."""
        self._fill += nbytes
        self.remaining -= nbytes
        if self._block is not None and (self._fill == self.block or not self.remaining):
            self._hand_on()
        if self.remaining:
            return False
        self._block = None
        self._queue.put(_END)
        return True

    def feed(self, data: bytes) -> None:
        """A chunked body's next decoded part (as the HTTP parser hands it on): copied into
        the blocks, each handed on once full."""
        view = memoryview(data)
        while view:
            if self._block is None:
                self._block, self._fill = self._pool.take(), 0
            n = min(self.block - self._fill, len(view))
            self._block[self._fill : self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == self.block:
                self._hand_on()

    def end(self) -> None:
        """A chunked body's end (its last chunk and trailers were read)."""
        if self._block is not None and self._fill:
            self._hand_on()
        self._block = None
        self._queue.put(_END)

    def _hand_on(self) -> None:
        """The current block (``_fill`` bytes of it) to the consumer, unless it stopped."""
        if self._dropping:
            self._fill = 0  # the same block is read into again
            return
        assert self._block is not None
        self._queue.put(memoryview(self._block)[: self._fill])
        self._block = None
        self._queued += 1
        if self._queued >= self._queue_limit and not self._paused:
            self._paused = True
            self._pause()

    def lost(self) -> None:
        """The connection went before the body's end."""
        self._block = None
        self._queue.put(ClientGone())

    def _taken(self) -> None:
        self._queued -= 1
        if self._paused and self._queued < self._queue_limit:
            self._paused = False
            self._resume()

    def _drop(self) -> None:
        """The consumer stopped: drop what waits and what is still to come."""
        self._dropping = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queued = 0
        if self._paused:
            self._paused = False
            self._resume()

    # --- the consumer's side -----------------------------------------------------------------

    def __iter__(self) -> Iterator[memoryview]:
        """The body's blocks in order, each valid until the next one is asked for (or kept
        for as long as it is referred to); :class:`ClientGone` if the connection went."""
        done = False
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    done = True
                    return
                if isinstance(item, ClientGone):
                    done = True
                    raise item
                assert isinstance(item, memoryview)
                self._loop.call_soon_threadsafe(self._taken)
                yield item
                del item
        finally:
            if done:
                self._consumed = True
            else:
                self.close()

    def close(self) -> None:
        """The consumer reads no more, whether it began or not (a request refused before
        its data was read): the rest of the body is dropped as it comes, so the connection
        stays usable. Nothing after the body's end or a lost connection."""
        if not self._consumed:
            self._consumed = True
            self._loop.call_soon_threadsafe(self._drop)
