"""Seeds, generators and the ``rng=`` argument (DESIGN.md section 1).

A numbadrop mask is a pure function of ``(seed, offset, mask shape, p)``.
:class:`Generator` is nothing but a seed and a counter of draws: each call
that takes ``rng=generator`` uses the current offset and then advances it.
"""

from __future__ import annotations

import numbers
import secrets
import threading
from typing import Union

import numpy as np

from numbadrop._core.formula import threshold
from numbadrop._core.philox import philox4x32_10

__all__ = ["Generator", "check_rng", "default_generator", "manual_seed", "seed_offset", "threshold"]

_U64 = 1 << 64
_SPAWN_TAG = 0x5350574E  # "SPWN": keeps spawn streams apart from mask streams


def _check_u64(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [0, 2**64), got {value!r}")
    value = int(value)
    if not 0 <= value < _U64:
        raise ValueError(f"{name} must be in [0, 2**64), got {value}")
    return value


class Generator:
    """A counter-based source of dropout masks: a 64-bit seed and an offset.

    Parameters
    ----------
    seed : int, optional
        Integer in ``[0, 2**64)``. ``None`` draws one from the OS's entropy.
    offset : int, default 0
        Index of the next draw; each draw advances it by one.

    Notes
    -----
    Two generators with the same ``(seed, offset)`` produce the same masks on
    any machine, thread count or device. Generators pickle and copy by value.

    Examples
    --------
    >>> import numpy as np, numbadrop
    >>> g = numbadrop.Generator(7)
    >>> a = numbadrop.dropout(np.ones(8, np.float32), 0.5, rng=g)  # offset 0
    >>> b = numbadrop.dropout(np.ones(8, np.float32), 0.5, rng=g)  # offset 1
    >>> g.offset
    2
    >>> bool((a == numbadrop.dropout(np.ones(8, np.float32), 0.5, rng=7)).all())
    True
    """

    __slots__ = ("_seed", "_offset", "_spawned", "_lock")

    def __init__(self, seed: int | None = None, offset: int = 0) -> None:
        self._seed = secrets.randbits(64) if seed is None else _check_u64("seed", seed)
        self._offset = _check_u64("offset", offset)
        self._spawned = 0
        self._lock = threading.Lock()

    @property
    def seed(self) -> int:
        """The 64-bit seed (the Philox key)."""
        return self._seed

    @property
    def offset(self) -> int:
        """The offset the next draw will use."""
        return self._offset

    def draw(self) -> tuple[int, int]:
        """Return ``(seed, offset)`` for one mask and advance the offset by one."""
        with self._lock:
            offset = self._offset
            if offset == _U64:
                raise OverflowError("Generator offset exhausted (2**64 draws)")
            self._offset = offset + 1
        return self._seed, offset

    def spawn(self, n: int) -> list[Generator]:
        """Return ``n`` new generators whose streams do not overlap this one's.

        Each child's seed is a Philox4x32-10 hash of this seed and a spawn
        counter, so repeated calls keep producing new, reproducible children.
        """
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        with self._lock:
            first = self._spawned
            self._spawned += int(n)
        u = np.uint64
        k0, k1 = u(self._seed & 0xFFFFFFFF), u(self._seed >> 32)
        children = []
        for i in range(first, first + int(n)):
            r = philox4x32_10(u(i & 0xFFFFFFFF), u(i >> 32), u(_SPAWN_TAG), u(0), k0, k1)
            children.append(Generator(int(r[0]) | (int(r[1]) << 32)))
        return children

    def __getstate__(self) -> tuple[int, int, int]:
        return self._seed, self._offset, self._spawned

    def __setstate__(self, state: tuple[int, int, int]) -> None:
        self._seed, self._offset, self._spawned = state
        self._lock = threading.Lock()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Generator):
            return NotImplemented
        return self.__getstate__() == other.__getstate__()

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"Generator(seed={self._seed}, offset={self._offset})"


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Reset the default generator to ``seed``, offset 0, and return it."""
    seed = _check_u64("seed", seed)
    with default_generator._lock:
        default_generator._seed = seed
        default_generator._offset = 0
        default_generator._spawned = 0
    return default_generator


RngLike = Union[None, int, Generator, np.random.Generator]


def check_rng(rng: object) -> None:
    """Validate an ``rng=`` argument without drawing from it."""
    if rng is None or type(rng) is Generator or isinstance(rng, (Generator, np.random.Generator)):
        return
    if type(rng) is int and 0 <= rng < _U64:  # the usual int seed, without the ABC checks below
        return
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        _check_u64("rng", rng)
        return
    raise TypeError(f"rng must be None, an int seed, a numbadrop.Generator or a numpy.random.Generator, got {rng!r}")


def seed_offset(rng: RngLike) -> tuple[int, int]:
    """Resolve an ``rng=`` argument to the ``(seed, offset)`` of one mask.

    ``int`` -> that seed, offset 0; :class:`Generator` -> its seed and current
    offset, then advanced; ``numpy.random.Generator`` -> one 64-bit seed drawn
    from it, offset 0; ``None`` -> the default generator.
    """
    if rng is None:
        return default_generator.draw()
    if isinstance(rng, Generator):
        return rng.draw()
    if type(rng) is int and 0 <= rng < _U64:
        return rng, 0
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, _U64, dtype=np.uint64)), 0
    check_rng(rng)
    return int(rng), 0  # type: ignore[call-overload]
