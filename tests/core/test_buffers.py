"""BufferPool hands a buffer out again only when nothing else refers to it."""

from __future__ import annotations

import ctypes
import mmap

from overcast.buffers import BufferPool, populated


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
