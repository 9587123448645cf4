"""The ``tfkd`` command line: ``tfkd <command> [flags]``.

Each command lives in its own module of this package and provides ``SUMMARY`` (one
line), ``define_flags(flag_values)`` and ``main(flag_values, args) -> int``. Commands
import TensorFlow inside ``main`` so that help and usage errors answer at once.

Errors: tfkd's input errors (see ``tfkd.errors``) print one line and exit 2; any other
exception is a bug and shows its traceback. TensorFlow's native log lines (absl
``I0000``/``E0000 ...`` lines, the converter's ``fully_quantize`` line, LiteRT's
``INFO:`` lines) are kept off stderr unless ``--verbose``: the C++ code writes them
straight to file descriptor 2, so the command runs with that descriptor on a pipe whose
other lines are passed through.
"""

import importlib
import os
import re
import sys
import threading

from absl import flags

from tfkd.errors import InputError

COMMANDS = {
    "demo": "tfkd.cli.demo",
    "distill": "tfkd.cli.distill",
    "export": "tfkd.cli.export",
    "c-array": "tfkd.cli.c_array",
    "inspect": "tfkd.cli.inspect",
    "codegen": "tfkd.cli.codegen",
}

USAGE_ERROR = 2


class UsageError(InputError):
    """Bad command-line usage; reported as one line and exit code 2."""


# Lines TensorFlow, XLA, the TFLite converter and LiteRT write from C++ to descriptor 2.
NATIVE_LOG = re.compile(
    rb"^([IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\]"  # absl / TF C++ logging
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: .* rebuild TensorFlow"
    rb"|fully_quantize: \d"
    rb"|INFO: (Created TensorFlow Lite|Initialized TensorFlow Lite))"
)


def _top_level_help():
    lines = ["usage: tfkd <command> [flags]  (tfkd <command> --help for its flags)", "", "commands:"]
    for name, module_name in COMMANDS.items():
        lines.append(f"  {name:<10} {importlib.import_module(module_name).SUMMARY}")
    lines += ["", "Every command accepts --flagfile=FILE (one --flag=value per line), --quiet and --verbose."]
    return "\n".join(lines)


def _command_flags(module):
    flag_values = flags.FlagValues()
    flags.DEFINE_boolean("quiet", False, "Print only errors and the final result.", flag_values=flag_values)
    flags.DEFINE_boolean("verbose", False, "Also show TensorFlow's native log lines.", flag_values=flag_values)
    module.define_flags(flag_values)
    return flag_values


def _fail(command, message):
    prefix = f"tfkd {command}" if command else "tfkd"
    print(f"{prefix}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def is_input_error(error):
    """True for tfkd's own input errors (one line, exit 2); False for bugs (traceback)."""
    if isinstance(error, (InputError, OSError, flags.Error)):
        return True
    if isinstance(error, ValueError):
        # A ValueError raised by tfkd's own code carries a message written for the user;
        # one from deeper down (TensorFlow, NumPy) on input tfkd let through is a bug.
        frame = error.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        module = frame.tb_frame.f_globals.get("__name__", "") if frame is not None else ""
        return module == "tfkd" or module.startswith("tfkd.")
    return False


class _NativeLogFilter:
    """Within the block, lines matching ``NATIVE_LOG`` written to descriptor 2 are dropped, others passed on."""

    def __enter__(self):
        sys.stderr.flush()
        self._stderr = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._thread = threading.Thread(target=self._forward, args=(read_end, os.dup(self._stderr)), daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _forward(read_end, stderr):
        with os.fdopen(read_end, "rb") as pipe, os.fdopen(stderr, "wb", buffering=0) as out:
            for line in pipe:
                if not NATIVE_LOG.match(line):
                    out.write(line)

    def __exit__(self, *exc_info):
        sys.stderr.flush()
        os.dup2(self._stderr, 2)  # the pipe's last writer closes: the reader sees the end
        os.close(self._stderr)
        self._thread.join(timeout=10)
        return False


def _configure_tensorflow_logging():
    """Sets TensorFlow's and absl's Python loggers to errors only, before and after TensorFlow loads."""
    import logging
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore")
    import tensorflow as tf
    import tf_keras  # noqa: F401

    tf.get_logger().setLevel(logging.ERROR)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def _import_tensorflow_quietly():
    """Imports TensorFlow with its start-up log lines kept off stderr (for tools and tests that import the CLI)."""
    with _NativeLogFilter():
        _configure_tensorflow_logging()


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
    if flag_values.verbose:
        return _run_command(command, module, flag_values, positional)
    with _NativeLogFilter():
        _configure_tensorflow_logging()
        return _run_command(command, module, flag_values, positional)


def _run_command(command, module, flag_values, positional):
    try:
        return int(module.main(flag_values, positional) or 0)
    except KeyboardInterrupt:
        return _fail(command, "interrupted")
    except Exception as e:
        if not is_input_error(e):
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return _fail(command, message)
