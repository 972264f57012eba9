"""The recorded graph: nodes, grad mode, and the reverse-mode engine.

Every differentiable operation applied to a recorded value (a
:class:`~numbadrop.autograd.Tensor`, a :class:`~numbadrop.nn.Parameter`, or an
input of a training-mode module call) creates one :class:`Node`: the nodes of
its inputs (``parents``) and a closure ``backprop(grad) -> input gradients``
that holds only what the backward needs. :func:`backward` runs the nodes
reachable from its roots in reverse topological order, summing the gradients
of values that feed several consumers, and frees each closure once it has run.

Nodes that need no gradient are skipped: a node runs only when one of its
parents leads to something that collects a gradient (a parameter, a tensor
made with ``requires_grad=True``, or the input a ``Module.backward`` asks
for), or when it holds parameters itself. :func:`needs_input_grad` tells a
running closure which of its inputs are wanted, so ``Linear`` skips the
input gradient of a network's first layer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Node",
    "Tape",
    "backward",
    "enable_grad",
    "grad_enabled",
    "needs_input_grad",
    "no_grad",
    "set_grad_enabled",
]

_state = threading.local()


class Node:
    """One recorded operation (or a leaf) of the graph.

    Attributes
    ----------
    name : str
        What recorded it (``"multiply"``, ``"Linear"``, ...), for messages.
    parents : tuple of Node or None
        The nodes of the operation's inputs (``None`` for constants).
    backprop : callable or None
        ``grad -> gradient`` (one parent) or ``grad -> tuple`` (several);
        ``None`` for a leaf, and once a backward has consumed the node.
    shape, dtype
        Of the value the node produced (and of the gradient it receives).
    params : bool
        True when the closure accumulates parameter gradients itself, so it
        runs even if none of its inputs needs a gradient.
    saved : tuple of (version box, version, holder)
        Values the closure reads at backward, with the version they had when
        recorded (a changed version raises instead of giving a wrong
        gradient) and the object they came from, kept alive with the node.
    sink : object or None
        For leaves: where the gradient is collected (a Parameter, a tensor),
        anything with ``always`` (collected by every backward) and ``add(grad)``.
    """

    __slots__ = ("backprop", "consumed", "dtype", "name", "params", "parents", "saved", "shape", "sink", "__weakref__")

    def __init__(
        self,
        name: str,
        parents: tuple[Node | None, ...],
        backprop: Callable[[np.ndarray], Any] | None,
        shape: tuple[int, ...],
        dtype: np.dtype,
        *,
        params: bool = False,
        saved: tuple[tuple[list[int], int, object], ...] = (),
        sink: object = None,
    ) -> None:
        self.name = name
        self.parents = parents
        self.backprop = backprop
        self.shape = shape
        self.dtype = dtype
        self.params = params
        self.saved = saved
        self.sink = sink
        self.consumed = False
        tape = getattr(_state, "tape", None)
        if tape is not None and parents:
            tape.nodes.append(self)

    def __repr__(self) -> str:
        return f"<Node {self.name} shape={self.shape}>"


# --- grad mode -----------------------------------------------------------------
def grad_enabled() -> bool:
    """False inside :class:`no_grad`."""
    return getattr(_state, "enabled", True)


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager (and decorator) that turns recording on or off, like ``torch.set_grad_enabled``."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode must be a bool, got {mode!r}")
        self.mode = bool(mode)

    def __enter__(self) -> set_grad_enabled:
        self._previous = grad_enabled()
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._previous


class no_grad(set_grad_enabled):
    """Context manager (and decorator) under which nothing is recorded.

    Operations on recorded values return plain NumPy arrays, and module
    calls record no backward.

    Examples
    --------
    >>> import numpy as np
    >>> import numbadrop
    >>> from numbadrop import nn
    >>> layer = nn.Linear(3, 2)
    >>> with numbadrop.no_grad():
    ...     y = layer(np.ones((1, 3), np.float32))
    >>> type(y).__name__
    'ndarray'
    >>> layer.backward(np.ones((1, 2), np.float32))
    Traceback (most recent call last):
    ...
    RuntimeError: Linear.backward() needs a training-mode forward first (none recorded, or already used)
    """

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Context manager (and decorator) that records again inside :class:`no_grad`."""

    def __init__(self) -> None:
        super().__init__(True)


