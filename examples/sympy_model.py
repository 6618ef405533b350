"""A model written in SymPy, differentiated by symasd.

The Robertson chemical kinetics problem (a classic stiff ODE) has three
species and rate constants k1, k2, k3:

    y1' = -k1 y1 + k3 y2 y3
    y2' =  k1 y1 - k3 y2 y3 - k2 y2^2
    y3' =                     k2 y2^2

``symasd.from_sympy`` turns the expressions into a graph (the rate constants
become parameters), from which we read the Jacobian pattern, prepare the
sparse Jacobian, and compare with SymPy's own symbolic Jacobian. A scalar
energy shows the Hessian side.

Run: python examples/sympy_model.py
"""

import numpy as np
import sympy

import symasd

y1, y2, y3 = y = sympy.symbols("y1 y2 y3")
k1, k2, k3 = k = sympy.symbols("k1 k2 k3")
rates = [-k1 * y1 + k3 * y2 * y3,
         k1 * y1 - k3 * y2 * y3 - k2 * y2**2,
         k2 * y2**2]

g = symasd.from_sympy(rates, y, params=k)
print(f"graph: {g.n_inputs} inputs, {g.n_outputs} outputs, {g.n_nodes} nodes")
print("back to SymPy:", g.to_sympy())    # inputs named x0.., parameters p0..

# The pattern: y1' and y2' depend on all three species, y3' only on y2.
P = symasd.jacobian_sparsity(g)
print("Jacobian pattern:\n", P.toarray().astype(int))
assert P.toarray().astype(int).tolist() == [[1, 1, 1], [1, 1, 1], [0, 1, 0]]

# A prepared Jacobian of the graph; the parameters are passed at every call.
jac = symasd.jacobian(g, np.zeros(3))
kval = np.array([0.04, 3e7, 1e4])
point = np.array([0.9, 3e-5, 0.1])
J = jac(point, kval)
print("Jacobian at", point, ":\n", J.toarray())

# Independent check: SymPy's symbolic Jacobian, evaluated with lambdify.
J_sympy = sympy.lambdify([y, k], sympy.Matrix(rates).jacobian(y), "numpy")
J_ref = np.array(J_sympy(point, kval), dtype=float)
assert np.allclose(J.toarray(), J_ref, rtol=1e-14, atol=0)
print("matches sympy.Matrix.jacobian")

# Mass conservation: the three rates sum to zero, so the rows of J sum to zero.
assert np.allclose(J.sum(axis=0), 0.0, atol=1e-9)

# A scalar model: energy of a chain of springs with a nonlinear (quartic) term.
x = sympy.symbols("x0:6")
energy = sum((x[i + 1] - x[i]) ** 2 / 2 + (x[i + 1] - x[i]) ** 4 / 4 for i in range(5)) \
    + sympy.cos(x[0])
ge = symasd.from_sympy(energy, x)
Hp = symasd.hessian_sparsity(ge)
print("Hessian pattern of the spring chain:\n", Hp.toarray().astype(int))
hes = symasd.hessian(ge, np.zeros(6))
xv = np.linspace(0.0, 1.0, 6) ** 2
v, grad, H = hes.value_gradient_and_hessian(xv)
H_ref = np.array(sympy.lambdify([x], sympy.hessian(energy, x), "numpy")(xv), dtype=float)
assert np.allclose(H.toarray(), H_ref, rtol=1e-13, atol=1e-13)
assert np.isclose(v, float(energy.subs(dict(zip(x, xv, strict=True)))), rtol=1e-13)
print(f"Hessian: {hes.ncolors} HVPs ({hes.mode} coloring), matches sympy.hessian")
