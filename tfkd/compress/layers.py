"""Which layers a compression step acts on, and copies of models that leave the input untouched.

Every step works on a copy: TF-MOT's wrappers wrap the layer objects they are
given, so training a wrapped model would otherwise change the caller's model.
"""

import tf_keras

# Weight attributes that hold a layer's kernel, the tensors pruning and clustering act on.
KERNEL_ATTRIBUTES = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")


def check_model(model, step):
    """Raises unless ``model`` is a built Sequential or functional ``tf_keras`` model."""
    if not isinstance(model, tf_keras.Model):
        raise TypeError(f"{step} needs a tf_keras.Model, got {type(model).__module__}.{type(model).__name__}")
    if not isinstance(model, tf_keras.Sequential) and not getattr(model, "_is_graph_network", False):
        raise ValueError(
            f"{step} needs a Sequential or functional model; {model.name!r} is a subclassed "
            f"{type(model).__name__}, whose layers TF-MOT cannot rewire"
        )
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built; call it once or give its Input shape before {step}")


def leaf_layers(model):
    """``[(layer, weights), ...]`` in order, descending into nested models and TF-MOT wrappers.

    ``weights`` are the unwrapped layer's own variables (no masks or quantizer ranges).
    A QAT wrapper replaces the kernel attribute of its layer by the fake-quantized
    tensor, which drops the kernel variable from ``layer.weights``; the wrapper keeps
    it in ``_weight_vars``.
    """
    found = []
    for layer in model.layers:
        if isinstance(layer, tf_keras.Model):
            found.extend(leaf_layers(layer))
            continue
        quantized = []
        while isinstance(layer, tf_keras.layers.Wrapper):
            quantized += [weight for weight, _, _ in getattr(layer, "_weight_vars", [])]
            layer = layer.layer
        weights = list(layer.weights)
        weights += [w for w in quantized if all(w is not v for v in weights)]
        found.append((layer, weights))
    return found


def kernels(weights):
    """``[(attribute, variable), ...]`` for the kernel-like variables among ``weights``."""
    found = []
    for variable in weights:
        attribute = variable.name.rsplit("/", 1)[-1].split(":")[0]
        if attribute in KERNEL_ATTRIBUTES:
            found.append((attribute, variable))
    return found


def check_exclude(exclude, model, option="exclude"):
    """Validates ``exclude`` (layer names and/or layer classes) and returns it as a tuple."""
    if isinstance(exclude, (str, type)):
        exclude = (exclude,)
    exclude = tuple(exclude or ())
    names = {layer.name for layer in _all_layers(model)}
    for item in exclude:
        if isinstance(item, type) and issubclass(item, tf_keras.layers.Layer):
            continue
        if isinstance(item, str):
            if item not in names:
                raise ValueError(
                    f"{option} names layer {item!r}, which model {model.name!r} does not have; "
                    f"its layers are: {', '.join(sorted(names))}"
                )
            continue
        raise ValueError(f"{option}={exclude!r} is invalid; expected layer names (str) or tf_keras layer classes")
    return exclude


def is_excluded(layer, exclude):
    return any(layer.name == item if isinstance(item, str) else isinstance(layer, item) for item in exclude)


def unsupported(layer, step, option="exclude"):
    """The ValueError for a layer TF-MOT cannot wrap for ``step``."""
    cls = type(layer).__name__
    return ValueError(
        f"layer {layer.name!r} ({cls}) cannot be wrapped for {step} by TF-MOT; "
        f"leave it out with {option}=[{layer.name!r}] or {option}=[{cls}] "
        "(or implement TF-MOT's PrunableLayer/ClusterableLayer/QuantizeConfig for it)"
    )


def copy_model(model):
    """A copy of ``model`` with its own layers and the same weights."""
    copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def rewrap(model, wrap):
    """A copy of ``model`` whose layers are ``wrap(layer)``; nested models are rewrapped too.

    ``model`` must be a copy the caller owns: layers ``wrap`` returns unchanged are shared.
    """

    def clone_function(layer):
        if isinstance(layer, tf_keras.Model):
            return tf_keras.models.clone_model(layer, clone_function=clone_function)
        return wrap(layer)

    return tf_keras.models.clone_model(model, clone_function=clone_function)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, tf_keras.Model):
            yield from _all_layers(layer)
