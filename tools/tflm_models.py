"""The models the TFLite Micro firmware tests and the peer benchmark build, as int8 TFLite.

Weights are seeded, not trained: bit-exactness and cost do not depend on training, and the digits
test inputs still give varied outputs.
"""

import numpy as np

from tfkd.model import quantize

SAMPLE_COUNT = 32
SEED = 0


# --- the models --------------------------------------------------------------------------------

def _digits():
    import tfkd

    (x, _), (x_test, _), _ = tfkd.data.load("digits")
    return x, x_test


def digits_cnn():
    import tfkd

    return tfkd.models.cnn_student((8, 8, 1), 10), _digits()


def depthwise_separable():
    import tfkd

    return tfkd.models.ds_cnn_student((8, 8, 1), 10), _digits()


def mlp():
    import tfkd

    x, x_test = _digits()
    return tfkd.models.mlp_student(64, 10, width=16), (x.reshape(len(x), -1), x_test.reshape(len(x_test), -1))


def add_avgpool_softmax():
    """A residual block: CONV_2D twice, ADD, AVERAGE_POOL_2D, FULLY_CONNECTED and SOFTMAX."""
    import tf_keras

    inputs = tf_keras.Input((8, 8, 1))
    stem = tf_keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    branch = tf_keras.layers.Conv2D(8, 3, padding="same")(stem)
    x = tf_keras.layers.Add()([stem, branch])
    x = tf_keras.layers.AveragePooling2D(2)(x)
    x = tf_keras.layers.Flatten()(x)
    x = tf_keras.layers.Dense(10)(x)
    outputs = tf_keras.layers.Softmax()(x)
    return tf_keras.Model(inputs, outputs, name="add_avgpool_softmax"), _digits()


MODELS = {"digits_cnn": digits_cnn, "depthwise_separable": depthwise_separable, "mlp": mlp,
          "add_avgpool_softmax": add_avgpool_softmax}


def int8_model(name, count=SAMPLE_COUNT):
    """``(tflite_bytes, int8 inputs)``: the model with seeded weights, converted to full int8, and
    SAMPLE_COUNT digits test inputs quantized with the model's own input scale and zero point."""
    import tf_keras
    from tflite_micro.python.tflite_micro import runtime

    import tfkd

    tf_keras.utils.set_random_seed(SEED)
    model, (x, x_test) = MODELS[name]()
    tflite_bytes = tfkd.export.to_tflite(model, x[:128], io="int8")

    interpreter = runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=1 << 20)
    quantization = interpreter.get_input_details(0)["quantization_parameters"]
    scale, zero_point = float(np.ravel(quantization["scales"])[0]), int(np.ravel(quantization["zero_points"])[0])
    quantized = quantize(x_test[:count], scale, zero_point)
    return tflite_bytes, quantized.reshape(count, -1)
