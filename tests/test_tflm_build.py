"""tools/build_tflm.py: the cache of TFLM libraries, and the errors of the build and of the firmware Makefile.

The cache is exercised on a stand-in tree whose Makefile writes a fake library in no time (the real
build takes minutes; tests/test_tflm_firmware.py uses the real one).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

import tflm_support
from tflm_support import build_tflm

FAKE_MAKEFILE = """\
# Stand-in for TFLM's Makefile: counts its runs and writes the library where TFLM's would be.
microlite:
\techo run >> $(COUNTER)
\tmkdir -p gen/linux_x86_64_default_gcc/lib
\techo archive > gen/linux_x86_64_default_gcc/lib/libtensorflow-microlite.a
"""


@pytest.fixture
def fake_tree(tmp_path):
    tree = tmp_path / "tflite-micro"
    for marker in build_tflm.TREE_MARKERS:
        (tree / marker).parent.mkdir(parents=True, exist_ok=True)
        (tree / marker).write_text("// marker\n")
    (tree / build_tflm.MAKEFILE).write_text(FAKE_MAKEFILE.replace("$(COUNTER)", str(tmp_path / "runs")))
    return tree


def _runs(tmp_path):
    path = tmp_path / "runs"
    return len(path.read_text().split()) if path.exists() else 0


def test_builds_once_into_the_cache_and_reuses_it(fake_tree, tmp_path):
    cache = tmp_path / "cache"
    first = build_tflm.library(fake_tree, "host", "reference", cache_dir=cache, log=open(os.devnull, "w"))
    second = build_tflm.library(fake_tree, "host", "reference", cache_dir=cache, log=open(os.devnull, "w"))
    assert _runs(tmp_path) == 1 and first == second
    assert os.path.isfile(first["lib"]) and first["lib"].startswith(str(cache))
    assert not (fake_tree / "gen").exists(), "the build must not write into TFLM_DIR"
    assert first["cflags"] == ["-DTF_LITE_STATIC_MEMORY"]
    # A copy of the same tree elsewhere is the same tree.
    copy = tmp_path / "copy"
    shutil.copytree(fake_tree, copy)
    assert build_tflm.library(copy, "host", "reference", cache_dir=cache, build=False)["lib"] == first["lib"]
    # Any changed file is another tree.
    (fake_tree / build_tflm.TREE_MARKERS[1]).write_text("// changed\n")
    with pytest.raises(build_tflm.BuildError, match="no host/reference TFLM library for tree"):
        build_tflm.library(fake_tree, "host", "reference", cache_dir=cache, build=False)


def test_a_failed_build_leaves_no_cache_entry(fake_tree, tmp_path):
    (fake_tree / build_tflm.MAKEFILE).write_text("microlite:\n\t@echo compiler exploded; exit 1\n")
    cache = tmp_path / "cache"
    with pytest.raises(build_tflm.BuildError, match="compiler exploded"):
        build_tflm.library(fake_tree, "host", "reference", cache_dir=cache, log=open(os.devnull, "w"))
    assert os.listdir(cache) == []


def test_seed_must_be_the_same_tree(fake_tree, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(fake_tree, other)
    (other / "extra.txt").write_text("another tree\n")
    with pytest.raises(build_tflm.BuildError, match="seed_from=.*holds another TFLM tree"):
        build_tflm.library(fake_tree, "host", "reference", cache_dir=tmp_path / "cache", seed_from=other)


@pytest.mark.parametrize("tflm_dir, message", [
    ("", "TFLM_DIR is not set; expected the path of a tflite-micro checkout"),
    ("/nonexistent/tflm", "TFLM_DIR='/nonexistent/tflm' is not a TFLite Micro tree: it has no tensorflow/lite/micro/"),
])
def test_bad_tflm_dir(tflm_dir, message, tmp_path):
    with pytest.raises(build_tflm.BuildError, match=message):
        build_tflm.library(tflm_dir, "host", "reference", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("target, kernels, message", [
    ("cortex-m7", "reference", "target='cortex-m7' is unknown; expected one of host, cortex-m4"),
    ("host", "cmsis_nn", "kernels='cmsis_nn' is not available for the host"),
    ("cortex-m4", "ethos", "kernels='ethos' is unknown"),
])
def test_bad_variant(fake_tree, tmp_path, target, kernels, message):
    with pytest.raises(build_tflm.BuildError, match=message):
        build_tflm.library(fake_tree, target, kernels, cache_dir=tmp_path / "cache")


def _path_without_arm_tools(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("python3", "g++", "make", "sh"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    return str(bin_dir)


def test_missing_cross_compiler_is_named(fake_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _path_without_arm_tools(tmp_path))
    with pytest.raises(build_tflm.BuildError, match="arm-none-eabi-gcc not found on PATH; the cortex-m4 library"):
        build_tflm.library(fake_tree, "cortex-m4", "cmsis_nn", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_command_line_prints_the_library_and_one_line_errors(fake_tree, tmp_path):
    script = os.path.join(tflm_support.ROOT, "tools", "build_tflm.py")
    cache = str(tmp_path / "cache")
    ok = subprocess.run([sys.executable, script, "--tflm_dir", str(fake_tree), "--cache", cache],
                        capture_output=True, text=True, check=True)
    assert ok.stdout.strip().endswith("gen/linux_x86_64_default_gcc/lib/libtensorflow-microlite.a")
    manifest = json.load(open(os.path.join(os.path.dirname(ok.stdout.strip()), *[".."] * 3, "..", "manifest.json")))
    assert manifest["tree_hash"] == build_tflm.tree_hash(str(fake_tree))
    bad = subprocess.run([sys.executable, script, "--tflm_dir", str(tmp_path), "--cache", cache],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().count("\n") == 0 and "is not a TFLite Micro tree" in bad.stderr


# --- the firmware Makefile's own checks (no TFLM build needed) -----------------------------------

def _make(tmp_path, *variables, env=None):
    command = ["make", "--no-print-directory", "-C", tflm_support.tflm_firmware.FIRMWARE_DIR,
               f"BUILD_DIR={tmp_path / 'build'}", *variables]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def test_makefile_without_tflm_dir(tmp_path):
    result = _make(tmp_path, "TFLM_DIR=", f"MODEL_DIR={tmp_path}")
    assert result.returncode and "TFLM_DIR is not set; expected the path of a tflite-micro checkout" in result.stderr
    assert not (tmp_path / "build").exists()


def test_makefile_with_a_folder_that_is_not_tflm(tmp_path):
    micro = tmp_path / "micro"
    micro.mkdir()
    for name in ("model_data.h", "model_data.cc", "model_settings.h", "model_ops.h"):
        (micro / name).write_text("\n")
    result = _make(tmp_path, f"TFLM_DIR={tmp_path}", f"MODEL_DIR={micro}", f"TFLM_CACHE={tmp_path / 'cache'}")
    assert result.returncode and f"TFLM_DIR='{tmp_path}' is not a TFLite Micro tree" in result.stderr
    assert not (tmp_path / "build").exists() and not (tmp_path / "cache").exists()


def test_makefile_without_the_model_files(fake_tree, tmp_path):
    result = _make(tmp_path, f"TFLM_DIR={fake_tree}", f"MODEL_DIR={tmp_path / 'nowhere'}")
    assert result.returncode and "lacks model_data.h model_data.cc model_settings.h model_ops.h" in result.stderr


def test_makefile_without_the_cross_compiler(fake_tree, tmp_path):
    env = dict(os.environ, PATH=_path_without_arm_tools(tmp_path))
    result = _make(tmp_path, f"TFLM_DIR={fake_tree}", "TARGET=cortex-m4", f"MODEL_DIR={tmp_path}", env=env)
    assert result.returncode and "arm-none-eabi-g++ not found on PATH; TARGET=cortex-m4 needs it" in result.stderr
    assert not (tmp_path / "build").exists()