def module_context() -> str | None:
    """``"train"`` / ``"eval"`` inside a top-level module call of that mode, else ``None``.

    A training-mode call records every layer it runs; in an eval-mode call
    only operations on already-recorded values are recorded.
    """
    return getattr(_state, "context", None)


def is_recording() -> bool:
    """Inside a primitive's forward: is this call being recorded (so its backward closure is needed)?"""
    return getattr(_state, "recording_call", False)


def needs_input_grad(index: int = 0) -> bool:
    """Inside a running backward closure: is the gradient of input ``index`` wanted?

    Closures may skip work for inputs that nothing needs (``Linear`` skips
    ``grad @ weight`` for a network's first layer); outside a backward, True.
    """
    needs = getattr(_state, "needs", None)
    return True if needs is None else needs[index]


# --- the record of one module call ----------------------------------------------
class Tape:
    """The nodes recorded by one training-mode module call, and where it starts and ends.

    ``Module.__call__`` makes one per top-level training call and keeps it in
    ``module._tape``; :meth:`backward` runs the graph from the call's output
    back to its inputs (and no further), which is ``Module.backward``.

    A tape can also be used on its own as a chain of closures:
    :meth:`record` appends ``grad_out -> grad_in`` after the last one.
    """

    __slots__ = ("chain", "inputs", "nodes", "output", "_head")

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.inputs: tuple[Node, ...] = ()
        self.output: Node | None = None
        self._head: Node | None = None
        #: A call on GPU, torch or Dask arrays: its layers record a chain of closures (``record``).
        self.chain = False

    def __len__(self) -> int:
        return len(self.nodes)

    def record(self, backprop: Callable[[np.ndarray], np.ndarray]) -> None:
        """Append ``backprop`` as the next link of a chain (the previous link's input feeds it)."""
        if self._head is None:
            self._head = Node("input", (), None, (), np.dtype(np.float64))
            self.inputs = (self._head,)
        node = Node("closure", (self._head,), backprop, (), np.dtype(np.float64))
        if getattr(_state, "tape", None) is not self:
            self.nodes.append(node)
        self._head = self.output = node

    def backward(self, grad: np.ndarray) -> np.ndarray | None:
        """Backpropagate ``grad`` from the output to the first input, once; empties the tape."""
        if self.output is None:
            if self.chain:  # nothing recorded: every layer passed its input through
                return grad
            raise RuntimeError("nothing was recorded on this tape")
        first = self.inputs[0] if self.inputs else None
        grads = backward(
            [(self.output, grad)], stop=self.inputs, want=(first,) if first else (), shape_check=self._head is None
        )
        self.nodes.clear()
        result = grads.get(first) if first is not None else None
        if result is None and first is not None:
            result = np.zeros(first.shape, first.dtype)
        return result


def active_tape() -> Tape | None:
    """The tape a module call is recording on this thread, if any."""
    return getattr(_state, "tape", None)


@contextlib.contextmanager
def recording(tape: Tape | None) -> Iterator[None]:
    """Make ``tape`` the one the next top-level module call records into."""
    previous = getattr(_state, "tape", None)
    _state.tape = tape
    try:
        yield
    finally:
        _state.tape = previous


# --- the engine -------------------------------------------------------------------
def _order(roots: Sequence[Node], stop: frozenset[Node], want: frozenset[Node]) -> tuple[list[Node], set[Node]]:
    """Reverse topological order of the nodes reachable from ``roots`` and the set that is needed."""
    needed: set[Node] = set()
    post: list[Node] = []
    visited: set[Node] = set()
    for root in roots:
        if root in visited:
            continue
        visited.add(root)
        stack: list[tuple[Node, int]] = [(root, 0)]
        while stack:
            node, i = stack[-1]
            parents = () if node in stop else node.parents
            if i < len(parents):
                stack[-1] = (node, i + 1)
                parent = parents[i]
                if parent is not None and parent not in visited:
                    visited.add(parent)
                    stack.append((parent, 0))
                continue
            stack.pop()
            if node in stop or not node.parents:
                wanted = node in want or (node.sink is not None and node.sink.always)
            else:
                wanted = node.params or any(p in needed for p in node.parents if p is not None)
            if wanted:
                needed.add(node)
            post.append(node)
    post.reverse()
    return post, needed


