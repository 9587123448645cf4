"""Teachers of every kind behind one call: ``teacher(x) -> outputs``.

A teacher may be a ``tf_keras`` model, a Keras 3 model on the TensorFlow backend, a
SavedModel directory, or any callable that maps a batch of tensors to a tensor.
Teachers always run in inference mode and are never trained.
"""

import os

import tensorflow as tf


class Teacher:
    """Wraps one teacher. Only ``tf_keras`` functional models can expose intermediate features."""

    def __init__(self, source):
        self.source = source
        self.description = _describe(source)
        self._call = _make_call(source)
        self._feature_model = None
        self._feature_names = ()

    def __call__(self, x):
        return self._call(x)

    def layer_names(self):
        return [layer.name for layer in getattr(self.source, "layers", [])]

    def supports_features(self):
        import tf_keras

        return isinstance(self.source, tf_keras.Model) and hasattr(self.source, "inputs") and bool(
            self.source.inputs
        )

    def with_features(self, layer_names):
        """Returns ``fn(x) -> (outputs, [features...])`` for the named layers."""
        import tf_keras

        if not layer_names:
            return lambda x: (self(x), [])
        if not self.supports_features():
            raise ValueError(
                f"feature terms need a tf_keras functional teacher to read layers {list(layer_names)} from; "
                f"got {self.description}"
            )
        if self._feature_names != tuple(layer_names):
            outputs = [_layer_output(self.source, name, "teacher") for name in layer_names]
            self._feature_model = tf_keras.Model(self.source.inputs, [self.source.output, *outputs])
            self._feature_names = tuple(layer_names)

        def call(x):
            results = self._feature_model(x, training=False)
            return results[0], list(results[1:])

        return call


def _layer_output(model, name, role):
    try:
        return model.get_layer(name).output
    except ValueError:
        available = ", ".join(layer.name for layer in model.layers)
        raise ValueError(f"{role} has no layer named {name!r}; available layers: {available}") from None


def _describe(source):
    if isinstance(source, (str, os.PathLike)):
        return f"SavedModel {os.fspath(source)!r}"
    return f"{type(source).__module__}.{type(source).__name__}"


def _make_call(source):
    import tf_keras

    if isinstance(source, tf_keras.Model):
        return lambda x: source(x, training=False)
    if isinstance(source, (str, os.PathLike)):
        return _saved_model_call(os.fspath(source))
    if _is_keras3_model(source):
        return lambda x: source(x, training=False)
    if callable(source):
        return source
    raise TypeError(
        f"teacher must be a tf_keras model, a Keras 3 model, a SavedModel path or a callable; "
        f"got {type(source).__name__}"
    )


def _is_keras3_model(source):
    return any(cls.__module__.startswith("keras.") and cls.__name__ == "Model" for cls in type(source).__mro__)


def _saved_model_call(path):
    if not os.path.isdir(path):
        raise ValueError(f"teacher path {path!r} is not a SavedModel directory")
    loaded = tf.saved_model.load(path)
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        raise ValueError(f"SavedModel {path!r} has no 'serving_default' signature; export it with one")
    input_names = list(signature.structured_input_signature[1])
    output_names = list(signature.structured_outputs)
    if len(input_names) != 1 or len(output_names) != 1:
        raise ValueError(
            f"SavedModel {path!r} has inputs {input_names} and outputs {output_names}; "
            "expected exactly one of each"
        )
    input_spec = signature.structured_input_signature[1][input_names[0]]

    def call(x):
        results = signature(**{input_names[0]: tf.cast(x, input_spec.dtype)})
        return results[output_names[0]]

    call.saved_model = loaded  # keeps the restored variables alive
    return call
