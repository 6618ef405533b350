"""Random NumPy programs for property-based tests of tracing, patterns and derivatives.

A program is a list of steps over a pool of 1-D arrays that starts with ``x``.
It runs through a namespace of primitive functions: :data:`NUMPY` (plain
NumPy, used both for tracing and for real-valued evaluation) or
:data:`COMPLEX_STEP` (the same functions made complex-step safe, so that the
derivatives of piecewise functions are exact as well). Coefficients are
generic numbers that depend on the step index, so no derivative cancels
exactly unless the program structure forces it.
"""

from types import SimpleNamespace

import numpy as np
from hypothesis import strategies as st

SMOOTH = ["sin", "cos", "tanh", "arctan", "exp", "sqrt1p", "log1p2", "arcsinh", "square",
          "expm1", "arcsin", "arccosh", "arctanh", "sinh", "cosh", "log2", "log10", "powc",
          "reciprocal", "log", "tan", "arccos", "hypot1", "cbrt"]
SELECT = ["abs", "sign", "floor", "maximum", "minimum", "clip", "where"]
# guarded branches: np.where(guard, a, b) whose untaken branch is NaN or infinite
# (a negative base to a fractional power, log of a negative, division by zero)
GUARDED = ["guard_pow", "guard_log", "guard_div"]


def _real(z):
    return np.real(z)


NUMPY = SimpleNamespace(
    abs=np.abs, sign=np.sign, floor=np.floor, maximum=np.maximum, minimum=np.minimum,
    clip=np.clip, where=np.where, gt=lambda a, b: a > b, hypot=np.hypot, cbrt=np.cbrt,
)
COMPLEX_STEP = SimpleNamespace(
    abs=lambda z: np.where(_real(z) < 0, -z, z),
    sign=lambda z: np.sign(_real(z)),
    floor=lambda z: np.floor(_real(z)),
    maximum=lambda a, b: np.where(_real(a) >= _real(b), a, b),
    minimum=lambda a, b: np.where(_real(a) <= _real(b), a, b),
    clip=lambda z, lo, hi: np.where(_real(z) < lo, lo, np.where(_real(z) > hi, hi, z)),
    where=np.where,
    gt=lambda a, b: _real(a) > _real(b),
    hypot=lambda a, b: np.sqrt(a * a + b * b),
    cbrt=lambda z: np.where(_real(z) < 0, -((-z) ** (1 / 3)), z ** (1 / 3)),
)


def coef(t: int, h: int) -> float:
    return 0.55 + 0.1371 * ((7 * t + 3) % 11) + 0.0213 * h + 0.00113 * t


def _unary(ns, name, u):
    t = np.tanh(u)
    return {
        "sin": lambda: np.sin(u), "cos": lambda: np.cos(u), "tanh": lambda: t,
        "arctan": lambda: np.arctan(u), "exp": lambda: np.exp(0.3 * u),
        "sqrt1p": lambda: np.sqrt(1 + u * u), "log1p2": lambda: np.log1p(u * u),
        "arcsinh": lambda: np.arcsinh(u), "square": lambda: np.square(u),
        "expm1": lambda: np.expm1(0.3 * u), "arcsin": lambda: np.arcsin(0.5 * t),
        "arccosh": lambda: np.arccosh(2 + u * u), "arctanh": lambda: np.arctanh(0.5 * t),
        "sinh": lambda: np.sinh(0.5 * t), "cosh": lambda: np.cosh(0.5 * t),
        "log2": lambda: np.log2(2 + u * u), "log10": lambda: np.log10(2 + u * u),
        "powc": lambda: (1.5 + u * u) ** 1.3, "reciprocal": lambda: np.reciprocal(2 + u * u),
        "log": lambda: np.log(2 + np.sin(u)), "tan": lambda: np.tan(0.5 * t),
        "arccos": lambda: np.arccos(0.5 * t), "hypot1": lambda: ns.hypot(u, 1.5),
        "cbrt": lambda: ns.cbrt(2 + np.sin(u)),
        "abs": lambda: ns.abs(u), "sign": lambda: ns.sign(u) * 0.5 + u,
        "floor": lambda: ns.floor(2 * u) + u * u, "maximum": lambda: ns.maximum(u, 0.1),
        "minimum": lambda: ns.minimum(u, np.sin(u)), "clip": lambda: ns.clip(u, -0.3, 0.4),
        "where": lambda: ns.where(ns.gt(u, 0.05), u * u, np.sin(u)),
        "guard_pow": lambda: ns.where(ns.gt(u, 0.3), (u - 0.3) ** 3.5, 0.0),
        "guard_log": lambda: ns.where(ns.gt(u, 0.0), u ** 3 * np.log(u), 0.0),
        "guard_div": lambda: ns.where(ns.gt(u, 0.2), (u - 0.2) ** 3 / ns.maximum(u - 0.2, 0.0),
                                      0.0),
    }[name]()


