"""The models the TFLite Micro firmware tests, the code generator tests and the peer benchmark build, as int8 TFLite.

Weights are seeded, not trained: bit-exactness and cost do not depend on training, and the digits
test inputs still give varied outputs.

- ``MODELS``: four small models on 8x8x1 digits inputs (the firmware tests, ``tests/tflm_support.py``).
- ``DEPLOYED_MODELS``: four networks at the published sizes of the int8 models people deploy (MLPerf
  Tiny and the TFLite Micro examples), with random weights and random int8 inputs. This is their one
  definition: ``tests/codegen_models.py`` (the code generator tests) imports them from here.
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


# --- models shaped like the int8 networks people deploy ------------------------------------------
# At their published input sizes, with random weights: what matters here is the operators and shapes.


def ds_cnn_kws(classes=12):
    """DS-CNN keyword spotting (MLPerf Tiny KWS): 49x10x1 MFCCs, four depthwise-separable blocks."""
    import tf_keras
    from tf_keras import layers

    inputs = tf_keras.Input((49, 10, 1))
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(64, (10, 4), strides=2, padding="same")(inputs)))
    for _ in range(4):
        x = layers.ReLU()(layers.BatchNormalization()(layers.DepthwiseConv2D(3, padding="same")(x)))
        x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(64, 1)(x)))
    x = layers.Flatten()(layers.AveragePooling2D(pool_size=(25, 5))(x))
    return tf_keras.Model(inputs, layers.Softmax()(layers.Dense(classes)(x)), name="ds_cnn")


def resnet8(classes=10):
    """ResNet-8 image classification (MLPerf Tiny IC): 32x32x3, three residual stacks, ADD, AVERAGE_POOL_2D."""
    import tf_keras
    from tf_keras import layers

    def block(x, filters, stride):
        y = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(filters, 3, strides=stride, padding="same")(x)))
        y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same")(y))
        if stride > 1:
            x = layers.Conv2D(filters, 1, strides=stride)(x)
        return layers.ReLU()(layers.Add()([x, y]))

    inputs = tf_keras.Input((32, 32, 3))
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(16, 3, padding="same")(inputs)))
    x = block(block(block(x, 16, 1), 32, 2), 64, 2)
    x = layers.Flatten()(layers.AveragePooling2D(pool_size=8)(x))
    return tf_keras.Model(inputs, layers.Softmax()(layers.Dense(classes)(x)), name="resnet8")


def mobilenet_v1_025(classes=2):
    """MobileNetV1 alpha 0.25 person detection (TFLite Micro's example): 96x96x1, RELU6, depthwise, average pool.

    He-normal weights (per 3x3 window for the depthwise layers) keep random activations alive through 27
    layers; Keras' defaults shrink them to ~0, where TFLite Micro's SOFTMAX refuses to run."""
    import tf_keras
    from tf_keras import layers

    def conv_bn(x, filters, kernel, stride):
        conv = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                             kernel_initializer="he_normal")
        return layers.ReLU(6.0)(layers.BatchNormalization()(conv(x)))

    inputs = tf_keras.Input((96, 96, 1))
    x = conv_bn(inputs, 8, 3, 2)
    for filters, stride in ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1), (128, 1),
                            (128, 1), (128, 1), (256, 2), (256, 1)):
        depthwise = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                                           depthwise_initializer=tf_keras.initializers.RandomNormal(stddev=0.47))
        x = layers.ReLU(6.0)(layers.BatchNormalization()(depthwise(x)))
        x = conv_bn(x, filters, 1, 1)
    x = layers.Flatten()(layers.AveragePooling2D(pool_size=3)(x))
    return tf_keras.Model(inputs, layers.Softmax()(layers.Dense(classes)(x)), name="mobilenet_v1_025")


def fc_autoencoder():
    """Fully-connected autoencoder (MLPerf Tiny anomaly detection): 640 inputs, 128-unit layers, 8-unit code."""
    import tf_keras
    from tf_keras import layers

    inputs = tf_keras.Input((640,))
    x = inputs
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = layers.ReLU()(layers.BatchNormalization()(layers.Dense(units)(x)))
    return tf_keras.Model(inputs, layers.Dense(640)(x), name="fc_autoencoder")


DEPLOYED_MODELS = {"ds_cnn_kws": ds_cnn_kws, "resnet8": resnet8, "mobilenet_v1_025": mobilenet_v1_025,
                   "fc_autoencoder": fc_autoencoder}


def deployed_tflite(builder, seed=SEED):
    """``builder()`` with seeded random weights, as int8 TFLite bytes (random representative inputs)."""
    import tf_keras

    import tfkd

    tf_keras.utils.set_random_seed(seed)
    model = builder()
    rng = np.random.default_rng(seed)
    representative = rng.uniform(-1.0, 1.0, size=(8, *model.input_shape[1:])).astype(np.float32)
    return tfkd.export.to_tflite(model, representative, io="int8")


def random_int8_inputs(tflite_bytes, count, seed=SEED):
    """``count`` uniformly random int8 inputs of the model, one row each."""
    from tfkd.model import read_model

    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(count, read_model(tflite_bytes).inputs[0].elements)).astype(np.int8)


def int8_model(name, count=SAMPLE_COUNT):
    """``(tflite_bytes, int8 inputs)`` of a model of ``MODELS`` or ``DEPLOYED_MODELS``.

    ``MODELS``: the model with seeded weights, converted to full int8, and ``count`` digits test inputs
    quantized with the model's own input scale and zero point. ``DEPLOYED_MODELS``: ``deployed_tflite``
    and ``count`` random int8 inputs (``random_int8_inputs``)."""
    if name in DEPLOYED_MODELS:
        tflite_bytes = deployed_tflite(DEPLOYED_MODELS[name])
        return tflite_bytes, random_int8_inputs(tflite_bytes, count)

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
