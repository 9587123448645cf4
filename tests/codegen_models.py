"""Models and inputs shared by the code generation tests (tests/test_codegen*.py)."""

import numpy as np
import tf_keras

import tfkd
from tfkd.model import quantize, read_model

SEED = 0


def trained_digits_tflite(builder, epochs=1):
    """``builder`` (a tfkd.models reference student) trained briefly on digits, as int8 TFLite bytes,
    with the int8-quantised digits test split."""
    (x_train, y_train), (x_test, _), _ = tfkd.data.load("digits")
    tf_keras.utils.set_random_seed(SEED)
    model = builder(x_train.shape[1:], 10)
    model.compile(optimizer="adam", loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    tflite_bytes = tfkd.export.to_tflite(model, x_train[:200], io="int8")
    return tflite_bytes, quantize_inputs(tflite_bytes, x_test)


def quantize_inputs(tflite_bytes, x):
    """Float inputs ``x`` as the model's int8 inputs (its input scale and zero point), one row each."""
    scale, zero_point = read_model(tflite_bytes).inputs[0].quantization
    return quantize(x, scale, zero_point).reshape(len(x), -1)


def random_int8_inputs(tflite_bytes, count, seed=SEED):
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(count, read_model(tflite_bytes).inputs[0].elements)).astype(np.int8)


# Models shaped like the int8 networks people deploy (MLPerf Tiny and the TFLite Micro examples), at
# their published input sizes, with random weights: what matters here is the operators and shapes.


def ds_cnn_kws(classes=12):
    """DS-CNN keyword spotting (MLPerf Tiny KWS): 49x10x1 MFCCs, four depthwise-separable blocks."""
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
    tf_keras.utils.set_random_seed(seed)
    model = builder()
    rng = np.random.default_rng(seed)
    representative = rng.uniform(-1.0, 1.0, size=(8, *model.input_shape[1:])).astype(np.float32)
    return tfkd.export.to_tflite(model, representative, io="int8")
