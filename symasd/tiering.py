"""When ``engine="auto"`` compiles: on the tape first, compiled once its calls have paid.

A compiled derivative (the virtual machine) is 2 to 12 times faster per call
than the tape's sweeps on most models, but compiling costs 2 to 30 times the
tape's whole preparation (``benchmarks/preparation.py --section engine``), and
on some models (a softmax cross-entropy's Hessian) the compiled call is slower.
How many calls will follow is what decides, and only the caller knows it. So
``engine="auto"`` prepares the tape and keeps a :class:`CompileSchedule`:

* **At preparation** it compiles at once when compiling is estimated
  (:func:`symasd.costs.compile_seconds`) to take at most
  :data:`UPFRONT_SECONDS`, about twice a small model's whole tape
  preparation (the decision depends on the model only, not on the clock).
* **Otherwise it compiles at the call** after which the tape's calls have
  cost as much as compiling is estimated to (the ski-rental rule): compiling
  then at most doubles the time spent so far, and a compiled call half the
  tape's pays it back within about twice as many calls again. The calls
  before are the tape's, and the call that compiles takes the compile's time.
* **A stated call count** (``calls=k`` in :func:`symasd.jacobian` and
  :func:`symasd.hessian`) replaces the guess: the preparation times two tape
  calls (the second, without the first one's setup; none for ``k <= 2``) and
  compiles at once when ``k`` tape calls would cost at least twice the
  compile (it pays back within ``k`` calls if it halves the call);
  otherwise nothing is compiled during the first ``k`` calls, and the rule
  above applies to the calls after them.
* **Memory, not a size budget, is the limit**: a compile that would need
  more than :data:`MEMORY_FRACTION` of the memory available
  (:attr:`symasd.costs.CompileCost.bytes`, checked again when it starts) is
  never started. (The compile budget of :mod:`symasd.costs` guarded against
  long compiles before the first call; here a compile comes only after the
  calls have paid for it.)
* **Every compile has a deadline** (:func:`symasd.compiler.deadline`): twice
  the estimate after tape calls (at least :data:`MIN_BUDGET`), half the
  stated calls' tape time, :data:`UPFRONT_BUDGET` at preparation. The
  estimate counts directions, and a DAG with many more nodes per direction
  than usual (a softmax cross-entropy's Hessian: 6) takes several times
  longer to build than estimated. A compile past its deadline is abandoned
  and tried again once the tape's calls have cost as much again as that
  deadline, with twice the time: beyond :data:`MIN_BUDGET`, what is spent
  on abandoned compiles stays at most about twice the time of the calls.
* A compiled DAG that is slower to call than the tape
  (:func:`symasd.costs.compiled_is_slower`) is dropped and the tape kept for
  good.

The switch changes the engine of one prepared object in the middle of its
life: ``engine``, ``mode``, ``coloring`` and ``ncolors`` then describe the
compiled derivative (a Hessian's tape may use an acyclic coloring, the
compiled one a star coloring), the matrices keep their structure (the same
``indptr`` and ``indices`` arrays), and their values may differ from the
tape's in the last bits. Where the derivative meets a value that is not
finite (a NaN or infinite input, a partial that overflows), the special
values may differ too: the tape multiplies only nonzero tangents and
adjoints, so a zero there stays 0, while the compiled derivative, one
expression for every point, multiplies them (0 * inf is NaN) outside the
branches of a selection, where it guards them as the tape does.

Example
-------
>>> import numpy as np, symasd
>>> rosen = lambda x: np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
>>> symasd.hessian(rosen, np.zeros(20)).engine  # small: compiled at once
'vm'
>>> hes = symasd.hessian(rosen, np.zeros(10**5), calls=1)  # one call expected
>>> hes.engine
'tape'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ._system import available_memory
from .compiler import CompileTimeout, deadline
from .costs import compile_cost, compile_seconds
from .graph import Graph
from .modes import Candidate

__all__ = ["CompileSchedule", "UPFRONT_SECONDS", "UPFRONT_BUDGET", "DEADLINE_FACTOR",
           "MIN_BUDGET", "MEMORY_FRACTION"]

#: ``"auto"`` compiles at preparation when compiling is estimated to take at most
#: this many seconds (the tape's whole preparation of a model of a few hundred
#: nodes takes about 1 ms on two Xeon cores).
UPFRONT_SECONDS = 0.002
#: The deadline of a compile at preparation (estimated at UPFRONT_SECONDS or less).
UPFRONT_BUDGET = 0.5
#: A compile started after tape calls is abandoned past this many times its estimate.
DEADLINE_FACTOR = 2.0
#: Seconds every compile after tape calls may take whatever its estimate.
MIN_BUDGET = 0.05
#: ``"auto"`` starts no compile that would need more than this part of the memory
#: available.
MEMORY_FRACTION = 0.25


@dataclass
class CompileSchedule:
    """When an ``engine="auto"`` derivative on the tape compiles (see the module).

    ``graph`` and ``candidate`` are what would be compiled (for the estimate),
    ``copies()`` how many candidates like it the compile builds (asked once the
    estimate is needed: ``mode="auto"`` Jacobians compile the modes close to the
    cheapest too); ``compile`` compiles and
    returns ``(candidate, compiled derivative)``. ``min_calls`` is the stated
    call count (0 if none). ``threshold`` is the time of tape calls (after the
    stated ones) at which to compile; it starts at the lower bound
    :func:`symasd.costs.compile_seconds` gives without the directions, which are
    counted (one bitset pass over the graph) only once the calls have cost that
    much. ``budget`` is the deadline of the next compile, set when it is due.
    """

    graph: Graph
    candidate: Candidate
    compile: Callable[[], tuple]
    min_calls: int = 0
    copies: Callable[[], int] = lambda: 1
    spent: float = 0.0
    calls: int = 0
    threshold: float = 0.0
    counted: bool = False
    budget: float = math.inf
    bytes: int = 0

    @classmethod
    def start(cls, graph: Graph, candidate: Candidate, compile: Callable[[], tuple],
              calls: int | None = None,
              copies: Callable[[], int] = lambda: 1) -> CompileSchedule:
        """A schedule with nothing spent yet; ``calls`` the stated call count."""
        return cls(graph, candidate, compile, calls or 0, copies,
                   threshold=compile_seconds(graph))

    @property
    def never(self) -> bool:
        """Whether it will not compile (the compile would not fit in memory)."""
        return self.threshold == math.inf

    def estimate(self) -> float:
        """The estimated compile time (``inf`` where the compile would not fit in
        memory); after it, :attr:`threshold` is that estimate."""
        if not self.counted:
            cost = compile_cost(self.graph, self.candidate.mode, self.candidate.coloring)
            copies = self.copies()
            self.bytes = copies * cost.bytes
            self.threshold = (copies * compile_seconds(self.graph, cost.directions)
                              if self._fits() else math.inf)
            self.counted = True
        return self.threshold

    def _fits(self) -> bool:
        available = available_memory()
        return available is None or self.bytes <= MEMORY_FRACTION * available

    def compiles_upfront(self) -> bool:
        """Whether to compile at preparation (without a stated call count)."""
        self.budget = UPFRONT_BUDGET
        return self.threshold <= UPFRONT_SECONDS and self.estimate() <= UPFRONT_SECONDS

    def pays_within(self, calls: int, call_seconds: float) -> bool:
        """Whether ``calls`` tape calls of ``call_seconds`` each cost at least twice
        the compile (so that a compiled call half the tape's pays it back)."""
        self.budget = calls * call_seconds / 2.0
        return self.budget >= self.estimate()

    def record(self, seconds: float) -> bool:
        """Count one tape call of ``seconds``; whether to compile now."""
        self.calls += 1
        if self.calls <= self.min_calls:  # the stated calls pay for nothing
            return False
        self.spent += seconds
        if self.spent < self.threshold:
            return False
        due = self.counted or self.spent >= self.estimate()
        if due:
            self.budget = max(DEADLINE_FACTOR * self.threshold, MIN_BUDGET)
        return due

    def run(self) -> tuple | None:
        """Compile within the budget: ``(candidate, compiled)``, or ``None`` where
        it ran past the budget (then :attr:`never` is false, and the schedule
        is set to try again) or would not fit in the memory available now."""
        if not self._fits():
            self.threshold = math.inf
            return None
        try:
            with deadline(self.budget):
                return self.compile()
        except CompileTimeout:
            # again once the calls have cost as much as this deadline, with twice it
            self.spent, self.threshold = 0.0, max(self.budget, MIN_BUDGET)
            return None
        except MemoryError:
            self.threshold = math.inf
            return None
