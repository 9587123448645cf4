"""Compiling generated C with the host compiler and running it, to check it against TFLite Micro."""

import importlib.resources
import os
import shutil
import subprocess

import numpy as np

# Strict C99: the generated code must build warning-free on any conforming compiler.
HOST_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")


def harness_path(filename):
    return os.fspath(importlib.resources.files("tfkd.codegen").joinpath("harness", filename))


def model_macros(name, float_input=False, float_output=False):
    """-D flags that point a harness at the model called ``name`` (at ``<name>_invoke_float`` when an end is float)."""
    upper = name.upper()
    invoke = f"{name}_invoke_float" if float_input or float_output else f"{name}_invoke"
    return [f'-DTFKD_MODEL_HEADER="{name}.h"', f"-DTFKD_INVOKE={invoke}",
            f"-DTFKD_INPUT_SIZE={upper}_INPUT_SIZE", f"-DTFKD_OUTPUT_SIZE={upper}_OUTPUT_SIZE",
            *(["-DTFKD_INPUT_T=float"] if float_input else []), *(["-DTFKD_OUTPUT_T=float"] if float_output else [])]


def c_sources(source_dir):
    return sorted(os.path.join(source_dir, f) for f in os.listdir(source_dir) if f.endswith(".c"))


def compile_host(source_dir, name="model", executable=None, compiler=None, float_input=False, float_output=False,
                 input_in_arena=False):
    """Builds the generated code in ``source_dir`` with the stdin/stdout harness; returns the executable path.

    With ``float_input`` or ``float_output`` the harness calls ``<name>_invoke_float`` of a float-I/O model;
    with ``input_in_arena`` it reads each input into ``<name>_input()`` and passes that pointer."""
    compiler = compiler or os.environ.get("CC", "gcc")
    if shutil.which(compiler) is None:
        raise OSError(f"host C compiler {compiler!r} was not found on PATH")
    executable = executable or os.path.join(source_dir, f"{name}_host")
    in_arena = [f"-DTFKD_INPUT_IN_ARENA={name}_input"] if input_in_arena else []
    command = [compiler, *HOST_CFLAGS, *model_macros(name, float_input, float_output), *in_arena, "-I", source_dir,
               harness_path("host_main.c"), *c_sources(source_dir), "-o", executable]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise OSError(f"host compilation failed: {result.stderr.strip()}")
    return executable


def run_host(executable, inputs, output_size, output_dtype=np.int8):
    """Runs ``executable`` on ``inputs`` (one sample per row, already of the harness's input type); returns
    ``output_dtype`` outputs of shape (n, output_size)."""
    inputs = np.ascontiguousarray(inputs).reshape(len(inputs), -1)
    result = subprocess.run([executable], input=inputs.tobytes(), capture_output=True, timeout=120)
    if result.returncode:
        raise OSError(f"{executable} exited with status {result.returncode}: {result.stderr.decode(errors='replace')}")
    return np.frombuffer(result.stdout, dtype=output_dtype).reshape(len(inputs), output_size)
