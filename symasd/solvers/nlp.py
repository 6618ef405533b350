"""A nonlinear program ``min f(x) s.t. cl <= c(x) <= cu, lb <= x <= ub`` with
its derivatives prepared by symasd, for the minimize backends.

Three prepared derivatives, each traced once:

* the objective's gradient: the Jacobian of ``f`` (one row, reverse mode: one
  vector-Jacobian product), with ``f``'s value in the same sweep;
* the Jacobian of the nonlinear constraints, all of them in one graph,
  stacked above the linear constraints' constant rows (one CSR structure);
* the Hessian of the Lagrangian ``sigma * f(x) + lam . g(x)`` with ``sigma``
  and ``lam`` as parameters, prepared on first use (IPOPT asks for exactly
  this matrix; trust-constr gets its objective part with ``sigma = 1, lam =
  0`` and its constraint part with ``sigma = 0``). Its pattern is the union of
  the objective's and the constraints' Hessian patterns, fixed whatever the
  multipliers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..api import hessian as prepare_hessian
from ..api import jacobian as prepare_jacobian
from ..errors import InputError
from ..sweeps import reverse_numeric
from ..tracing import SymArray, _call_traced, trace_into
from .constraints import ConstraintSet
from .graphs import append_lagrangian, restricted
from .prepare import Arguments, traced_array, tracing

__all__ = ["NLP"]

_ONE = np.ones((1, 1))  # the reverse sweep's seed of a scalar objective
_ONE.flags.writeable = False


class NLP:
    """The objective ``fun(x, *args)`` and a :class:`ConstraintSet`, prepared at
    ``x0`` with ``engine`` (``"vm"``, ``"tape"`` or ``"auto"``: tape first, each
    derivative compiled once its calls pay). Every method takes the flat point
    ``xf`` and the parameter arrays ``params``.

    Example
    -------
    >>> import numpy as np
    >>> from scipy.optimize import NonlinearConstraint
    >>> from symasd.solvers.constraints import ConstraintSet
    >>> from symasd.solvers.nlp import NLP
    >>> from symasd.solvers.prepare import Arguments
    >>> cs = ConstraintSet(NonlinearConstraint(lambda x: x[0] * x[1], 1.0, np.inf), (2,))
    >>> nlp = NLP(lambda x: x[0] ** 2 + x[1] ** 2, np.ones(2), Arguments(()), cs, "tape")
    >>> nlp.gradient(np.array([1.0, 2.0]), ())
    array([2., 4.])
    >>> nlp.hessian(np.array([1.0, 2.0]), 1.0, np.array([3.0]), ()).toarray()
    array([[2., 3.],
           [3., 2.]])
    """

    def __init__(self, fun: Callable, x0: np.ndarray, arguments: Arguments,
                 constraints: ConstraintSet, engine: str):
        self.fun, self.arguments, self.constraints = fun, arguments, constraints
        self.engine = engine
        self.shape = x0.shape
        self.n = x0.size
        self._x0 = x0
        a, cs = arguments, constraints
        traced_shape = {}

        def constraints_and_objective(x, *params):
            # the constraints first: their graph is then a prefix of the trace,
            # which it views instead of copying when that prefix holds no
            # parameter leaf (no array args) and few nodes they do not read
            # (graphs.restricted)
            parts = [cs.nonlinear(x)] if cs.nonlinear_items else []
            with tracing("fun", x0.shape, a):
                fx = traced_array(_call_traced(fun, x.copy(), *a.full(params)))
                # (np.shape of a symbolic array is not its shape)
                traced_shape["fun"] = fx.shape if isinstance(fx, SymArray) else np.shape(fx)
                parts.append(np.reshape(fx, -1))
            return np.concatenate(parts) if len(parts) > 1 else parts[0]

        def lagrangian(builder, ids):
            if int(np.prod(traced_shape["fun"])) != 1:
                raise InputError("minimize: fun must return a scalar (the objective), but "
                                 f"it returns an array of shape {traced_shape['fun']}")
            return append_lagrangian(builder, ids, ids.size - 1)

        # one trace of c, f and the Lagrangian together (tracing is most of the
        # preparation); the three graphs below share its nodes
        g = trace_into(None, constraints_and_objective, x0, *a.initial, extend=lagrangian)
        c_nodes, f_node = g.outputs[:-2], g.outputs[-2:-1]
        # the parameters: the caller's, then sigma and (with constraints) lam
        user_params = g.param_shapes[:len(g.param_shapes) - 1 - (c_nodes.size > 0)]
        self._lagrangian_graph = restricted(g, g.outputs[-1:], (), g.param_shapes)
        self._objective_graph = restricted(g, f_node, traced_shape["fun"], user_params)
        # the tape's gradient is one reverse sweep, dense (an input outside the
        # pattern gets no adjoint: exactly 0), so it needs neither the pattern nor a
        # coloring; the other engines prepare the gradient now (auto, whose
        # schedule may compile it later, through its prepared Jacobian)
        self._objective = None
        if engine != "tape":
            self.objective  # noqa: B018  (the property prepares it)
        if cs.nonlinear_items:
            # the constraints read no parameter: SciPy passes them x alone
            self.constraint_jacobian = prepare_jacobian(
                restricted(g, c_nodes, (c_nodes.size,), ()), x0, engine=engine)
            cs.set_nonlinear_sizes(cs.traced_sizes)
            J = self.constraint_jacobian.sparsity
            indptr = np.concatenate([J.indptr, J.nnz + cs.A.indptr[1:]])
            indices = np.concatenate([J.indices, cs.A.indices])
        else:
            self.constraint_jacobian = None
            indptr, indices = cs.A.indptr, cs.A.indices
        self.m = cs.m
        self.jacobian_indptr = indptr.astype(np.int64)
        self.jacobian_indices = indices.astype(np.int64)
        self._lagrangian = None

    # the objective -----------------------------------------------------------
    @property
    def objective(self):
        """The prepared gradient of ``f``, a one-row Jacobian in reverse mode
        (prepared on first use with the tape engine, which does not need it)."""
        if self._objective is None:
            self._objective = prepare_jacobian(self._objective_graph, self._x0,
                                               mode="reverse", engine=self.engine)
        return self._objective

    def value(self, xf, params) -> float:
        return float(self._objective_graph(xf.reshape(self.shape), *params).ravel()[0])

    def value_and_gradient(self, xf, params) -> tuple[float, np.ndarray]:
        if self.engine == "tape":
            y, B = reverse_numeric(self._objective_graph, xf.reshape(self.shape), params,
                                   _ONE)
            return float(y[0]), B.reshape(self.n)
        y, data = self.objective._value_and_data(xf.reshape(self.shape), params)
        g = np.zeros(self.n)
        g[self.objective.sparsity.indices] = data
        return float(y[0]), g

    def gradient(self, xf, params) -> np.ndarray:
        return self.value_and_gradient(xf, params)[1]

    # the constraints (stacked, internal order) -------------------------------
    def constraint_values(self, xf) -> np.ndarray:
        cs = self.constraints
        lin = cs.linear_values(xf)
        if self.constraint_jacobian is None:
            return lin
        g = self.constraint_jacobian.graph(xf.reshape(self.shape)).ravel()
        return np.concatenate([g, lin]) if lin.size else g

    def jacobian_data(self, xf) -> np.ndarray:
        """The stacked constraint Jacobian's nonzeros, in the order of
        ``jacobian_indptr`` / ``jacobian_indices``."""
        A = self.constraints.A
        if self.constraint_jacobian is None:
            return A.data.copy()
        data = self.constraint_jacobian._data(xf.reshape(self.shape), ())
        return np.concatenate([data, A.data]) if A.nnz else data

    def constraint_values_and_jacobian_data(self, xf) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`constraint_values` and :meth:`jacobian_data` from one sweep (the
        Jacobian's forward sweep computes the values on its way)."""
        cs, A = self.constraints, self.constraints.A
        lin = cs.linear_values(xf)
        if self.constraint_jacobian is None:
            return lin, A.data.copy()
        y, data = self.constraint_jacobian._value_and_data(xf.reshape(self.shape), ())
        return ((np.concatenate([y, lin]) if lin.size else y),
                (np.concatenate([data, A.data]) if A.nnz else data))

    def jacobian(self, xf) -> sp.csr_array:
        """The stacked constraint Jacobian (``m x n``), the same structure every call."""
        return sp.csr_array((self.jacobian_data(xf), self.jacobian_indices, self.jacobian_indptr),
                            shape=(self.m, self.n))

    @property
    def jacobian_sparsity(self) -> sp.csr_array:
        return sp.csr_array((np.ones(self.jacobian_indices.size, dtype=bool),
                             self.jacobian_indices, self.jacobian_indptr), shape=(self.m, self.n))

    # the Lagrangian's Hessian --------------------------------------------------
    @property
    def lagrangian_hessian(self):
        """The prepared Hessian of ``sigma * f + lam . g`` (prepared on first use)."""
        if self._lagrangian is None:
            self._lagrangian = prepare_hessian(self._lagrangian_graph, self._x0,
                                               engine=self.engine)
        return self._lagrangian

    def prepare_hessian(self) -> None:
        """Prepare the Lagrangian's Hessian now (the time goes to the caller's
        preparation, not to the solve)."""
        self.lagrangian_hessian  # noqa: B018  (the property prepares it)

    def hessian(self, xf, sigma: float, lam, params) -> sp.csr_array:
        """``sigma * H_f + sum_i lam_i H_{g_i}`` at ``xf`` (``lam``: the multipliers of
        the nonlinear rows; the linear rows have no curvature)."""
        return self.lagrangian_hessian._matrix(self.hessian_data(xf, sigma, lam, params))

    def hessian_data(self, xf, sigma: float, lam, params) -> np.ndarray:
        """The nonzeros of :meth:`hessian`, in the order of ``lagrangian_hessian.sparsity``."""
        hes = self.lagrangian_hessian
        s = np.array([float(sigma)])
        if self.constraints.m_nonlinear:
            lam = np.asarray(lam, dtype=np.float64)[: self.constraints.m_nonlinear]
            return hes._data(xf.reshape(self.shape), (*params, s, lam))
        return hes._data(xf.reshape(self.shape), (*params, s))