def _check_versions(node: Node) -> None:
    for box, version, _ in node.saved:
        if box[0] != version:
            raise RuntimeError(
                f"a value that {node.name}'s backward needs was modified in place after it was recorded "
                f"(version {box[0]}, recorded at version {version}) -- by an in-place operation (x *= 2, "
                "x[i] = v, an inplace=True layer) or by an optimizer step before this backward. Compute a new "
                "array instead (y = x * 2), and call optimizer.step() after backward()"
            )


def backward(
    roots: Sequence[tuple[Node, np.ndarray]],
    *,
    stop: Sequence[Node] = (),
    want: Sequence[Node] = (),
    retain_graph: bool = False,
    require_sink: bool = False,
    shape_check: bool = True,
) -> dict[Node, np.ndarray]:
    """Backpropagate ``roots`` (node, gradient) pairs through the graph.

    Parameters
    ----------
    roots : sequence of (Node, ndarray)
        Where the backward starts and with which gradients.
    stop : sequence of Node
        Nodes whose gradient is collected and not propagated further.
    want : sequence of Node
        Stop nodes or leaves whose gradients are computed and returned.
    retain_graph : bool
        Keep the closures so that the graph can be backpropagated again.
    require_sink : bool
        Raise if nothing reachable collects a gradient (``loss.backward()``).
    shape_check : bool
        Check that each gradient has the shape of the value it is for.

    Returns
    -------
    dict
        Gradient of every wanted ``stop``/``want`` node that was reached.
    """
    stop_set = frozenset(stop)
    want_set = frozenset(want)
    order, needed = _order([node for node, _ in roots], stop_set, want_set)
    if require_sink and not needed:
        raise RuntimeError(
            "backward() reaches no parameter and no tensor that requires grad: the value was not computed by "
            "a recorded forward (a module in eval mode or under no_grad records nothing; call model.train())"
        )
    for node in order:
        if node in needed and node.parents and node not in stop_set:
            if node.consumed:
                raise RuntimeError(
                    f"{node.name}'s backward already ran and its saved values were freed: "
                    "backpropagate through a graph once, or pass retain_graph=True the first time"
                )
            _check_versions(node)
    grads: dict[Node, np.ndarray] = {}
    for node, grad in roots:
        _accumulate(grads, node, grad)
    collected: dict[Node, np.ndarray] = {}
    sinks: list[tuple[Any, np.ndarray]] = []  # added at the end: a backward that raises writes no .grad
    for node in order:
        grad = grads.pop(node, None)
        if node not in needed or grad is None:
            continue
        if node in stop_set or not node.parents:
            if node in want_set:
                collected[node] = grad
            if node.sink is not None and node not in stop_set:
                sinks.append((node.sink, grad))
            continue
        needs = tuple(p is not None and p in needed for p in node.parents)
        previous = getattr(_state, "needs", None)
        _state.needs = needs
        try:
            result = node.backprop(grad)
        finally:
            _state.needs = previous
        if len(node.parents) == 1:
            result = (result,)
        for parent, need, g in zip(node.parents, needs, result, strict=True):
            if need and g is not None:
                if shape_check and np.shape(g) != parent.shape:
                    raise ValueError(
                        f"{node.name} backward: gradient for its input has shape {np.shape(g)}, expected {parent.shape}"
                    )
                _accumulate(grads, parent, g)
        if not retain_graph:
            node.backprop = None
            node.saved = ()
            node.consumed = True
    for sink, grad in sinks:
        sink.add(grad)
    return collected


def _accumulate(grads: dict[Node, np.ndarray], node: Node, grad: np.ndarray) -> None:
    # Out of place: a closure may hand the same array to several inputs (``add``).
    previous = grads.get(node)
    grads[node] = grad if previous is None else previous + grad
