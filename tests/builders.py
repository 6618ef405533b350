"""Builders for tests that compare symasd's C fast paths with its NumPy rules."""


class NumPyPathTable:
    """A node table whose one-pass C interning always declines: ``Builder.binary``
    then takes its NumPy path, the reference for the rules ported to C."""

    def __init__(self, table):
        self._table = table

    def intern_simple_binary(self, *args):
        return None

    def __getattr__(self, name):
        return getattr(self._table, name)
