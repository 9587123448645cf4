#!/usr/bin/env python3
"""Builds TFLite Micro's ``microlite`` library once per TFLM tree, target and kernels, into a cache.

    python tools/build_tflm.py --tflm_dir ../shared/third_party/tflite-micro --target cortex-m4 --kernels cmsis_nn

TFLM's own Makefile writes its objects into ``gen/`` inside the tree it builds, and a TFLM checkout
may be read-only (the bundle in CI is), so every build runs in a private copy of the tree:

    <cache>/<tree>-<variant>-<compiler>/tree/            the copy, with TFLM's gen/ in it
    <cache>/<tree>-<variant>-<compiler>/manifest.json    written last: library path, flags

``<tree>`` is a SHA-256 of every file's path and bytes (``gen/``, ``.git`` and ``__pycache__`` left
out), because a bundle carries no ``.git`` to name its commit; ``<compiler>`` hashes the compiler's
``--version``. An entry is built in a temporary directory and renamed into place, so an interrupted
build leaves nothing that looks finished; two processes racing keep the first complete entry.

``--seed_from DIR`` starts from an already built copy of the same tree (same hash) instead of an
empty one; TFLM's make then runs as usual and finds the objects up to date. The cache directory is
``--cache``, else ``$TFKD_TFLM_CACHE``, else ``~/.cache/tfkd/tflm``. Printed on stdout (``--print``):
the library path (default), the tree copy, or both on one line.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

TARGETS = ("host", "cortex-m4")
KERNELS = ("reference", "cmsis_nn")
LIBRARY = "libtensorflow-microlite.a"
MAKEFILE = "tensorflow/lite/micro/tools/make/Makefile"
TREE_MARKERS = (MAKEFILE, "tensorflow/lite/micro/micro_interpreter.h")
DOWNLOADS = "tensorflow/lite/micro/tools/make/downloads"
SKIPPED_DIRS = {"gen", ".git", "__pycache__"}
CROSS_GCC = "arm-none-eabi-gcc"

# Flags a program needs to use the library: TF_LITE_STATIC_MEMORY changes TfLiteTensor's layout,
# and a release library has no MicroPrintf, so its headers must not call it.
_COMMON_FLAGS = ("-DTF_LITE_STATIC_MEMORY",)
_CORTEX_M4_FLAGS = ("-mcpu=cortex-m4+nofp", "-mfloat-abi=soft", "-mthumb", "-DTF_LITE_STRIP_ERROR_STRINGS",
                    "-DTF_LITE_MCU_DEBUG_LOG")


class BuildError(Exception):
    """A TFLM library cannot be built or found; the message says which input is wrong."""


def default_cache_dir():
    return os.environ.get("TFKD_TFLM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tfkd", "tflm")


def check_tflm_dir(tflm_dir):
    """``tflm_dir`` as an absolute path; BuildError unless it is a TFLite Micro source tree."""
    if not tflm_dir:
        raise BuildError("TFLM_DIR is not set; expected the path of a tflite-micro checkout "
                         "(e.g. TFLM_DIR=../shared/third_party/tflite-micro)")
    path = os.path.abspath(os.path.expanduser(os.fspath(tflm_dir)))
    missing = [marker for marker in TREE_MARKERS if not os.path.isfile(os.path.join(path, marker))]
    if missing:
        raise BuildError(f"TFLM_DIR={tflm_dir!r} is not a TFLite Micro tree: it has no {missing[0]}; "
                         "expected a tflite-micro checkout")
    return path


def _tree_files(root):
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            yield os.path.relpath(os.path.join(directory, name), root)


def tree_hash(tflm_dir):
    """SHA-256 (16 hex digits) of the tree's file paths and contents; the same for any copy of it."""
    digest = hashlib.sha256()
    for relative in _tree_files(tflm_dir):
        path = os.path.join(tflm_dir, relative)
        digest.update(relative.encode() + b"\0")
        if os.path.islink(path):
            digest.update(b"link:" + os.readlink(path).encode())
        else:
            with open(path, "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()[:16]


def _compiler(target):
    compiler = "g++" if target == "host" else CROSS_GCC
    path = shutil.which(compiler)
    if path is None:
        package = "g++" if target == "host" else "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib"
        raise BuildError(f"{compiler} not found on PATH; the {target} library needs it (Debian: {package})")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    return path, hashlib.sha256(version.splitlines()[0].encode()).hexdigest()[:8]


def make_variables(target, kernels, compiler_path):
    """TFLM Makefile variables for a variant, and the gen/ folder its library lands in."""
    if target == "host":
        if kernels != "reference":
            raise BuildError(f"kernels={kernels!r} is not available for the host; expected 'reference'")
        return [], "linux_x86_64_default_gcc"
    variables = ["TARGET=cortex_m_generic", "TARGET_ARCH=cortex-m4", "BUILD_TYPE=release",
                 # Without a toolchain root the Cortex-M makefile downloads its own Arm GCC.
                 f"TARGET_TOOLCHAIN_ROOT={os.path.dirname(compiler_path)}/"]
    gen = "cortex_m_generic_cortex-m4_release"
    if kernels == "cmsis_nn":
        variables.append("OPTIMIZED_KERNEL_DIR=cmsis_nn")
        gen += "_cmsis_nn"
    return variables, gen + "_gcc"


def compile_flags(target, kernels):
    """Compiler flags for a program linking the library of this variant."""
    flags = list(_COMMON_FLAGS)
    if target == "cortex-m4":
        flags += _CORTEX_M4_FLAGS
        if kernels == "cmsis_nn":
            flags.append("-DCMSIS_NN")
    return flags


def include_dirs(tree):
    downloads = os.path.join(tree, DOWNLOADS)
    return [tree, os.path.join(downloads, "flatbuffers", "include"), os.path.join(downloads, "gemmlowp")]


def _check_variant(target, kernels):
    if target not in TARGETS:
        raise BuildError(f"target={target!r} is unknown; expected one of {', '.join(TARGETS)}")
    if kernels not in KERNELS:
        raise BuildError(f"kernels={kernels!r} is unknown; expected one of {', '.join(KERNELS)}")


def _copy_tree(source, destination, seed_gen=None):
    """Copies a TFLM tree without build outputs; ``seed_gen``: one gen/ folder of ``source`` to keep."""
    # copy2 keeps modification times, so make sees seeded objects as up to date.
    shutil.copytree(source, destination, symlinks=True, ignore=shutil.ignore_patterns(*SKIPPED_DIRS),
                    copy_function=shutil.copy2)
    if seed_gen and os.path.isdir(os.path.join(source, "gen", seed_gen)):
        shutil.copytree(os.path.join(source, "gen", seed_gen), os.path.join(destination, "gen", seed_gen),
                        symlinks=True, copy_function=shutil.copy2)
    for directory, _, names in os.walk(destination):
        os.chmod(directory, 0o755)  # the source may be read-only; make writes into the copy
        for name in names:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | 0o200)


