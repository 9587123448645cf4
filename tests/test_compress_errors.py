"""tfkd.compress: every bad input raises a ValueError naming the value and what is expected."""

import numpy as np
import pytest
import tf_keras

import tfkd


class Scale(tf_keras.layers.Layer):
    """A custom layer with a weight that TF-MOT has no registry entry for."""

    def build(self, input_shape):
        self.scale = self.add_weight("scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


@pytest.fixture(scope="module")
def small():
    tf_keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    return tfkd.models.cnn_student((8, 8, 1), 10), (x, y)


def custom_model():
    inputs = tf_keras.Input((4,))
    x = Scale(name="scale")(inputs)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(3, name="dense")(x))


@pytest.mark.parametrize("target_sparsity", [1.0, -0.1, 1.5, float("nan"), "0.5"])
def test_target_sparsity_outside_0_1(small, target_sparsity):
    model, data = small
    with pytest.raises(ValueError, match=r"target_sparsity=.* expected a number in \[0, 1\)"):
        tfkd.compress.prune(model, data, target_sparsity=target_sparsity, verbose=0)


@pytest.mark.parametrize("structure", ["1:4", "2:8", (2, 4), "unstructured"])
def test_structure_other_than_2_4(small, structure):
    model, data = small
    with pytest.raises(ValueError, match=r"structure=.* expected None \(unstructured\) or '2:4'"):
        tfkd.compress.prune(model, data, structure=structure, verbose=0)


def test_target_sparsity_with_2_4(small):
    model, data = small
    with pytest.raises(ValueError, match="sparsity is 0.5 by construction"):
        tfkd.compress.prune(model, data, structure="2:4", target_sparsity=0.75, verbose=0)


def test_unknown_schedule(small):
    model, data = small
    with pytest.raises(ValueError, match=r"schedule='cubic' is invalid; expected one of"):
        tfkd.compress.prune(model, data, schedule="cubic", verbose=0)


def test_data_too_small_for_schedule(small):
    model, (x, y) = small
    # 64 samples at batch_size 32 for 2 epochs: 4 steps, the polynomial ramp needs 8.
    with pytest.raises(ValueError, match=r"polynomial pruning schedule needs at least 8 training steps, but data gives 4 "):
        tfkd.compress.prune(model, (x, y), epochs=2, batch_size=32, verbose=0)
    with pytest.raises(ValueError, match=r"2:4 pruning schedule needs at least 2 training steps, but data gives 1 "):
        tfkd.compress.prune(model, (x[:10], y[:10]), structure="2:4", epochs=1, verbose=0)


@pytest.mark.parametrize("n_clusters", [1, 0, -3, 2.5, True])
def test_n_clusters_below_2(small, n_clusters):
    model, data = small
    with pytest.raises(ValueError, match=r"n_clusters=.* expected an integer >= 2"):
        tfkd.compress.cluster(model, data, n_clusters=n_clusters, verbose=0)


def test_two_clusters_with_sparsity_preservation(small):
    model, data = small
    with pytest.raises(ValueError, match="reserves one cluster for zero"):
        tfkd.compress.cluster(model, data, n_clusters=2, verbose=0)


@pytest.mark.parametrize(
    "step, what",
    [(tfkd.compress.prune, "pruning"), (tfkd.compress.cluster, "clustering"),
     (tfkd.compress.quantize, "quantization-aware training")],
)
def test_unwrappable_layer_is_named_with_the_exclude_option(step, what):
    model = custom_model()
    x = np.zeros((64, 4), np.float32)
    y = np.zeros(64, np.int64)
    with pytest.raises(ValueError, match=rf"layer 'scale' \(Scale\) cannot be wrapped for {what}.*exclude=\['scale'\]"):
        step(model, (x, y), epochs=4, verbose=0)
    if step is not tfkd.compress.quantize:
        # Excluding it by class lets the step run.
        step(model, (x, y), epochs=4, exclude=[Scale], verbose=0)


def test_exclude_names_a_missing_layer(small):
    model, data = small
    with pytest.raises(ValueError, match="exclude names layer 'conv_9', which model 'student' does not have"):
        tfkd.compress.prune(model, data, exclude=["conv_9"], verbose=0)


def test_unknown_quantize_scheme(small):
    model, data = small
    with pytest.raises(ValueError, match=r"scheme='int4' is invalid; expected one of"):
        tfkd.compress.quantize(model, data, scheme="int4", verbose=0)


def test_bad_data_and_training_options(small):
    model, (x, y) = small
    with pytest.raises(ValueError, match="64 inputs but 10 labels"):
        tfkd.compress.prune(model, (x, y[:10]), verbose=0)
    with pytest.raises(ValueError, match="epochs=0 is invalid; expected a positive integer"):
        tfkd.compress.quantize(model, (x, y), epochs=0, verbose=0)
    with pytest.raises(ValueError, match="either optimizer= or learning_rate="):
        tfkd.compress.quantize(model, (x, y), optimizer="adam", learning_rate=1e-3, verbose=0)
