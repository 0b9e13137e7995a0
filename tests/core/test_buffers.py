"""BufferPool hands a buffer out again only when nothing else refers to it, and gives idle
buffers' memory back to the system."""

from __future__ import annotations

import ctypes
import mmap
import time

from overcast.buffers import BufferPool, anonymous, populated
from overcast.testing.memory import address, private_mapping, resident_pages


class Counting:
    """A buffer factory that counts what it made (without holding on to it)."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self.made = 0

    def __call__(self) -> bytearray:
        self.made += 1
        return bytearray(self.size)


def test_a_released_buffer_is_reused():
    make = Counting()
    pool = BufferPool(make, keep=2)
    first = pool.take()
    first[:3] = b"old"
    del first
    again = pool.take()
    assert make.made == 2  # the probe and one buffer
    assert again[:3] == b"old"


def test_a_referenced_buffer_is_never_handed_out_again():
    pool = BufferPool(lambda: mmap.mmap(-1, 4096), keep=2)
    held = pool.take()
    view = memoryview(held)[:10]  # a view keeps its buffer busy, like any reference
    del held
    second = pool.take()
    second[:4] = b"new!"
    assert bytes(view[:4]) == b"\x00" * 4
    view.release()
    del view
    assert pool.take() is not second  # the first one is free again and comes first


def test_at_most_keep_buffers_are_kept():
    make = Counting()
    pool = BufferPool(make, keep=1)
    kept = pool.take()
    extra = pool.take()
    assert make.made == 3
    del extra  # not kept: dropped
    other = pool.take()
    assert make.made == 4 and other is not kept
    del kept
    pool.take()
    assert make.made == 4


def test_populated_memory_is_page_aligned_zeroed_and_writable():
    buffer = populated(3 * mmap.PAGESIZE)
    view = memoryview(buffer)
    assert len(view) == 3 * mmap.PAGESIZE and bytes(view) == bytes(len(view))
    view[-4:] = b"last"
    assert buffer[-4:] == b"last"
    assert ctypes.addressof(ctypes.c_char.from_buffer(view)) % mmap.PAGESIZE == 0


def test_anonymous_memory_is_private_page_aligned_and_allocated_as_touched():
    size = 8 * mmap.PAGESIZE
    buffer = anonymous(size)
    start = address(buffer)
    assert start % mmap.PAGESIZE == 0 and private_mapping(start)  # not shmem a forked child shares
    assert resident_pages(start, size) == 0
    buffer[: 2 * mmap.PAGESIZE] = b"x" * (2 * mmap.PAGESIZE)
    assert resident_pages(start, size) == 2


def test_release_idle_gives_back_the_memory_of_idle_buffers_only():
    size = 16 * mmap.PAGESIZE
    pool = BufferPool(lambda: anonymous(size), keep=4)
    idle, busy = pool.take(), pool.take()
    idle[:] = busy[:] = b"\x01" * size  # every page resident, as after a body filled them
    idle_at, busy_at = address(idle), address(busy)
    assert resident_pages(idle_at, size) == 16
    del idle
    assert pool.release_idle() == 1
    assert resident_pages(idle_at, size) is None  # unmapped: its pages are the system's again
    assert resident_pages(busy_at, size) == 16 and busy[:1] == b"\x01"
    assert len(pool.kept()) == 1 and pool.released == 1
    del busy
    assert pool.release_idle() == 1 and pool.kept() == []
    assert resident_pages(busy_at, size) is None


def test_an_idle_pool_drops_its_buffers_by_itself():
    size = 4 * mmap.PAGESIZE
    pool = BufferPool(lambda: anonymous(size), keep=4, idle_release=0.05)
    taken = [pool.take() for _ in range(3)]
    for buffer in taken:
        buffer[:] = b"\x02" * size
    starts = [address(buffer) for buffer in taken]
    del taken, buffer
    deadline = time.monotonic() + 10
    while pool.kept():
        assert time.monotonic() < deadline, "the idle pool kept its buffers"
        time.sleep(0.02)
    assert pool.released == 3
    assert [resident_pages(start, size) for start in starts] == [None, None, None]
    again = pool.take()  # a pool that gave its buffers back still hands out new ones
    again[:1] = b"\x03"
    assert len(pool.kept()) == 1


def test_a_pool_in_use_keeps_its_buffers():
    make = Counting()
    pool = BufferPool(make, keep=2, idle_release=1.0)
    stop = time.monotonic() + 2.5
    while time.monotonic() < stop:  # a stream of takes, never 1 s apart
        buffer = pool.take()
        del buffer
        time.sleep(0.02)
    assert pool.released == 0 and make.made == 2  # the probe and the one buffer, reused throughout
