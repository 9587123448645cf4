"""The ``tfkd`` command line: ``tfkd <command> [flags]``.

Each command lives in its own module of this package and provides ``SUMMARY`` (one
line), ``define_flags(flag_values)`` and ``main(flag_values, args) -> int``. Commands
import TensorFlow inside ``main`` so that help and usage errors answer at once.
"""

import importlib
import os
import sys

from absl import flags

COMMANDS = {
    "demo": "tfkd.cli.demo",
    "distill": "tfkd.cli.distill",
    "export": "tfkd.cli.export",
    "c-array": "tfkd.cli.c_array",
    "inspect": "tfkd.cli.inspect",
    "codegen": "tfkd.cli.codegen",
}

USAGE_ERROR = 2


class UsageError(ValueError):
    """Bad command-line usage; reported as one line and exit code 2."""


def _top_level_help():
    lines = ["usage: tfkd <command> [flags]  (tfkd <command> --help for its flags)", "", "commands:"]
    for name, module_name in COMMANDS.items():
        lines.append(f"  {name:<10} {importlib.import_module(module_name).SUMMARY}")
    lines += ["", "Every command accepts --flagfile=FILE (one --flag=value per line) and --quiet."]
    return "\n".join(lines)


def _command_flags(module):
    flag_values = flags.FlagValues()
    flags.DEFINE_boolean("quiet", False, "Print only errors and the final result.", flag_values=flag_values)
    module.define_flags(flag_values)
    return flag_values


def _fail(command, message):
    prefix = f"tfkd {command}" if command else "tfkd"
    print(f"{prefix}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def _import_tensorflow_quietly():
    """Imports TensorFlow with its start-up chatter (C++ logs, warnings) kept off stderr.

    TensorFlow's native logger writes before any setting of ours can take effect, so
    the descriptor itself is silenced for the import; errors still surface as exceptions.
    """
    import logging
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf
            import tf_keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    tf.get_logger().setLevel(logging.ERROR)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def run(argv=None):
    """Entry point of the ``tfkd`` console script; returns the exit code via SystemExit."""
    sys.exit(main(sys.argv if argv is None else argv))


def main(argv):
    args = list(argv[1:])
    if not args or args[0] in ("-h", "--help", "help"):
        print(_top_level_help())
        return 0 if args else USAGE_ERROR
    command = args[0]
    if command not in COMMANDS:
        return _fail(None, f"unknown command {command!r}; expected one of: {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[command])
    flag_values = _command_flags(module)
    if any(a in ("-h", "--help", "-help", "--helpfull") for a in args[1:]):
        print(f"usage: tfkd {command} {getattr(module, 'USAGE', '[flags]')}\n\n{module.SUMMARY}\n")
        print(flag_values.get_help(include_special_flags=False))
        return 0
    try:
        positional = flag_values([f"tfkd {command}", *args[1:]])[1:]
    except flags.Error as e:
        return _fail(command, str(e).splitlines()[0])
    try:
        _import_tensorflow_quietly()
        return int(module.main(flag_values, positional) or 0)
    except (ValueError, TypeError, OSError, flags.Error) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return _fail(command, message)
    except KeyboardInterrupt:
        return _fail(command, "interrupted")
