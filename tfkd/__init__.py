"""tfkd: distil a large Keras teacher into a tiny student that runs on a microcontroller.

Importing tfkd selects Keras 2 (``tf_keras``) before TensorFlow loads, because
TensorFlow Model Optimization supports nothing else. Submodules load lazily so
that ``import tfkd`` and ``tfkd --help`` stay fast.
"""

import importlib
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"

_SUBMODULES = ("augment", "callbacks", "compress", "data", "distribute", "export", "losses", "models", "resume",
               "teacher_cache", "teachers")
_ATTRIBUTES = {
    "Distiller": ("tfkd.distiller", "Distiller"),
    "distil": ("tfkd.teaching", "distil"),
    "load_model": ("tfkd.saving", "load_model"),
}

__all__ = ["Distiller", "distil", "load_model", *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"tfkd.{name}")
    if name in _ATTRIBUTES:
        module_name, attribute = _ATTRIBUTES[name]
        return getattr(importlib.import_module(module_name), attribute)
    raise AttributeError(f"module 'tfkd' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
