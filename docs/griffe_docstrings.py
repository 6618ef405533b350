"""A Griffe extension for the API reference: symasd's docstrings as mkdocstrings reads them.

The docstrings are written for ``help()`` and doctest, in NumPy style with two
habits of Sphinx that Griffe's NumPy parser does not share:

* the section ``Example`` (singular): Griffe knows only ``Examples``, and would
  render the doctest lines as a quoted paragraph;
* roles such as ``:func:`~symasd.color``` or ``:mod:`symasd.codegen```: shown as
  the code they name (the last component for ``~``), since the name alone is
  what a reader of the page needs.

mkdocs.yml loads this file with the python handler's ``extensions`` option; the
source docstrings stay as they are.
"""

from __future__ import annotations

import re

import griffe

_EXAMPLE = re.compile(r"^(?P<indent>[ \t]*)Example\n(?P=indent)-------[ \t]*$", re.M)
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(?P<tilde>~?)"
                   r"(?P<name>[\w.]+)(?:\(\))?`")


def clean(text: str) -> str:
    """The docstring with ``Example`` sections renamed and roles made code.

    >>> clean(":func:`~symasd.color` colors; see :mod:`symasd.codegen`.")
    '`color` colors; see `symasd.codegen`.'
    >>> clean("Example\\n-------\\n>>> 1\\n1")
    'Examples\\n--------\\n>>> 1\\n1'
    """
    text = _EXAMPLE.sub(lambda m: f"{m['indent']}Examples\n{m['indent']}--------", text)
    return _ROLE.sub(lambda m: "`" + (m["name"].rsplit(".", 1)[-1] if m["tilde"]
                                      else m["name"]) + "`", text)


class SymasdDocstrings(griffe.Extension):
    """Apply :func:`clean` to every docstring Griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = clean(obj.docstring.value)
