"""engine="auto" (symasd.tiering): the tape first, compiled at preparation where that is
cheap, else at the call after which the tape's calls have cost what compiling is
estimated to, or after a stated number of calls; the matrices the same throughout."""

import threading

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

import symasd
from symasd import costs, tiering


def rosen(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def residual(x, p):
    return np.sin(x[1:]) * x[:-1] ** 2 + p * np.diff(x) + x[0] ** 3


def xent(z):
    Z = z.reshape(-1, 10)
    rows = np.arange(Z.shape[0])
    return np.sum(logsumexp(Z, axis=1) - Z[rows, rows % 10])


def _same(A, B, rtol=1e-12):
    assert isinstance(A, sp.csr_array) and isinstance(B, sp.csr_array)
    np.testing.assert_array_equal(A.indptr, B.indptr)
    np.testing.assert_array_equal(A.indices, B.indices)
    np.testing.assert_allclose(A.data, B.data, rtol=rtol, atol=1e-13 * abs(B.data).max())


@pytest.fixture
def late_compile(monkeypatch):
    """Compiling looks expensive (never at preparation) and the calls' threshold
    is set by hand: the tests decide when the schedule compiles."""
    monkeypatch.setattr(tiering.CompileSchedule, "compiles_upfront", lambda self: False)
    monkeypatch.setattr(tiering, "MIN_BUDGET", 600.0)  # no deadline that a busy machine meets

    def after(seconds):
        def start(cls, graph, candidate, compile, calls=None, copies=lambda: 1):
            return cls(graph, candidate, compile, calls or 0, copies, threshold=seconds,
                       counted=True)
        monkeypatch.setattr(tiering.CompileSchedule, "start", classmethod(start))
    return after


def test_small_models_compile_at_preparation():
    hes = symasd.hessian(rosen, np.zeros(20))
    assert hes.engine == "vm" and hes.compiled is not None and hes._schedule is None
    jac = symasd.jacobian(lambda x: np.diff(x, 3), np.zeros(10))
    assert jac.engine == "vm"


def test_the_tape_compiles_once_its_calls_have_cost_the_compile(late_compile):
    late_compile(0.0)  # the first call's time passes any threshold
    rng = np.random.default_rng(0)
    x, p = rng.uniform(-1, 1, 400), rng.uniform(0.5, 1.5, 399)
    jac = symasd.jacobian(residual, x, p)
    vm = symasd.jacobian(residual, x, p, engine="vm")
    assert jac.engine == "tape" and jac.compiled is None
    J0 = jac(x, p)  # on the tape, then compiled
    assert jac.engine == "vm" and jac.compiled is not None and jac._schedule is None
    _same(J0, vm(x, p))
    _same(jac(x, p), J0)
    y, J = jac.value_and_jacobian(x, p)
    np.testing.assert_allclose(y, residual(x, p), rtol=1e-13)
    _same(J, J0)


def test_no_compile_before_the_threshold(late_compile):
    late_compile(3600.0)
    hes = symasd.hessian(rosen, np.zeros(300))
    x = np.random.default_rng(1).uniform(-1, 1, 300)
    for _ in range(5):
        H = hes(x)
    v, g, H2 = hes.value_gradient_and_hessian(x)
    assert hes.engine == "tape" and hes.compiled is None
    assert hes._schedule.calls == 6 and hes._schedule.spent > 0
    assert "engine='auto': compiles once tape calls have taken about 3.6e+06 ms" in repr(hes)
    _same(H2, H)
    _same(H, symasd.hessian(rosen, x, engine="vm")(x))


def test_a_stated_call_count(monkeypatch):
    n = 20_000
    x = np.random.default_rng(2).uniform(-1, 1, n)
    many = symasd.hessian(rosen, np.zeros(n), calls=10**7)
    assert many.engine == "vm"
    one = symasd.hessian(rosen, np.zeros(n), calls=1)
    assert one.engine == "tape" and one._schedule.min_calls == 1
    # nothing compiles during the stated calls, however cheap compiling looks: at
    # the first call after them
    monkeypatch.setattr(tiering, "MIN_BUDGET", 600.0)
    few = symasd.hessian(rosen, np.zeros(n), calls=3)
    few._schedule.threshold, few._schedule.counted = 0.0, True
    for _ in range(3):
        few(x)
    assert few.engine == "tape" and few._schedule.spent == 0.0
    H = few(x)
    assert few.engine == "vm"
    _same(few(x), H)
    _same(H, many(x))


def test_calls_is_checked():
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(symasd.InputError, match="calls must be None or a non-negative"):
            symasd.jacobian(np.sin, np.zeros(3), calls=bad)
    # the explicit engines ignore it
    assert symasd.hessian(rosen, np.zeros(5), engine="tape", calls=10**9).engine == "tape"


def test_a_graph_with_a_stated_call_count():
    g = symasd.trace(residual, np.zeros(50), np.zeros(49))
    jac = symasd.jacobian(g, None, calls=10**9)
    assert jac.engine == "vm"
    # a Graph's x0 values are not read (it is timed at zeros), as without calls; its
    # shape must be the graph's
    assert symasd.jacobian(g, np.full(50, 7.0), calls=10**9).engine == "vm"
    with pytest.raises(symasd.InputError, match="traced with shape"):
        symasd.jacobian(g, np.zeros(3), calls=10**9)
    x, p = np.linspace(-1, 1, 50), np.full(49, 0.5)
    _same(jac(x, p), symasd.jacobian(residual, x, p, engine="tape")(x, p))


def test_a_compiled_dag_slower_than_the_tape_is_dropped(late_compile):
    late_compile(0.0)
    z = np.random.default_rng(3).standard_normal(2000)
    hes = symasd.hessian(xent, z)
    H0 = hes(z)  # compiles, finds the DAG slower (test_costs), keeps the tape
    assert hes.engine == "tape" and hes.compiled is None and hes._schedule is None
    _same(hes(z), H0)


def test_past_the_memory_auto_never_compiles(monkeypatch):
    monkeypatch.setattr(tiering, "UPFRONT_SECONDS", 0.0)
    monkeypatch.setattr(tiering, "available_memory", lambda: 1000)
    monkeypatch.setattr(costs, "COMPILE_SECONDS_FIXED", 0.0)
    monkeypatch.setattr(costs, "COMPILE_SECONDS_PER_NODE", 0.0)
    counted = []
    count = costs._count
    monkeypatch.setattr(costs, "_count", lambda *a: counted.append(1) or count(*a))
    hes = symasd.hessian(rosen, np.zeros(200))
    x = np.linspace(-1, 1, 200)
    for _ in range(20):
        hes(x)
    assert hes.engine == "tape" and hes._schedule.threshold == np.inf
    assert len(counted) == 1  # the directions counted once, at the first threshold


def test_threads_share_one_compile(late_compile):
    late_compile(0.0)
    rng = np.random.default_rng(4)
    x, p = rng.uniform(-1, 1, 3000), rng.uniform(0.5, 1.5, 2999)
    jac = symasd.jacobian(residual, x, p)
    expected = symasd.jacobian(residual, x, p, engine="vm")(x, p)
    results, errors, compiles = [], [], []
    schedule = jac._schedule
    compile = schedule.compile
    schedule.compile = lambda: compiles.append(1) or compile()

    def work():
        try:
            for _ in range(10):
                results.append(jac(x, p))
                y, J = jac.value_and_jacobian(x, p)
                np.testing.assert_allclose(y, residual(x, p), rtol=1e-13)
                results.append(J)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 80
    assert jac.engine == "vm" and len(compiles) == 1
    for J in results:
        _same(J, expected)


def test_schedule_rule():
    g = symasd.trace(rosen, np.zeros(100))
    P = symasd.hessian_sparsity(g)
    from symasd.modes import HESSIAN, Candidate

    cand = Candidate.of(HESSIAN["star"], P)
    s = tiering.CompileSchedule.start(g, cand, lambda: None)
    assert s.threshold == costs.compile_seconds(g) and not s.counted
    estimate = s.estimate()
    cost = costs.compile_cost(g, cand.mode, cand.coloring)
    assert estimate == costs.compile_seconds(g, cost.directions) > costs.compile_seconds(g)
    assert s.pays_within(10, estimate / 4) and not s.pays_within(10, estimate / 6)
    assert s.compiles_upfront() == (estimate <= tiering.UPFRONT_SECONDS)
    s.counted, s.threshold = False, costs.compile_seconds(g)
    tiering.UPFRONT_SECONDS, saved = estimate, tiering.UPFRONT_SECONDS
    try:
        assert s.compiles_upfront()
        tiering.UPFRONT_SECONDS = estimate * 0.99
        assert not s.compiles_upfront()
    finally:
        tiering.UPFRONT_SECONDS = saved
    assert not s.record(estimate / 2) and s.record(estimate / 2)


def test_a_compile_past_its_deadline_is_tried_again_later(late_compile, monkeypatch):
    late_compile(0.0)  # estimated at 0 s: the deadline is MIN_BUDGET
    monkeypatch.setattr(tiering, "MIN_BUDGET", 0.0)
    x = np.random.default_rng(5).uniform(-1, 1, 2000)
    hes = symasd.hessian(rosen, x)
    H = hes(x)  # compiles past its deadline of 0 s: abandoned
    schedule = hes._schedule
    assert hes.engine == "tape" and hes.compiled is None and schedule is not None
    assert not schedule.never and schedule.spent == 0.0
    _same(H, symasd.hessian(rosen, x, engine="vm")(x))
    monkeypatch.setattr(tiering, "MIN_BUDGET", 600.0)
    _same(hes(x), H)  # tried again, with time enough
    assert hes.engine == "vm" and hes._schedule is None
    _same(hes(x), H)


def test_deadline_bounds_any_compile():
    from symasd.compiler import CompileTimeout, deadline

    hes = symasd.hessian(rosen, np.zeros(500), engine="tape")
    with pytest.raises(CompileTimeout, match="past its deadline of 0 s"), deadline(0.0):
        hes._mode.compile(hes.graph, hes.coloring)
    with deadline(600.0):
        compiled = hes._mode.compile(hes.graph, hes.coloring)
    assert compiled.matrix_graph.n_nodes > 0


def test_the_compile_budget_does_not_bind_auto_the_memory_does(monkeypatch):
    monkeypatch.setattr(costs, "COMPILE_BUDGET", 10)
    monkeypatch.setattr(costs, "CELL_LIMIT", 10)
    x = np.random.default_rng(6).uniform(-1, 1, 2000)
    stated = symasd.hessian(rosen, x, calls=10**9)
    assert stated.engine == "vm"
    _same(stated(x), symasd.hessian(rosen, x, engine="tape")(x))
    cost = costs.compile_cost(stated.graph, stated._mode, stated.coloring)
    monkeypatch.setattr(tiering, "available_memory", lambda: 4 * cost.bytes)
    assert symasd.hessian(rosen, x, calls=10**9).engine == "vm"
    monkeypatch.setattr(tiering, "available_memory", lambda: 4 * cost.bytes - 1)
    assert symasd.hessian(rosen, x, calls=10**9).engine == "tape"


def test_nested_deadlines_keep_the_earlier():
    from symasd.compiler import CompileTimeout, deadline

    hes = symasd.hessian(rosen, np.zeros(500), engine="tape")
    with pytest.raises(CompileTimeout, match="past its deadline of 0 s"), deadline(0.0), \
            deadline(600.0):
        hes._mode.compile(hes.graph, hes.coloring)
    with deadline(600.0), deadline(0.0), pytest.raises(CompileTimeout,
                                                       match="deadline of 0 s"):
        hes._mode.compile(hes.graph, hes.coloring)
    assert isinstance(CompileTimeout("x"), symasd.SymasdError)


def test_to_source_on_the_tape_compiles_what_auto_would(late_compile):
    late_compile(3600.0)
    hes = symasd.hessian(rosen, np.zeros(1000))
    assert (hes.engine, hes.mode, hes.ncolors) == ("tape", "acyclic", 2)
    src = hes.to_source()
    vm = symasd.hessian(rosen, np.zeros(1000), engine="vm")
    assert src.splitlines()[2:6] == vm.to_source().splitlines()[2:6]  # the header
    assert "star coloring" in src and "mode='star'" in src
    # compiled for the module, the object switched to it
    assert (hes.engine, hes.mode, hes.ncolors) == ("vm", "star", 3)
    assert hes._schedule is None
    x = np.linspace(-1, 1, 1000)
    _same(hes(x), vm(x))


def test_a_failing_compile_warns_and_keeps_the_tape(late_compile):
    late_compile(0.0)
    jac = symasd.jacobian(residual, np.zeros(300), np.ones(299))

    def broken():
        raise ValueError("no compiler today")

    jac._schedule.compile = broken
    x, p = np.linspace(-1, 1, 300), np.full(299, 0.5)
    with pytest.warns(RuntimeWarning, match="stays on the tape .ValueError: no compiler") as seen:
        J = jac(x, p)
    assert seen[0].filename == __file__  # the warning points at the caller's line
    assert jac.engine == "tape" and jac._schedule is None
    _same(J, symasd.jacobian(residual, x, p, engine="vm")(x, p))


def test_a_failing_compile_at_preparation_warns_and_keeps_the_tape(monkeypatch):
    from symasd.modes import HessianMode

    def broken(self, graph, coloring):
        raise ValueError("no compiler today")

    monkeypatch.setattr(HessianMode, "compile", broken)
    for kw in ({}, {"calls": 10**9}):
        with pytest.warns(RuntimeWarning, match="stays on the tape") as seen:
            hes = symasd.hessian(rosen, np.zeros(20), **kw)
        assert seen[0].filename == __file__
        assert hes.engine == "tape" and hes._schedule is None
        x = np.linspace(-1, 1, 20)
        _same(hes(x), symasd.hessian(rosen, x, engine="tape")(x))


def test_the_memory_is_checked_again_when_the_compile_starts(late_compile, monkeypatch):
    late_compile(0.0)
    hes = symasd.hessian(rosen, np.zeros(300))
    hes._schedule.bytes = 10**6
    monkeypatch.setattr(tiering, "available_memory", lambda: 10**6)
    H = hes(np.ones(300))
    assert hes.engine == "tape" and hes._schedule is None
    _same(H, symasd.hessian(rosen, np.ones(300), engine="vm")(np.ones(300)))


def test_a_stated_call_count_times_the_second_call(monkeypatch):
    """calls=k compiles at preparation from the second of two timed tape calls (the
    first sets up); k <= 2 times none and compiles nothing."""
    x = np.random.default_rng(7).uniform(-1, 1, 3000)
    seen = []

    def pays_within(self, calls, call_seconds):
        seen.append(calls)
        return False

    monkeypatch.setattr(tiering.CompileSchedule, "pays_within", pays_within)
    for calls in (0, 1, 2):
        hes = symasd.hessian(rosen, x, calls=calls)
        assert hes.engine == "tape" and hes._schedule.calls == 0
    assert seen == []
    hes = symasd.hessian(rosen, x, calls=3)
    assert seen == [3] and hes.engine == "tape" and hes._schedule.min_calls == 3


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 5), st.lists(st.floats(1e-6, 1e-2), min_size=1, max_size=60),
       st.floats(1e-5, 5e-2), st.booleans())
def test_schedule_record_follows_the_rule(min_calls, calls, estimate, counted):
    """CompileSchedule.record is due exactly at the first call after the stated ones
    at which the calls after them have cost the estimate, and sets the deadline to
    twice it (at least MIN_BUDGET); the directions are counted at most once."""
    g = symasd.trace(rosen, np.zeros(6))
    counts = []

    def count_directions():
        counts.append(1)
        s.threshold, s.counted = estimate, True
        return s.threshold

    s = tiering.CompileSchedule(g, None, lambda: None, min_calls,
                                threshold=estimate if counted else estimate / 3,
                                counted=counted)
    s.estimate = count_directions
    spent, due_at = 0.0, None
    for k, seconds in enumerate(calls, start=1):
        if k > min_calls:
            spent += seconds
        if s.record(seconds):
            due_at = k
            break
    expected = next((k for k in range(min_calls + 1, len(calls) + 1)
                     if sum(calls[min_calls:k]) >= estimate), None)
    assert due_at == expected
    assert len(counts) <= 1
    if due_at is not None:
        assert s.budget == max(tiering.DEADLINE_FACTOR * estimate, tiering.MIN_BUDGET)
        assert s.spent == pytest.approx(spent)