def library(tflm_dir, target="host", kernels="reference", cache_dir=None, jobs=None, seed_from=None, build=True,
            log=sys.stderr):
    """The manifest (dict) of the cached library for this variant, building it first when needed.

    Keys: ``lib``, ``tree`` (the copy, for headers), ``include_dirs``, ``cflags``, ``target``, ``kernels``,
    ``tree_hash``, ``build_seconds``. ``build=False`` raises BuildError instead of building.
    """
    _check_variant(target, kernels)
    tflm_dir = check_tflm_dir(tflm_dir)
    compiler_path, compiler_hash = _compiler(target)
    variables, gen = make_variables(target, kernels, compiler_path)
    tree_key = tree_hash(tflm_dir)
    cache_dir = os.path.abspath(cache_dir or default_cache_dir())
    entry = os.path.join(cache_dir, f"{tree_key}-{target}-{kernels}-{compiler_hash}")
    manifest_path = os.path.join(entry, "manifest.json")
    if os.path.isfile(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if os.path.isfile(manifest["lib"]):
            return manifest
    if not build:
        raise BuildError(f"no {target}/{kernels} TFLM library for tree {tree_key} in {cache_dir}; "
                         f"build it with: python tools/build_tflm.py --tflm_dir {tflm_dir} --target {target} "
                         f"--kernels {kernels}")
    if seed_from is not None:
        seed_from = check_tflm_dir(seed_from)
        if tree_hash(seed_from) != tree_key:
            raise BuildError(f"seed_from={seed_from!r} holds another TFLM tree than TFLM_DIR={tflm_dir!r}; "
                             "expected a built copy of the same tree")
    os.makedirs(cache_dir, exist_ok=True)
    staging = tempfile.mkdtemp(dir=cache_dir, prefix=f".{os.path.basename(entry)}.tmp-")
    try:
        tree = os.path.join(staging, "tree")
        _copy_tree(seed_from or tflm_dir, tree, seed_gen=gen if seed_from else None)
        command = ["make", "-s", f"-j{jobs or os.cpu_count() or 1}", "-f", MAKEFILE, *variables, "microlite"]
        print(f"building TFLM microlite ({target}, {kernels} kernels) for tree {tree_key}: {' '.join(command)}",
              file=log, flush=True)
        started = time.monotonic()
        result = subprocess.run(command, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode:
            raise BuildError(f"TFLM's make failed for {target}/{kernels} (exit {result.returncode}):\n"
                             f"{result.stdout[-3000:]}")
        built = os.path.join(tree, "gen", gen, "lib", LIBRARY)
        if not os.path.isfile(built):
            raise BuildError(f"TFLM's make finished but wrote no {built}")
        final_tree = os.path.join(entry, "tree")
        manifest = {
            "lib": os.path.join(final_tree, "gen", gen, "lib", LIBRARY),
            "tree": final_tree,
            "include_dirs": include_dirs(final_tree),
            "cflags": compile_flags(target, kernels),
            "target": target,
            "kernels": kernels,
            "tree_hash": tree_key,
            "tflm_dir": tflm_dir,
            "make": command,
            "build_seconds": round(time.monotonic() - started, 1),
        }
        with open(os.path.join(staging, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        try:
            os.rename(staging, entry)
        except OSError:
            if not os.path.isfile(manifest_path):  # not a finished entry from a racing build
                shutil.rmtree(entry, ignore_errors=True)
                os.rename(staging, entry)
        print(f"TFLM library ready in {manifest['build_seconds']} s: {manifest['lib']}", file=log, flush=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with open(manifest_path) as f:
        return json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tflm_dir", default=os.environ.get("TFLM_DIR"), help="TFLite Micro tree (default: $TFLM_DIR)")
    parser.add_argument("--target", default="host", help=f"one of {', '.join(TARGETS)}")
    parser.add_argument("--kernels", default="reference", help=f"one of {', '.join(KERNELS)}")
    parser.add_argument("--cache", default=None, help="cache directory (default: $TFKD_TFLM_CACHE or ~/.cache/tfkd/tflm)")
    parser.add_argument("--jobs", type=int, default=None, help="make -j (default: CPU count)")
    parser.add_argument("--seed_from", default=None, help="an already built copy of the same TFLM tree to start from")
    parser.add_argument("--print", dest="show", choices=("lib", "tree", "paths", "none"), default="lib")
    parser.add_argument("--no_build", action="store_true", help="fail instead of building a missing library")
    args = parser.parse_args(argv)
    try:
        manifest = library(args.tflm_dir, args.target, args.kernels, args.cache, args.jobs, args.seed_from,
                           build=not args.no_build)
    except BuildError as e:
        print(f"build_tflm: error: {e}", file=sys.stderr)
        return 2
    shown = {"lib": manifest["lib"], "tree": manifest["tree"], "paths": f"{manifest['tree']} {manifest['lib']}",
             "none": None}[args.show]
    if shown:
        print(shown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