@st.composite
def programs(draw, max_steps=6, selections=True, n_min=2, n_max=6, guarded=False):
    """A random program: ``(n, steps)`` with ``steps`` a list of tuples; with
    ``guarded``, its elementwise steps include the :data:`GUARDED` idioms."""
    n = draw(st.integers(n_min, n_max))
    lengths = [n]
    steps = []
    names = SMOOTH + (SELECT if selections else []) + (GUARDED * 3 if guarded else [])
    kinds = ["unary", "unary", "binary", "binary", "rev", "take", "roll", "concat", "diff",
             "pad", "cumsum", "reduce", "matvec", "outer", "einsum", "assign", "scatter",
             "reshape"]
    for t in range(draw(st.integers(1, max_steps))):
        i = draw(st.integers(0, len(lengths) - 1))
        j = draw(st.integers(0, len(lengths) - 1))
        li, lj = lengths[i], lengths[j]
        h = draw(st.integers(0, 9))
        kind = draw(st.sampled_from(kinds))
        if kind == "unary":
            step, out = (kind, draw(st.sampled_from(names)), i, t, h), li
        elif kind == "binary":
            step = (kind, draw(st.sampled_from(["add", "sub", "mul", "div"])), i, j, t, h)
            out = min(li, lj)
        elif kind == "take":
            idx = draw(st.lists(st.integers(0, li - 1), min_size=1, max_size=2 * li))
            step, out = (kind, i, tuple(idx)), len(idx)
        elif kind == "roll":
            step, out = (kind, i, draw(st.integers(-3, 3))), li
        elif kind == "concat":
            step, out = (kind, i, j), li + lj
        elif kind == "diff" and li >= 2:
            step, out = (kind, i), li - 1
        elif kind == "pad":
            step, out = (kind, i, h % 3, (h + 1) % 2, t, h), li + h % 3 + (h + 1) % 2
        elif kind == "cumsum":
            step, out = (kind, i), li
        elif kind == "reduce":
            how = draw(st.sampled_from(["sum", "mean", "prod"] if li <= 4 else ["sum", "mean"]))
            step, out = (kind, how, i), 1
        elif kind in ("matvec", "einsum"):
            rows = draw(st.integers(1, 4))
            seed = draw(st.integers(0, 2**16))
            step, out = (kind, i, rows, seed), rows
        elif kind == "outer":
            step, out = (kind, i, j), min(li, 3) * min(lj, 3)
        elif kind == "assign" and li >= 2:
            step, out = (kind, i, j, t, h), li
        elif kind == "scatter":
            idx = draw(st.lists(st.integers(0, li - 1), min_size=1, max_size=min(lj, 6)))
            step, out = (kind, i, j, tuple(idx)), li
        elif kind == "reshape" and li % 2 == 0 and li >= 4:
            step, out = (kind, i, h % 2), li // 2 if h % 2 == 0 else li
        else:
            step, out = ("rev", i), li
        steps.append(step)
        lengths.append(out)
    return n, steps


def run(program, x, ns=NUMPY):
    """Evaluate ``program`` on ``x`` (NumPy, complex or symbolic)."""
    _, steps = program
    pool = [x]
    for step in steps:
        pool.append(_apply(ns, step, pool))
    return pool[-1]


def run_scalar(program, x, ns=NUMPY):
    y = run(program, x, ns)
    w = np.array([coef(k, 5) for k in range(y.shape[0])])
    return np.sum(w * y)


def _apply(ns, step, pool):
    kind = step[0]
    if kind == "unary":
        _, name, i, t, h = step
        return _unary(ns, name, coef(t, h) * pool[i] + 0.1 * (h - 4))
    if kind == "binary":
        _, how, i, j, t, h = step
        m = min(pool[i].shape[0], pool[j].shape[0])
        u, v = pool[i][:m], pool[j][:m]
        a, b = coef(t, h), coef(t, h) + 0.0731
        if how == "add":
            return a * u + b * v
        if how == "sub":
            return a * u - b * v
        if how == "mul":
            return a * u * v
        return u / (1.5 + v * v)
    if kind == "rev":
        return pool[step[1]][::-1]
    if kind == "take":
        return pool[step[1]][np.array(step[2])]
    if kind == "roll":
        return np.roll(pool[step[1]], step[2])
    if kind == "concat":
        return np.concatenate([pool[step[1]], pool[step[2]]])
    if kind == "diff":
        return np.diff(pool[step[1]])
    if kind == "pad":
        _, i, left, right, t, h = step
        return np.pad(pool[i], (left, right), constant_values=0.5 * h)
    if kind == "cumsum":
        return np.cumsum(pool[step[1]])
    if kind == "reduce":
        _, how, i = step
        return np.atleast_1d(getattr(np, how)(pool[i]))
    if kind in ("matvec", "einsum"):
        _, i, rows, seed = step
        r = np.random.default_rng(seed)
        M = r.uniform(0.5, 1.5, size=(rows, pool[i].shape[0]))
        M[r.random(M.shape) < 0.4] = 0.0
        return M @ pool[i] if kind == "matvec" else np.einsum("ij,j->i", M, pool[i])
    if kind == "outer":
        return np.outer(pool[step[1]][:3], pool[step[2]][:3]).ravel()
    if kind == "assign":
        _, i, j, t, h = step
        u, v = pool[i], pool[j]
        y = np.zeros_like(u)
        m = min(u.shape[0] - 1, v.shape[0])
        y[1:m + 1] = coef(t, h) * u[1:m + 1] * v[:m]
        y[0] = u[0]
        return y
    if kind == "scatter":
        _, i, j, idx = step
        y = np.zeros_like(pool[i]) + pool[i]
        np.add.at(y, np.array(idx), pool[j][: len(idx)] ** 2)
        return y
    if kind == "reshape":
        _, i, how = step
        u = pool[i].reshape(2, -1)
        return u.sum(axis=0) if how == 0 else u.T.ravel()
    raise AssertionError(kind)
