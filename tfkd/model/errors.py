"""The one error tfkd raises for a model file it cannot use."""

from tfkd.errors import InputError


class ModelError(InputError):
    """A .tflite model that is corrupt, or holds something the caller cannot handle; the message says which."""
