"""The ``symasd`` command line: ``symasd demo`` and ``symasd export``.

Only argument parsing: what a command computes and prints lives in the
library (:mod:`symasd.demo`, :mod:`symasd.export`). A user's mistake
(:class:`~symasd.errors.CommandError`) is printed on one line, with exit
status 2 and no traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import demo
from .codegen import write_atomically
from .errors import CommandError, InputError
from .export import export_function, parse_shape


def main(argv: list[str] | None = None) -> int:
    """Run the ``symasd`` command with ``argv`` (default: ``sys.argv[1:]``); the exit status.

    Example
    -------
    >>> main(["demo", "--n", "6", "--k", "2", "--max-n", "0"])
    symasd demo: iter_diff(x, k=2) applies np.diff 2 times; n = 6
    ...
    0
    """
    parser = argparse.ArgumentParser(prog="symasd", description="Automatic sparse "
                                     "differentiation of NumPy code.")
    sub = parser.add_subparsers(dest="command", required=True)
    parse_demo = sub.add_parser("demo", help="the full pipeline on the iter_diff demonstration")
    parse_demo.add_argument("--n", type=int, default=10, help="input length (default 10)")
    parse_demo.add_argument("--k", type=int, default=3,
                            help="number of differences (default 3)")
    parse_demo.add_argument("--max-n", type=int, default=10_000,
                            help="largest n of the benchmark (default 10000; 0 skips it)")
    parse_demo.add_argument("--plot", default="symasd_demo.png",
                            help="where to save the benchmark plot when matplotlib is "
                            "installed")
    parse_export = sub.add_parser(
        "export", help="write the sparse Jacobian (or Hessian) of a function as a standalone "
        "NumPy or CuPy module")
    parse_export.add_argument("target", metavar="MODULE:FUNCTION",
                              help="an importable module name or a path to a .py file, and "
                              "the function's name")
    parse_export.add_argument("--shape", required=True,
                              help="the input's shape, N or N,M,... (float64 zeros of that "
                              "shape are traced)")
    parse_export.add_argument("--hessian", action="store_true",
                              help="the Hessian of a scalar function (default: the Jacobian)")
    parse_export.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    parse_export.add_argument("-o", "--output", metavar="OUT.py",
                              help="where to write the module (default, or -: standard "
                              "output)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        try:
            return demo.run(args.n, args.k, args.max_n, args.plot)
        except CommandError as err:
            print(f"symasd demo: error: {err}", file=sys.stderr)
            return 2
    command = " ".join(["symasd export", args.target, "--shape", args.shape]
                       + (["--hessian"] if args.hessian else [])
                       + (["--backend", args.backend] if args.backend != "numpy" else []))
    try:
        source = export_function(args.target, parse_shape(args.shape), args.hessian,
                                 args.backend, command)
        if args.output and args.output != "-":
            write_atomically(args.output, source)
        else:
            sys.stdout.write(source)
    except (CommandError, InputError) as err:   # InputError: the output path (-o)
        print(f"symasd export: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"symasd export: error: cannot write {args.output}: {err.strerror or err}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symasd export: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
