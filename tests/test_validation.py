"""One validator: the same mistake gets the same error on every entry point."""

import numpy as np
import pytest

import symasd
from symasd import InputError
from symasd.sweeps import forward_numeric, hvp_numeric, reverse_numeric


def f(x, p):
    return np.sin(x[1:]) * x[:-1] * p[0]


def scalar(x, p):
    return np.sum(x ** 2) * p[0]


X, P = np.linspace(0.1, 0.5, 4), np.array([2.0])


def _entry_points():
    """Every way to evaluate at ``(x, *p)``, by name: the graph, the prepared
    derivatives of both engines and the numeric sweeps."""
    g = symasd.trace(f, X, P)
    h = symasd.trace(scalar, X, P)
    points = {"g(x)": g}
    for engine in ("vm", "tape"):
        jac = symasd.jacobian(f, X, P, engine=engine)
        hes = symasd.hessian(scalar, X, P, engine=engine)
        points[f"jacobian {engine}"] = jac
        points[f"value_and_jacobian {engine}"] = jac.value_and_jacobian
        points[f"hessian {engine}"] = hes
        points[f"value_gradient_and_hessian {engine}"] = hes.value_gradient_and_hessian
    points["forward_numeric"] = lambda x, *p: forward_numeric(g, x, p, np.eye(4))
    points["reverse_numeric"] = lambda x, *p: reverse_numeric(g, x, p, np.eye(3))
    points["hvp_numeric"] = lambda x, *p: hvp_numeric(h, x, p, np.eye(4))
    return points


ENTRY_POINTS = _entry_points()

MISTAKES = {
    "wrong shape": ((np.ones(5), P), "x has shape (5,), but the graph was traced with shape"),
    "wrong parameter shape": ((X, np.ones(2)), "parameter 0 has shape (2,)"),
    "too few parameters": ((X,), "the graph takes 1 parameter array after x, got 0"),
    "too many parameters": ((X, P, P), "the graph takes 1 parameter array after x, got 2"),
    "integer x": ((np.arange(4), P), "x has dtype int64; pass a float64 array"),
    "integer list": (([1, 2, 3, 4], P), "x has dtype int64; pass a float64 array"),
    "integer parameter": ((X, np.array([2])), "parameter 0 has dtype int64"),
    "boolean x": ((X > 0, P), "x has dtype bool; pass a float64 array"),
    "complex x": ((X + 0j, P), "x is complex (complex128); symasd differentiates real"),
    "complex parameter": ((X, P + 0j), "parameter 0 is complex (complex128)"),
    "strings": ((np.array(["a"] * 4), P), "x must be a real array of float64, got ndarray"),
    "ragged list": (([1.0, [2.0]], P), "x must be a real array of float64, got list"),
}


def _message(call, args) -> tuple[type, str]:
    with pytest.raises(InputError) as info:
        call(*args)
    return type(info.value), str(info.value)


@pytest.mark.parametrize("mistake", MISTAKES)
def test_same_mistake_same_message_everywhere(mistake):
    args, start = MISTAKES[mistake]
    messages = {name: _message(call, args) for name, call in ENTRY_POINTS.items()}
    assert len(set(messages.values())) == 1, messages
    kind, text = messages["g(x)"]
    assert kind is InputError and start in text


def test_tracing_uses_the_same_rules():
    """A point that does not trace does not evaluate either, with the same words."""
    g = ENTRY_POINTS["g(x)"]
    for bad in (np.arange(4), X > 0, X + 0j, np.array(["a"] * 4)):
        traced = _message(lambda b: symasd.trace(f, b, P), (bad,))[1]
        called = _message(g, (bad, P))[1]
        assert traced == called.replace("x ", "x0 ", 1)


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_float_array_likes_are_accepted(name):
    """Lists of floats and float32 arrays are points, converted to float64."""
    call = ENTRY_POINTS[name]
    X32 = X.astype(np.float32)
    for x, same in ((X.tolist(), X), (X32, X32.astype(np.float64)), (X[::-1][::-1], X),
                    (np.vstack([X, X])[0], X)):
        expected, got = call(same, P), call(x, P.tolist())
        for a, b in zip(_parts(expected), _parts(got), strict=True):
            np.testing.assert_array_equal(a, b)


def _parts(result) -> list[np.ndarray]:
    """A call's results (one, or a tuple of them) as dense arrays."""
    parts = result if isinstance(result, tuple) else (result,)
    return [p.toarray() if hasattr(p, "toarray") else np.asarray(p) for p in parts]


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_non_finite_points_are_evaluated(name):
    """NaN propagates at call time: finiteness matters only for local tracing."""
    ENTRY_POINTS[name](np.array([np.nan, 1.0, np.inf, 0.5]), P)


def test_local_tracing_needs_a_finite_point():
    with pytest.raises(InputError, match="local tracing needs a finite point: x0"):
        symasd.trace(f, np.array([np.nan, 1, 2, 3.0]), P, local=True)
    with pytest.raises(InputError, match=r"local tracing needs a finite point: p0\[0\]"):
        symasd.trace(f, X, np.array([np.inf]), local=True)


def test_seed_rules():
    g = ENTRY_POINTS["g(x)"]
    # 0/1 integer and boolean seeds (a coloring's) are real directions
    for S in (np.eye(4, dtype=np.int64), np.eye(4, dtype=bool), np.eye(4).tolist()):
        np.testing.assert_array_equal(forward_numeric(g, X, (P,), S)[1],
                                      forward_numeric(g, X, (P,), np.eye(4))[1])
    with pytest.raises(InputError, match=r"seeds is complex \(complex128\)"):
        forward_numeric(g, X, (P,), np.eye(4) + 0j)
    with pytest.raises(InputError, match=r"V has 3 rows, but the graph has n_inputs=4"):
        hvp_numeric(symasd.trace(scalar, X, P), X, (P,), np.eye(3))
    with pytest.raises(InputError, match="seeds must be a real array, got list that NumPy "
                       "cannot make an array of"):
        forward_numeric(g, X, (P,), [[1.0, 0.0], [1.0]])


def test_parameter_count_message_in_the_plural():
    g = symasd.trace(lambda x, p, q: x * p * q, X, P, P)
    with pytest.raises(InputError, match="the graph takes 2 parameter arrays after x, got 1"):
        g(X, P)
    with pytest.raises(InputError, match="the graph takes no parameter arrays after x, got 1"):
        symasd.trace(np.sin, X)(X, P)
