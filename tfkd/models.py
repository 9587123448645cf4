"""Reference teachers and students.

Every builder uses only layers that convert to full-int8 TFLite and run on TFLite
Micro (Conv2D, DepthwiseConv2D, Dense, ReLU, MaxPooling2D, AveragePooling2D, Flatten,
BatchNormalization folded at conversion). Models output logits. Intermediate
activations are named ``features_1``, ``features_2``, ... in order of depth so that
feature hints and attention transfer can pair teacher and student layers by name.

Example:

>>> import tfkd
>>> student = tfkd.models.cnn_student((8, 8, 1), num_classes=10)
>>> student.output_shape
(None, 10)
"""

import tf_keras
from tf_keras import layers


def _check(input_shape, num_classes, rank):
    shape = tuple(input_shape)
    if len(shape) != rank or any(not isinstance(d, int) or d <= 0 for d in shape):
        kind = "(height, width, channels)" if rank == 3 else "(features,)"
        raise ValueError(f"input_shape={input_shape!r} is invalid; expected {kind} of positive integers")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} is invalid; expected an integer >= 2")
    return shape


def _pool_stages(height, width, smallest=2):
    """How many 2x2 poolings keep both spatial sides at least ``smallest``."""
    stages = 0
    while height // 2 >= smallest and width // 2 >= smallest:
        height, width, stages = height // 2, width // 2, stages + 1
    return stages


def _conv_block(x, filters, index, batch_norm):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"conv_{index}")(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=0.9, name=f"bn_{index}")(x)
    return layers.ReLU(name=f"features_{index}")(x)


def cnn_teacher(input_shape=(8, 8, 1), num_classes=10, width=32, name="teacher"):
    """A wide CNN teacher for small images (about 170k parameters on 8x8 digits).

    Four conv + batch-norm + ReLU blocks with pooling down to about 2x2, then a dense head.
    """
    shape = _check(input_shape, num_classes, 3)
    inputs = tf_keras.Input(shape, name="image")
    x = inputs
    stages = max(1, _pool_stages(shape[0], shape[1]))
    # Two conv blocks per resolution; the first pooling halves once, the second
    # takes the rest of the way down to about 2x2.
    pools_after_block = {2: 1, 4: stages - 1}
    for index in range(1, 5):
        x = _conv_block(x, width * min(2 ** (index - 1), 4), index, batch_norm=True)
        for p in range(pools_after_block.get(index, 0)):
            x = layers.MaxPooling2D(2, name=f"pool_{index}_{p}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(width * 4, name="dense")(x)
    x = layers.ReLU(name="features_5")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return tf_keras.Model(inputs, outputs, name=name)


def cnn_student(input_shape=(8, 8, 1), num_classes=10, width=8, name="student"):
    """A small CNN student (about 2k parameters on 8x8 digits) sized for microcontrollers."""
    shape = _check(input_shape, num_classes, 3)
    inputs = tf_keras.Input(shape, name="image")
    x = inputs
    stages = max(1, _pool_stages(shape[0], shape[1]))
    for index in range(1, 3):
        x = _conv_block(x, width * index, index, batch_norm=False)
        pools = 1 if index == 1 else stages - 1
        for p in range(pools):
            x = layers.MaxPooling2D(2, name=f"pool_{index}_{p}")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return tf_keras.Model(inputs, outputs, name=name)


def ds_cnn_student(input_shape=(8, 8, 1), num_classes=10, width=16, name="ds_cnn_student"):
    """A depthwise-separable CNN student: one standard conv, then two depthwise + pointwise blocks."""
    shape = _check(input_shape, num_classes, 3)
    inputs = tf_keras.Input(shape, name="image")
    stride = 2 if min(shape[0], shape[1]) >= 16 else 1
    x = layers.Conv2D(width, 3, strides=stride, padding="same", name="conv_1")(inputs)
    x = layers.ReLU(name="features_1")(x)
    for index in (2, 3):
        x = layers.DepthwiseConv2D(3, padding="same", name=f"depthwise_{index}")(x)
        x = layers.ReLU(name=f"depthwise_relu_{index}")(x)
        x = layers.Conv2D(width * (index - 1), 1, name=f"pointwise_{index}")(x)
        x = layers.ReLU(name=f"features_{index}")(x)
    pool = (max(1, x.shape[1] // 2), max(1, x.shape[2] // 2))
    x = layers.AveragePooling2D(pool, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return tf_keras.Model(inputs, outputs, name=name)


def _mlp(num_features, num_classes, width, hidden_layers, name):
    """``hidden_layers`` Dense+ReLU blocks (``dense_i``, ``features_i``) of ``width`` units, then ``logits``."""
    (features,) = _check((num_features,), num_classes, 1)
    inputs = tf_keras.Input((features,), name="features")
    x = inputs
    for index in range(1, hidden_layers + 1):
        x = layers.Dense(width, name=f"dense_{index}")(x)
        x = layers.ReLU(name=f"features_{index}")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return tf_keras.Model(inputs, outputs, name=name)


def mlp_teacher(num_features=4, num_classes=3, width=64, name="mlp_teacher"):
    """A two-hidden-layer MLP teacher for tabular data (Iris-like)."""
    return _mlp(num_features, num_classes, width, 2, name)


def mlp_student(num_features=4, num_classes=3, width=8, name="mlp_student"):
    """A one-hidden-layer MLP student for tabular data."""
    return _mlp(num_features, num_classes, width, 1, name)


def for_data(x, num_classes, role):
    """The reference ``role`` ("teacher" or "student") for inputs like ``x``: CNN for images, MLP for vectors."""
    if role not in ("teacher", "student"):
        raise ValueError(f"role={role!r} is invalid; expected 'teacher' or 'student'")
    shape = tuple(int(d) for d in x.shape[1:])
    if len(shape) == 3:
        return cnn_teacher(shape, num_classes) if role == "teacher" else cnn_student(shape, num_classes)
    if len(shape) == 1:
        return mlp_teacher(shape[0], num_classes) if role == "teacher" else mlp_student(shape[0], num_classes)
    raise ValueError(f"inputs of shape {shape} are not supported; expected (H, W, C) images or (features,) vectors")
