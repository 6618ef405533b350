"""How the op-table tests build nodes of one op: the constant payload of the ops
that carry one (``Op.payload``), passed to the op's NumPy rule too."""

import numpy as np

from symasd.ops import OPS, Code

# POWC's exponent, POLYGAMMA's order (trigamma: its partials are polygamma 2 and 3)
PAYLOAD = {Code.POWC: 2.5, Code.POLYGAMMA: 1.0}


def op_nodes(b, code, x):
    """Nodes of ``code`` applied to the rows of the id array ``x`` (one row per argument)."""
    if code == Code.POWC:
        return b.powc(x[0], PAYLOAD[code])
    if code in PAYLOAD:
        return b.unary_payload(code, x[0], PAYLOAD[code])
    if len(x) == 1:
        return b.unary(code, x[0])
    if len(x) == 2:
        return b.binary(code, x[0], x[1])
    return b.where(x[0], x[1], x[2])


def numpy_rule(code, *pts):
    """The op's NumPy rule on the rows ``pts`` (its payload last, if it has one)."""
    row = OPS[code]
    with np.errstate(all="ignore"):
        return row.numpy(*pts, PAYLOAD[code]) if code in PAYLOAD else row.numpy(*pts)


def payload_array(code, n):
    """The ``const`` column of ``n`` nodes of ``code``."""
    return np.full(n, PAYLOAD.get(code, 0.0))
