"""Loading every model tfkd saves."""

import os

import tf_keras


def custom_objects():
    """Classes a tfkd-saved model may reference, beyond what tf_keras knows."""
    from tfkd import losses

    return {name: getattr(losses, name) for name in getattr(losses, "__all__", [])}


def load_model(path, compile=False):
    """Loads a ``.keras``, ``.h5`` or SavedModel file saved by tfkd, with ``safe_mode`` on.

    Quantization-aware (TF-MOT) models load inside ``quantize_scope``; pruned and
    clustered models are saved stripped and load as plain models.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    import tensorflow_model_optimization as tfmot

    kwargs = {"compile": compile, "custom_objects": custom_objects()}
    if path.endswith(".keras"):
        kwargs["safe_mode"] = True
    with tfmot.quantization.keras.quantize_scope():
        try:
            return tf_keras.models.load_model(path, **kwargs)
        except (OSError, IOError, ValueError) as e:
            raise ValueError(f"cannot load model {path!r}: {str(e).splitlines()[0] if str(e) else e!r}") from e
