"""The one error tfkd raises for a model file it cannot use."""


class ModelError(ValueError):
    """A .tflite model that is corrupt, or holds something the caller cannot handle; the message says which."""
