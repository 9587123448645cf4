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


def _conv_paths_model():
    """CONV_2D and FULLY_CONNECTED layers that reach every Cortex-M4 path of tfkd_conv2d / tfkd_fully_connected:
    im2col (depth 5 and 7: not a multiple of 4), widened patches (depth 8, odd and even pixel counts), the
    per-row path (a 3x7 filter of depth 8: over TFKD_WIDE_MAX_DEPTH; strides, SAME padding), pointwise (odd
    pixel and channel counts, depths not a multiple of 4), the plain C fallback (depth 7 with a 7x7 filter: a
    patch over TFKD_IM2COL_MAX), the depth-1 3-row path (channel counts with and without a remainder past
    groups of 4, 2 to 4 columns, strides, windows cut by SAME padding), widened patches of filter rows that are
    whole groups at depths 1 and 2 (cut rows value by value), FULLY_CONNECTED widened and not (depth 160), with
    depths not a multiple of 4."""
    import tf_keras
    from tf_keras import layers

    inputs = tf_keras.Input((9, 13, 5))
    x = layers.Conv2D(7, 3, strides=2, padding="same", activation="relu")(inputs)     # im2col, 5x7x7
    x = layers.Conv2D(8, (2, 3), padding="valid")(x)                                  # im2col, 4x5x8
    y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)                     # widened patches
    y = layers.Conv2D(12, (3, 7), strides=(4, 1), padding="same", activation="relu6")(y)  # per-row, 1x5x12
    y = layers.Conv2D(5, 1)(y)                                                       # pointwise, 5 pixels, 5 channels
    y = layers.Conv2D(6, 1, activation="relu")(y)                                     # pointwise, depth 5
    y = layers.Conv2D(8, 1)(y)                                                       # pointwise, depth 6
    z = layers.Conv2D(8, 3, padding="same")(y)                                        # widened, 5 pixels
    w = layers.Conv2D(3, 7, padding="same")(layers.Conv2D(7, 1)(z))                   # plain C fallback (k 343)
    v = layers.Flatten()(layers.Concatenate()([z, w]))
    v = layers.Dense(9, activation="relu")(v)                                         # FC, odd outputs
    u = layers.Dense(4)(layers.Flatten()(x))                                          # FC, depth 160 (int8 path)
    d = layers.Conv2D(1, 1)(inputs)                                                  # a depth-1 map, 9x13x1
    t = layers.Conv2D(5, 3, strides=2, padding="same", activation="relu")(d)          # taps3, 5 channels, 5x7
    t2 = layers.Conv2D(8, (3, 4), padding="valid")(d)                                 # taps3, 4 columns, 7x10
    t3 = layers.Conv2D(3, (3, 2), strides=(1, 3), padding="same")(d)                 # taps3, 2 columns, 9x5
    r1 = layers.Conv2D(6, (2, 4), strides=(2, 1), padding="same")(d)                # rows of one group, cut
    r2 = layers.Conv2D(5, (3, 2), padding="same")(layers.Conv2D(2, 1)(inputs))        # depth 2: taps share groups
    t = layers.Concatenate()([layers.Flatten()(m) for m in (t, t2, t3, r1, r2)])
    v = layers.Concatenate()([v, u, layers.Dense(7)(t)])
    return tf_keras.Model(inputs, layers.Dense(6)(layers.Dense(10)(v)))               # FC, depth 13 and 10


def _conv_paths_tflite(per_channel):
    import tf_keras

    tf_keras.utils.set_random_seed(3)
    model = _conv_paths_model()
    rng = np.random.default_rng(3)
    representative = rng.uniform(-1.0, 1.0, size=(16, 9, 13, 5)).astype(np.float32)
    from tfkd.export import to_tflite

    return to_tflite(model, representative, io="int8", per_channel=per_channel)


@pytest.mark.parametrize("per_channel, fast, inline_asm", [
    (True, True, True), (False, False, True), (True, True, False),
])
def test_conv_and_fc_dsp_paths_are_bit_exact(per_channel, fast, inline_asm, monkeypatch):
    """The paired-weight SMLAD kernels equal TFLite Micro on QEMU: with per-channel and per-tensor weights, the
    fast and the general requantisation, the inline assembly loop and its C version (TFKD_NO_INLINE_ASM)."""
    from tfkd.codegen import lowering, quantization

    tflite = _conv_paths_tflite(per_channel)
    if not fast:
        monkeypatch.setattr(quantization, "fits_fast_requantize", lambda *args, **kwargs: False)
    if not inline_asm:
        monkeypatch.setattr(cortex_m4, "CFLAGS", (*cortex_m4.CFLAGS, "-DTFKD_NO_INLINE_ASM"))
    steps = [s for s in lowering.lower(lowering.read_int8_model(tflite)) if s.kind in ("CONV_2D", "FULLY_CONNECTED")]
    assert len(steps) == 22
    flags = {s.params["fast_requantize"] for s in steps}
    assert flags == {int(fast)}
    samples = np.random.default_rng(5).integers(-128, 128, size=(3, 9 * 13 * 5)).astype(np.int8)
    m = measure(tflite, samples=samples)
    assert m["matches_tflm"]


def test_paired_filter_layout():
    """lower_windowed.paired_filter puts weight i of channel c where tfkd_paired_index says, zeros elsewhere."""
    from tfkd.codegen.lower_windowed import paired_filter

    weights = np.random.default_rng(0).integers(-127, 128, size=(5, 3, 1, 3)).astype(np.int8)
    arranged = paired_filter(weights)
    k, k4 = 9, 12
    assert arranged.shape == (6 * k4,)
    seen = np.zeros(arranged.shape, bool)
    for c in range(5):
        for i in range(k):
            index = (c >> 1) * 2 * k4 + (i >> 2) * 8 + (c & 1) * 4 + (i & 3)
            assert arranged[index] == weights.reshape(5, k)[c, i]
            seen[index] = True
    assert not arranged[~seen].any()


@pytest.mark.parametrize("optimisation", ["-O0", "-Og", "-Os", "-O3"])
def test_every_kernel_compiles_warning_free_at_any_optimisation_level(optimisation, tmp_path):
    # Firmware is often built at -O0 for debugging: the inline assembly must not need the optimiser's
    # register allocation (at -O0 the DSP paths give way to the plain C ones).
    import importlib.resources
    import subprocess

    kernels = importlib.resources.files("tfkd.codegen").joinpath("kernels")
    flags = [f for f in cortex_m4.CFLAGS if not f.startswith("-O")] + [optimisation]
    for source in sorted(p for p in kernels.iterdir() if p.name.endswith(".c")):
        result = subprocess.run([cortex_m4.GCC, *flags, "-I", str(kernels), "-c", str(source), "-o",
                                 str(tmp_path / (source.name + ".o"))], capture_output=True, text=True)
        assert result.returncode == 0, f"{source.name} at {optimisation}: {result.stderr}"
