"""``python -m pc_middleware <command>``: tools for the middleware's setup."""

from __future__ import annotations

import argparse
import logging
import sys

from .check import run_check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pc_middleware", description="Tools for pc-middleware's setup.")
    commands = parser.add_subparsers(dest="command", metavar="command")
    check = commands.add_parser(
        "check",
        help="show the configuration and make one call to see whether PureClarity accepts the keys",
        description="Show the effective PURECLARITY_* configuration (secret masked) and make one call "
        "to PureClarity, with no events and no zones, to see whether the keys are accepted. "
        "Exit code 0: accepted; 1: invalid configuration or failed call; 2: usage error.",
    )
    check.add_argument("--timeout", type=float, help="seconds to wait for the answer (default: PURECLARITY_TIMEOUT)")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    # The check reports every failure itself: the client's WARNING line would only repeat it.
    logging.getLogger("pc_middleware").addHandler(logging.NullHandler())
    return run_check(timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
