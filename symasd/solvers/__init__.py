"""SciPy's solver interfaces with exact sparse derivatives.

Change ``from scipy.optimize import root, least_squares, minimize`` (or
``from scipy.integrate import solve_ivp``) to ``from symasd.solvers import
...``, write only the NumPy functions, and the solver receives exact sparse
Jacobians and Hessians with a fixed structure instead of finite differences.
Each function has a prepared form (``RootProblem`` ...) that traces once and
solves again for new starting points and parameters.

The modules, in dependency order:

    prepare       starting points, SciPy-style args (parameters and static data),
                  tracing errors, the engine
    linalg        sparse LU with a fixed structure: the ordering computed once
    newton        Newton's method with a line search
    rootfinding   root(), RootProblem
    bounds        bounds on the unknowns as SciPy takes them
    leastsq       least_squares(), LeastSquaresProblem
    constraints   SciPy's constraint forms, stacked into one function and Jacobian
    nlp           the objective, constraints and Lagrangian Hessian, prepared
    trustconstr   minimize(method="trust-constr"): SciPy's, exact derivatives
    ipopt         minimize(method="ipopt"): IPOPT through cyipopt (optional)
    optimize      minimize(), MinimizeProblem
    ivp           solve_ivp(), IVPProblem
"""

from .ivp import IVPProblem, solve_ivp
from .leastsq import LeastSquaresProblem, least_squares
from .optimize import MinimizeProblem, minimize
from .rootfinding import RootProblem, root

__all__ = ["root", "RootProblem", "least_squares", "LeastSquaresProblem", "minimize",
           "MinimizeProblem", "solve_ivp", "IVPProblem"]
