"""The ``keras-tfm`` command: one entry point, one module per command.

    keras-tfm env [--json]
    keras-tfm run TASK INPUT... [--model M] [--backend B] [--json] [--batch-size N] [--arg KEY=VALUE]
    keras-tfm convert SRC DST --to FORMAT [...]
    keras-tfm bench [NAME] [-- DRIVER ARGS]
    keras-tfm download MODEL_ID [--revision R] [--cache-dir D]

Exit codes: 0 done, 2 bad usage (argparse, unknown task, malformed model id), 1 the work failed
(the message names the culprit; ``--debug`` shows the traceback).
"""

import argparse
import sys

from keras_tfm.cli import bench, convert, download, env, run
from keras_tfm.cli.common import CommandError, UsageError

COMMANDS = {"env": env, "run": run, "convert": convert, "bench": bench, "download": download}


def build_parser():
    """The ``keras-tfm`` parser, with one subparser per command (each module's ``add_parser``)."""
    parser = argparse.ArgumentParser(
        prog="keras-tfm", description="keras_tfm command line tools.",
        epilog="Exit codes: 0 done, 2 bad usage, 1 the work failed. `keras-tfm COMMAND --help` for each command.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub)
    return parser


def main(argv=None):
    """Runs ``keras-tfm`` on ``argv`` (default: ``sys.argv[1:]``) and returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    argv, passthrough = _split_passthrough(argv)
    args = parser.parse_args(argv)
    args.passthrough = passthrough
    if passthrough and args.command != "bench":
        parser.error(f"arguments after '--' are only for `bench`: {' '.join(passthrough)}")
    try:
        return COMMANDS[args.command].main(args, argv)
    except UsageError as e:
        print(f"keras-tfm {args.command}: error: {e}", file=sys.stderr)
        return 2
    except CommandError as e:
        if args.debug:
            raise
        print(f"keras-tfm {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"keras-tfm {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a failure of the work: one line on stderr, the traceback only with --debug
        if args.debug:
            raise
        print(f"keras-tfm {args.command}: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


def _split_passthrough(argv):
    # "keras-tfm bench encoder -- --tiny": what follows "--" goes to the driver untouched.
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []
