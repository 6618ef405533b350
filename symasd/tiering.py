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
  :func:`symasd.hessian`) replaces the guess: the preparation measures one
  tape call and compiles at once when ``k`` tape calls would cost at least
  twice the compile (it pays back within ``k`` calls if it halves the call);
  otherwise nothing is compiled before ``k`` calls have been made, and the
  rule above applies after them. A stated count also lifts the compile
  budget below: the compile is then refused only if it would need more than
  half the memory available.
* **Every compile has a deadline** (:func:`symasd.compiler.deadline`): the
  time it was allowed above (twice the estimate after tape calls, half the
  stated calls' tape time), at least :data:`MIN_BUDGET`. A compile past it
  is abandoned and the tape kept: the estimate counts directions, and a DAG
  with many more nodes per direction than usual (a softmax cross-entropy's
  Hessian: 6) takes several times longer to build than estimated, and is
  slower to call anyway.
* A compiled DAG that is slower to call than the tape
  (:func:`symasd.costs.compiled_is_slower`) is dropped and the tape kept;
  models past the compile budget (:func:`symasd.costs.compiles`) are never
  compiled by ``"auto"`` without a stated call count. Once a compile was abandoned or dropped, none is
  tried again.

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
from .costs import compile_cost, compile_seconds, compiles
from .graph import Graph
from .modes import Candidate

__all__ = ["CompileSchedule", "UPFRONT_SECONDS", "DEADLINE_FACTOR", "MIN_BUDGET"]

#: ``"auto"`` compiles at preparation when compiling is estimated to take at most
#: this many seconds (the tape's whole preparation of a model of a few hundred
#: nodes takes about 1 ms on two Xeon cores).
UPFRONT_SECONDS = 0.002
#: A compile started after tape calls is abandoned past this many times its estimate.
DEADLINE_FACTOR = 2.0
#: Seconds every compile may take whatever its estimate (small models: fixed costs).
MIN_BUDGET = 0.05


@dataclass
class CompileSchedule:
    """When an ``engine="auto"`` derivative on the tape compiles (see the module).

    ``graph`` and ``candidate`` are what would be compiled (for the estimate);
    ``compile`` compiles it and returns what the prepared object switches to, or
    ``None`` where the compiled DAG is slower than the tape; ``stated`` whether the
    caller stated a call count (``min_calls``). ``threshold`` is the
    time of tape calls after which to compile; it starts at the lower bound
    :func:`symasd.costs.compile_seconds` gives without the directions, and the
    directions are counted (one bitset pass over the graph) only once the calls
    have cost that much. ``budget`` is the time the compile may take (see the
    module), set when it is decided.
    """

    graph: Graph
    candidate: Candidate
    compile: Callable[[], object]
    min_calls: int = 0
    stated: bool = False
    spent: float = 0.0
    calls: int = 0
    threshold: float = 0.0
    counted: bool = False
    budget: float = math.inf

    @classmethod
    def start(cls, graph: Graph, candidate: Candidate, compile: Callable[[], object],
              calls: int | None = None) -> CompileSchedule:
        """A schedule with nothing spent yet; ``calls`` the stated call count."""
        return cls(graph, candidate, compile, calls or 0, calls is not None,
                   threshold=compile_seconds(graph))

    def estimate(self) -> float:
        """The estimated compile time (``inf`` where ``"auto"`` does not compile);
        after it, :attr:`threshold` is that estimate."""
        if not self.counted:
            mode, coloring = self.candidate.mode, self.candidate.coloring
            self.threshold = math.inf
            if compiles(self.graph, mode, coloring):
                directions = compile_cost(self.graph, mode, coloring).directions
                self.threshold = compile_seconds(self.graph, directions)
            elif self.stated:
                cost = compile_cost(self.graph, mode, coloring)
                available = available_memory()
                if available is None or cost.bytes <= available / 2:
                    self.threshold = compile_seconds(self.graph, cost.directions)
            self.counted = True
        return self.threshold

    def compiles_upfront(self) -> bool:
        """Whether to compile at preparation (without a stated call count)."""
        self.budget = MIN_BUDGET
        return self.threshold <= UPFRONT_SECONDS and self.estimate() <= UPFRONT_SECONDS

    def pays_within(self, calls: int, call_seconds: float) -> bool:
        """Whether ``calls`` tape calls of ``call_seconds`` each cost at least twice
        the compile (so that a compiled call half the tape's pays it back)."""
        self.budget = calls * call_seconds / 2.0
        return self.budget >= self.estimate()

    def record(self, seconds: float) -> bool:
        """Count one tape call of ``seconds``; whether to compile now."""
        self.spent += seconds
        self.calls += 1
        if self.calls < self.min_calls or self.spent < self.threshold:
            return False
        due = self.counted or self.spent >= self.estimate()
        if due:
            self.budget = DEADLINE_FACTOR * self.estimate()
        return due

    def run(self):
        """Compile within the budget: what ``compile`` returns, or ``None`` where it
        ran past it or out of memory."""
        try:
            with deadline(max(self.budget, MIN_BUDGET)):
                return self.compile()
        except (CompileTimeout, MemoryError):
            return None
