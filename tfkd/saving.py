"""Loading every model tfkd saves."""

import os

import tf_keras


def custom_objects():
    """Classes a tfkd-saved model may reference, beyond what tf_keras knows."""
    from tfkd import losses

    return {name: getattr(losses, name) for name in getattr(losses, "__all__", [])}


def _qat_loading_fixes():
    """TF-MOT QAT classes that rebuild correctly from a ``.keras`` file.

    Loading ``.keras`` builds each layer from its saved input shape before the model
    calls it. TF-MOT's ``QuantizeLayer.build`` never marks the layer built, so the call
    builds it again with duplicate range variables; ``QuantizeWrapperV2.build`` adopts
    the wrapped layer's kernel and bias only if that layer is already built, which it
    is when QAT starts but not here. Both then expect other variables than were saved.
    The subclasses keep the class names, so files they save stay plain TF-MOT files.
    """
    import tensorflow_model_optimization as tfmot

    class QuantizeLayer(_quantize_scope_class("QuantizeLayer")):
        def build(self, input_shape):
            super().build(input_shape)
            self.built = True

    class QuantizeWrapperV2(tfmot.quantization.keras.QuantizeWrapperV2):
        def build(self, input_shape):
            if not self.layer.built:
                self.layer.build(input_shape)
            super().build(input_shape)

    return {"QuantizeLayer": QuantizeLayer, "QuantizeWrapperV2": QuantizeWrapperV2}


def _quantize_scope_class(name):
    """A class TF-MOT's public ``quantize_scope`` registers (``QuantizeLayer`` has no public name of its own)."""
    import tensorflow_model_optimization as tfmot

    for objects in tfmot.quantization.keras.quantize_scope().custom_objects:
        if name in objects:
            return objects[name]
    raise RuntimeError(f"TF-MOT's quantize_scope no longer registers {name!r}; tfkd needs a TF-MOT 0.8-compatible version")


def load_model(path, compile=False):
    """Loads a ``.keras``, ``.h5`` or SavedModel file saved by tfkd, with ``safe_mode`` on.

    Quantization-aware (TF-MOT) models load inside ``quantize_scope``; pruned and
    clustered models are saved stripped and load as plain models.

    Example:

    >>> import tempfile, os, tfkd
    >>> path = os.path.join(tempfile.mkdtemp(), "student.keras")
    >>> tfkd.models.cnn_student((8, 8, 1), 10).save(path)
    >>> tfkd.load_model(path).name
    'student'
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    import tensorflow_model_optimization as tfmot

    kwargs = {"compile": compile, "custom_objects": custom_objects()}
    if path.endswith(".keras"):
        kwargs["safe_mode"] = True
    # The inner scope wins: its fixed classes replace TF-MOT's under the same names.
    with tfmot.quantization.keras.quantize_scope(), tf_keras.utils.custom_object_scope(_qat_loading_fixes()):
        try:
            return tf_keras.models.load_model(path, **kwargs)
        except (OSError, IOError, ValueError) as e:
            raise ValueError(f"cannot load model {path!r}: {str(e).splitlines()[0] if str(e) else e!r}") from e
