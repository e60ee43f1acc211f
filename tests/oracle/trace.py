"""The dynamic side of the oracle: the product's own sandbox and strace parser (faktory.observe), one
implementation for `--observe` and for these tests."""

from faktory.observe.sandbox import (Trace, bwrap_argv, give_to_sandbox, private_dir, run_plain, run_traced,
                                     serve_and_get)
from faktory.observe.strace import PATH_CALLS, parse_strace

__all__ = ["PATH_CALLS", "Trace", "bwrap_argv", "give_to_sandbox", "private_dir", "parse_strace", "run_plain",
           "run_traced", "serve_and_get"]
