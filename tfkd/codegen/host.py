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


def model_macros(name):
    """-D flags that point a harness at the model called ``name``."""
    upper = name.upper()
    return [f'-DTFKD_MODEL_HEADER="{name}.h"', f"-DTFKD_INVOKE={name}_invoke",
            f"-DTFKD_INPUT_SIZE={upper}_INPUT_SIZE", f"-DTFKD_OUTPUT_SIZE={upper}_OUTPUT_SIZE"]


def c_sources(source_dir):
    return sorted(os.path.join(source_dir, f) for f in os.listdir(source_dir) if f.endswith(".c"))


def compile_host(source_dir, name="model", executable=None, compiler=None):
    """Builds the generated code in ``source_dir`` with the stdin/stdout harness; returns the executable path."""
    compiler = compiler or os.environ.get("CC", "gcc")
    if shutil.which(compiler) is None:
        raise OSError(f"host C compiler {compiler!r} was not found on PATH")
    executable = executable or os.path.join(source_dir, f"{name}_host")
    command = [compiler, *HOST_CFLAGS, *model_macros(name), "-I", source_dir,
               harness_path("host_main.c"), *c_sources(source_dir), "-o", executable]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise OSError(f"host compilation failed: {result.stderr.strip()}")
    return executable


def run_host(executable, inputs, output_size):
    """Runs ``executable`` on int8 ``inputs`` (one sample per row); returns int8 outputs of shape (n, output_size)."""
    inputs = np.ascontiguousarray(inputs, dtype=np.int8).reshape(len(inputs), -1)
    result = subprocess.run([executable], input=inputs.tobytes(), capture_output=True, timeout=120)
    if result.returncode:
        raise OSError(f"{executable} exited with status {result.returncode}: {result.stderr.decode(errors='replace')}")
    return np.frombuffer(result.stdout, dtype=np.int8).reshape(len(inputs), output_size)
