"""The ``symasd`` command line: ``symasd demo``.

Only argument parsing: what a command computes and prints lives in the
library (:mod:`symasd.demo`).
"""

from __future__ import annotations

import argparse
import sys

from . import demo


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
    args = parser.parse_args(argv)
    return demo.run(args.n, args.k, args.max_n, args.plot)


if __name__ == "__main__":
    sys.exit(main())
