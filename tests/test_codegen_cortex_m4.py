"""The generated C on a Cortex-M4 instruction set: QEMU mps2-an386 against TFLite Micro, bit for bit."""

import numpy as np
import pytest

from tfkd.codegen import cortex_m4, generate, measure
from tfkd.model import TflmRunner, read_model

MISSING = cortex_m4.missing_tools()
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"{', '.join(MISSING)} not on PATH (CI installs gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm)",
)

SAMPLES = 48


@pytest.mark.parametrize("fixture", ["cnn_student", "ds_cnn_student"])
def test_qemu_outputs_equal_tflite_micro(fixture, request, tmp_path):
    tflite_bytes, x_test = request.getfixturevalue(fixture)
    samples = x_test[:SAMPLES]
    summary = generate(tflite_bytes, tmp_path / "src")
    elf, _ = cortex_m4.build_image(str(tmp_path / "src"), samples, str(tmp_path / "build"))
    run = cortex_m4.run_image(elf, summary["output_size"])
    expected = TflmRunner(tflite_bytes).run(samples)
    np.testing.assert_array_equal(run["outputs"], expected)
    # The predicted classes, as firmware would report them, agree as a consequence.
    np.testing.assert_array_equal(run["outputs"].argmax(axis=1), expected.argmax(axis=1))


def test_measure_reports_footprint_and_cost(cnn_student):
    tflite_bytes, x_test = cnn_student
    m = measure(tflite_bytes, samples=x_test[:8])
    assert m["matches_tflm"]
    assert m["ram_bytes"] == m["arena_bytes"] + m["data_bytes"] + m["stack_bytes"]
    assert 0 < m["stack_bytes"] < 4096
    assert 0 < m["flash_bytes"] < m["image_flash_bytes"]
    # Flash holds at least every filter byte and bias word of the model.
    weight_bytes = sum(t.data.nbytes for t in read_model(tflite_bytes).tensors if t.data is not None)
    assert m["flash_bytes"] > weight_bytes
    assert m["arena_bytes"] < m["tflm_arena_bytes"]
    assert m["instructions_per_inference"] > m["macs"] > 0
    assert m["instructions_per_mac"] == pytest.approx(m["instructions_per_inference"] / m["macs"], abs=0.01)
    # -icount makes the count deterministic: a second measurement gives the same figure.
    again = measure(tflite_bytes, samples=x_test[:8], compare_tflm=False)
    assert again["instructions_per_inference"] == m["instructions_per_inference"]


def test_measure_rejects_samples_of_the_wrong_size(cnn_student):
    with pytest.raises(ValueError, match="63 values"):
        measure(cnn_student[0], samples=np.zeros((2, 63), np.int8))
