"""tfkd.export.write_c_arrays: byte-identical arrays, exact op registration, sanitising, compilers, atomicity."""

import re
import shutil
import subprocess

import pytest

import tfkd
from tfkd.export import arena_with_margin, measure_arena, to_tflite, write_c_arrays
from tfkd.export.c_arrays import FILE_NAMES, MICRO_OP_METHODS, c_identifier
from tfkd.export.model_info import parse

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="host g++ not installed")
needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-g++") is None, reason="gcc-arm-none-eabi not installed (see .ci/run)"
)
LABELS = ['say "hi"', "back\\slash", "new\nline", "tab\there", "??=trigraph", "ünïcode", "*/ comment", "6", "7", "8"]

# A stand-in for TFLite Micro's MicroMutableOpResolver declaring the methods tfkd may call,
# so that the generated model_ops.h can be compiled and run without the TFLite Micro tree.
RESOLVER_HEADER = """
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
    assert f"constexpr unsigned int kModelOpCount = {len(expected)};" in text


def test_settings_hold_measured_arena_plus_margin(written, model_bytes):
    out, _ = written
    text = (out / "model_settings.h").read_text()
    measured = measure_arena(model_bytes[0])
    assert f"constexpr int kTensorArenaMeasured = {measured};" in text
    assert f"constexpr int kTensorArenaSize = {arena_with_margin(measured)};" in text
    info = parse(model_bytes[0])
    assert f"constexpr float kInputScale = {info.inputs[0].quantization[0]!r}f;" in text
    assert "constexpr int kInputShape[kInputDims] = {1, 8, 8, 1};" in text


@needs_gxx
def test_headers_compile_register_ops_and_labels_survive_round_trip(written, model_bytes, tmp_path):
    out, _ = written
    methods = "\n".join(
        f"  TfLiteStatus {m}() {{ ++count; std::fprintf(stderr, \"{m}\\n\"); return kTfLiteOk; }}"
        for m in sorted(set(MICRO_OP_METHODS.values()))
    )
    resolver = tmp_path / "tensorflow" / "lite" / "micro" / "micro_mutable_op_resolver.h"
    resolver.parent.mkdir(parents=True)
    resolver.write_text(RESOLVER_HEADER % methods)
    main = tmp_path / "main.cc"
    main.write_text(
        '#include "model_data.h"\n#include "model_settings.h"\n#include "model_ops.h"\n'
        "static_assert(kTensorArenaSize > kTensorArenaMeasured, \"margin\");\n"
        "int main() {\n"
        "  ModelOpResolver resolver;\n"
        "  if (RegisterModelOps(resolver) != kTfLiteOk || resolver.count != kModelOpCount) return 1;\n"
        "  for (int i = 0; i < kCategoryCount; ++i) std::printf(\"%s\\x1f\", kCategoryLabels[i]);\n"
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
