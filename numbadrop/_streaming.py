"""Non-temporal ("streaming") stores for the CPU kernels, as numba intrinsics.

A plain store to memory that is not in cache first reads the cache line
(read-for-ownership), so writing an output much larger than the last-level
cache moves three bytes per byte written. A non-temporal store writes whole
lines without reading them, as ``memcpy`` does for large copies. numba has
no way to ask for one, so :func:`stream_bytes` emits LLVM IR: 64-byte vector
stores tagged ``!nontemporal`` (``vmovntdq`` on x86-64, ``stnp`` on AArch64),
with ordinary byte stores for the unaligned head and tail.

Non-temporal stores are weakly ordered: a thread must run :func:`store_fence`
after its last one, before another thread may read the data.
"""

from __future__ import annotations

import platform
from contextlib import contextmanager

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_I8 = ir.IntType(8)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_LINE = 64
_VECTOR = ir.VectorType(_I32, _LINE // 4)
# x86 orders streaming stores with SFENCE/MFENCE only; LLVM lowers a plain
# seq_cst fence to a locked instruction there, which is not documented to.
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


@contextmanager
def _counted_loop(builder: ir.IRBuilder, begin: ir.Value, end: ir.Value, step: int):
    """Emit ``for k in range(begin, end, step)`` (unsigned); yields ``k``."""
    entry = builder.block
    test = builder.append_basic_block("stream.test")
    body = builder.append_basic_block("stream.body")
    done = builder.append_basic_block("stream.done")
    builder.branch(test)
    builder.position_at_end(test)
    k = builder.phi(_I64)
    k.add_incoming(begin, entry)
    builder.cbranch(builder.icmp_unsigned("<", k, end), body, done)
    builder.position_at_end(body)
    yield k
    k.add_incoming(builder.add(k, _I64(step)), builder.block)
    builder.branch(test)
    builder.position_at_end(done)


def _copy_bytes(builder: ir.IRBuilder, dst: ir.Value, src: ir.Value, begin: ir.Value, end: ir.Value) -> None:
    """Ordinary byte stores: destination addresses ``begin <= k < end``."""
    with _counted_loop(builder, begin, end, 1) as k:
        source = builder.inttoptr(builder.add(src, builder.sub(k, dst)), _I8.as_pointer())
        builder.store(builder.load(source), builder.inttoptr(k, _I8.as_pointer()))


@intrinsic
def stream_bytes(typingctx, dst, src, nbytes):
    """Copy ``nbytes`` from address ``src`` to address ``dst`` with streaming stores.

    Whole 64-byte lines of the destination are written with non-temporal
    vector stores; the partial lines at either end with ordinary stores. The
    two ranges must not overlap. All three arguments are ``uint64``.
    """
    if not (dst == types.uint64 and src == types.uint64 and nbytes == types.uint64):
        return None

    def codegen(context, builder, sig, args):
        dst, src, nbytes = args
        end = builder.add(dst, nbytes)
        line_mask = _I64(-_LINE & 0xFFFFFFFFFFFFFFFF)
        first_line = builder.and_(builder.add(dst, _I64(_LINE - 1)), line_mask)
        last_line = builder.and_(end, line_mask)
        nontemporal = builder.module.add_metadata([_I32(1)])
        with builder.if_else(builder.icmp_unsigned("<", first_line, last_line)) as (lines, no_lines):
            with lines:
                _copy_bytes(builder, dst, src, dst, first_line)
                with _counted_loop(builder, first_line, last_line, _LINE) as k:
                    source = builder.inttoptr(builder.add(src, builder.sub(k, dst)), _VECTOR.as_pointer())
                    value = builder.load(source, align=4)
                    store = builder.store(value, builder.inttoptr(k, _VECTOR.as_pointer()), align=_LINE)
                    store.set_metadata("nontemporal", nontemporal)
                _copy_bytes(builder, dst, src, last_line, end)
            with no_lines:
                _copy_bytes(builder, dst, src, dst, end)
        return context.get_dummy_value()

    return types.void(types.uint64, types.uint64, types.uint64), codegen


@intrinsic
def store_fence(typingctx):
    """Order this thread's streaming stores before its later stores (SFENCE on x86)."""

    def codegen(context, builder, sig, args):
        if _X86:
            sfence = builder.module.declare_intrinsic("llvm.x86.sse.sfence", fnty=ir.FunctionType(ir.VoidType(), []))
            builder.call(sfence, [])
        else:
            builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen
