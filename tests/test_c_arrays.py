"""tfkd.export.write_c_arrays: byte-identical arrays, exact op registration, sanitising, compilers, atomicity."""

import re
import shutil
import subprocess

import numpy as np
import pytest

import tfkd
from tfkd.export import arena_with_margin, measure_arena, to_tflite, write_c_arrays
from tfkd.export.c_arrays import FILE_NAMES, MICRO_OP_METHODS, c_identifier, write_samples_header
from tfkd.export.model_info import parse

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="host g++ not installed")
needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-g++") is None, reason="gcc-arm-none-eabi not installed (see .ci/run)"
)
LABELS = ['say "hi"', "back\\slash", "new\nline", "tab\there", "??=trigraph", "ünïcode", "*/ comment", "6", "7", "8"]

# A stand-in for TFLite Micro's MicroMutableOpResolver declaring the methods tfkd may call,
# so that the generated model_ops.h can be compiled and run without the TFLite Micro tree.
RESOLVER_HEADER = """
#pragma once
#include <cstdio>
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
namespace tflite {
template <unsigned int N> class MicroMutableOpResolver {
 public:
  unsigned int count = 0;
%s
};
}
"""


def _write_resolver_stub(include_dir):
    """The stand-in resolver header under ``include_dir``; each Add method logs its name to stderr."""
    methods = "\n".join(
        f"  TfLiteStatus {m}() {{ ++count; std::fprintf(stderr, \"{m}\\n\"); return kTfLiteOk; }}"
        for m in sorted(set(MICRO_OP_METHODS.values()))
    )
    resolver = include_dir / "tensorflow" / "lite" / "micro" / "micro_mutable_op_resolver.h"
    resolver.parent.mkdir(parents=True)
    resolver.write_text(RESOLVER_HEADER % methods)


@pytest.fixture(scope="module")
def model_bytes(digits):
    (x, _), _, _ = digits
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = tfkd.models.ds_cnn_student((8, 8, 1), 10)
    return to_tflite(model, x, num_samples=50), to_tflite(model, x, io="float", num_samples=50)


@pytest.fixture(scope="module")
def written(model_bytes, tmp_path_factory):
    out = tmp_path_factory.mktemp("micro")
    paths = write_c_arrays(model_bytes[0], out, name="my-net v2", labels=LABELS)
    return out, paths


def _array_bytes(cc_text):
    body = re.search(r"\{(.*?)\};", cc_text, re.S).group(1)
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body))


def test_files_and_identifiers(written):
    out, paths = written
    assert sorted(paths) == sorted(FILE_NAMES)
    assert all((out / name).is_file() for name in FILE_NAMES)
    cc = (out / "model_data.cc").read_text()
    assert "alignas(16) const unsigned char my_net_v2[] = {" in cc
    assert c_identifier("my-net v2") == "my_net_v2"
    assert c_identifier("2fast") == "model_2fast"
    assert c_identifier("int") == "int_"
    with pytest.raises(ValueError, match="non-empty string"):
        c_identifier("  ")


def test_cc_array_is_byte_identical_to_the_flatbuffer(written, model_bytes):
    out, _ = written
    cc = (out / "model_data.cc").read_text()
    assert _array_bytes(cc) == model_bytes[0]
    assert f"const unsigned int my_net_v2_len = {len(model_bytes[0])};" in cc


def test_model_ops_registers_exactly_the_model_ops(written, model_bytes):
    out, _ = written
    text = (out / "model_ops.h").read_text()
    expected = [MICRO_OP_METHODS[op] for op in parse(model_bytes[0]).op_names]
    assert re.findall(r"resolver\.(Add\w+)\(\)", text) == expected
    assert set(expected) == {"AddConv2D", "AddDepthwiseConv2D", "AddAveragePool2D", "AddReshape", "AddFullyConnected"}
    assert f"constexpr unsigned int kMyNetV2OpCount = {len(expected)};" in text
    assert "inline TfLiteStatus RegisterMyNetV2Ops(MyNetV2OpResolver& resolver) {" in text
    assert "#ifndef TFKD_MY_NET_V2_MODEL_OPS_H_" in text


def test_settings_hold_measured_arena_plus_margin(written, model_bytes):
    out, _ = written
    text = (out / "model_settings.h").read_text()
    measured = measure_arena(model_bytes[0])
    assert f"constexpr int kMyNetV2TensorArenaMeasured = {measured};" in text
    assert f"constexpr int kMyNetV2TensorArenaSize = {arena_with_margin(measured)};" in text
    info = parse(model_bytes[0])
    assert f"constexpr float kMyNetV2InputScale = {info.inputs[0].quantization[0]!r}f;" in text
    assert "constexpr int kMyNetV2InputShape[kMyNetV2InputDims] = {1, 8, 8, 1};" in text
    assert "using MyNetV2OutputType = int8_t;" in text


@needs_gxx
def test_headers_compile_register_ops_and_labels_survive_round_trip(written, model_bytes, tmp_path):
    out, _ = written
    _write_resolver_stub(tmp_path)
    main = tmp_path / "main.cc"
    main.write_text(
        '#include "model_data.h"\n#include "model_settings.h"\n#include "model_ops.h"\n'
        "static_assert(kMyNetV2TensorArenaSize > kMyNetV2TensorArenaMeasured, \"margin\");\n"
        "int main() {\n"
        "  MyNetV2OpResolver resolver;\n"
        "  if (RegisterMyNetV2Ops(resolver) != kTfLiteOk || resolver.count != kMyNetV2OpCount) return 1;\n"
        "  for (int i = 0; i < kMyNetV2CategoryCount; ++i) std::printf(\"%s\\x1f\", kMyNetV2CategoryLabels[i]);\n"
        "  std::printf(\"%u\\n\", my_net_v2_len);\n"
        "  return (reinterpret_cast<unsigned long>(my_net_v2) % 16) != 0;\n"
        "}\n"
    )
    binary = tmp_path / "main"
    subprocess.run(
        ["g++", "-std=c++17", "-Wall", "-Werror", f"-I{out}", f"-I{tmp_path}", str(main),
         str(out / "model_data.cc"), "-o", str(binary)],
        check=True, capture_output=True,
    )
    run = subprocess.run([str(binary)], check=True, capture_output=True)
    *labels, length = run.stdout.decode("utf-8").split("\x1f")
    assert labels == LABELS
    assert int(length) == len(model_bytes[0])
    registered = run.stderr.decode().split()
    assert registered == [MICRO_OP_METHODS[op] for op in parse(model_bytes[0]).op_names]


@needs_gxx
def test_two_models_link_into_one_program(model_bytes, tmp_path):
    """The default g_model and a model named kws: both arrays, settings, op resolvers and samples in one
    program built with -Wall -Wextra -Werror, each array byte-identical to its flatbuffer."""
    int8_bytes, float_bytes = model_bytes
    digits, kws = tmp_path / "digits", tmp_path / "kws"
    write_c_arrays(int8_bytes, digits, labels=LABELS, arena_bytes=4096)
    write_c_arrays(float_bytes, kws, name="kws", labels=list("abcdefghij"), arena_bytes=8192, require_int8=False)
    write_samples_header(np.full((2, 8, 8, 1), -3, np.int8), digits / "samples.h", int8_bytes)
    write_samples_header(np.arange(64, dtype=np.int8).reshape(1, 64), kws / "samples.h", float_bytes, name="kws")
    data_h = (digits / "model_data.h").read_text() + (digits / "model_data.cc").read_text()
    assert "alignas(16) const unsigned char g_model[] = {" in data_h
    assert f"const unsigned int g_model_len = {len(int8_bytes)};" in data_h
    _write_resolver_stub(tmp_path)
    headers = "".join(f'#include "{model}/{header}"\n' for model in ("digits", "kws") for header in
                      ("model_data.h", "model_settings.h", "model_ops.h", "samples.h", "model_settings.h"))
    main = tmp_path / "main.cc"
    main.write_text(
        headers + "#include <type_traits>\n"
        "static_assert(std::is_same<ModelInputType, int8_t>::value, \"digits is int8\");\n"
        "static_assert(std::is_same<KwsInputType, float>::value, \"kws is float\");\n"
        "static void Dump(const unsigned char* data, unsigned int size) {\n"
        "  for (unsigned int i = 0; i < size; ++i) std::printf(\"%02x\", data[i]);\n"
        "  std::printf(\"\\n\");\n"
        "}\n"
        "int main() {\n"
        "  ModelOpResolver digits_ops;\n"
        "  KwsOpResolver kws_ops;\n"
        "  if (RegisterModelOps(digits_ops) != kTfLiteOk || RegisterKwsOps(kws_ops) != kTfLiteOk) return 1;\n"
        "  Dump(g_model, g_model_len);\n"
        "  Dump(kws, kws_len);\n"
        "  std::printf(\"%u %u %d %d %d %d %s %s %d %d %d %d\\n\", digits_ops.count, kws_ops.count,\n"
        "              kTensorArenaMeasured, kKwsTensorArenaMeasured, kInputElements, kKwsOutputElements,\n"
        "              kCategoryLabels[1], kKwsCategoryLabels[1], kSampleCount, kKwsSampleCount,\n"
        "              kSamples[1][63], kKwsSamples[0][63]);\n"
        "  return reinterpret_cast<unsigned long>(g_model) % 16 + reinterpret_cast<unsigned long>(kws) % 16;\n"
        "}\n"
    )
    binary = tmp_path / "main"
    build = subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", f"-I{tmp_path}", str(main),
                            str(digits / "model_data.cc"), str(kws / "model_data.cc"), "-o", str(binary)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(binary)], check=True, capture_output=True, text=True)
    first, second, values = run.stdout.split("\n")[:3]
    assert bytes.fromhex(first) == int8_bytes and bytes.fromhex(second) == float_bytes
    int8_ops, float_ops = (len(parse(b).op_names) for b in model_bytes)
    assert values.split() == [str(int8_ops), str(float_ops), "4096", "8192", "64", "10", "back\\slash", "b",
                              "2", "1", "-3", "63"]


@needs_gxx
def test_host_gxx_compiles_model_data(written, tmp_path):
    out, _ = written
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-c", str(out / "model_data.cc"),
                    "-o", str(tmp_path / "host.o")], check=True, capture_output=True)


@needs_arm
def test_cortex_m4_compile_and_flash_size(written, model_bytes, tmp_path):
    out, _ = written
    obj = tmp_path / "model_data.o"
    subprocess.run(["arm-none-eabi-g++", "-std=c++17", "-mcpu=cortex-m4", "-mthumb", "-Os", "-c",
                    str(out / "model_data.cc"), "-o", str(obj)], check=True, capture_output=True)
    size = subprocess.run(["arm-none-eabi-size", str(obj)], check=True, capture_output=True, text=True).stdout
    text_bytes = int(size.splitlines()[1].split()[0])
    assert len(model_bytes[0]) <= text_bytes <= len(model_bytes[0]) + 16


def _snapshot(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


@pytest.mark.parametrize("case", ["not a flatbuffer", "float model", "label count"])
def test_bad_input_raises_and_leaves_out_dir_as_it_was(case, model_bytes, tmp_path):
    out = tmp_path / "micro"
    out.mkdir()
    (out / "model_data.cc").write_text("// an earlier, good export\n")
    (out / "notes.txt").write_text("kept")
    before = _snapshot(out)
    data, labels, message = {
        "not a flatbuffer": (b"\x00" * 64, None, "not a TFLite flatbuffer"),
        "float model": (model_bytes[1], None, "not full-int8"),
        "label count": (model_bytes[0], ["a", "b"], "2 labels for a model with 10 outputs"),
    }[case]
    with pytest.raises(ValueError, match=message):
        write_c_arrays(data, out, labels=labels)
    assert _snapshot(out) == before
    assert list(tmp_path.iterdir()) == [out], "no staging directory left behind"


def test_output_path_that_is_a_file_is_refused(model_bytes, tmp_path):
    target = tmp_path / "micro"
    target.write_text("a file")
    with pytest.raises(ValueError, match="is a file"):
        write_c_arrays(model_bytes[0], target)
    assert target.read_text() == "a file"


def test_rerun_replaces_generated_files_and_keeps_others(model_bytes, tmp_path):
    out = tmp_path / "micro"
    write_c_arrays(model_bytes[0], out, arena_bytes=4096)
    (out / "notes.txt").write_text("kept")
    write_c_arrays(model_bytes[0], out, name="other", arena_bytes=4096)
    assert "other[]" in (out / "model_data.cc").read_text()
    assert (out / "notes.txt").read_text() == "kept"
    float_out = tmp_path / "float"
    write_c_arrays(model_bytes[1], float_out, require_int8=False, arena_bytes=4096)
    assert "using ModelInputType = float;" in (float_out / "model_settings.h").read_text()
    assert _array_bytes((float_out / "model_data.cc").read_text()) == model_bytes[1]
