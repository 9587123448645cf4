"""Quantization-aware training with TF-MOT, keeping sparsity and clusters, under the teacher's guidance."""

import copy
import logging
import re

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras

from tfkd.compress import fine_tune as fine_tune_module
from tfkd.compress import layers

SCHEMES = ("auto", "default", "prune_preserve", "cluster_preserve", "prune_cluster_preserve")
# A model counts as sparse when this fraction of its kernel weights is exactly zero:
# trained float weights are practically never exactly zero, pruned ones are.
SPARSE_FRACTION = 0.05
# A kernel looks clustered when each of its distinct nonzero values is shared by at
# least this many weights on average (trained float kernels share none)...
CLUSTER_SHARING = 4
# ... and it has no more distinct values than TF-MOT's cluster-preserving QAT tracks.
MAX_CENTROIDS = 1024

_UNSUPPORTED = re.compile(r"Layer (\S+):<class '([\w.]+)'> is not supported")

log = logging.getLogger(__name__)


def choose_scheme(model):
    """The collaborative QAT scheme that keeps what ``model`` has: its zeros, its clusters, both, or neither.

    Returns "prune_cluster_preserve", "cluster_preserve", "prune_preserve" or "default".
    """
    total = zeros = clustered = 0
    for _, weights in layers.leaf_layers(model):
        for _, variable in layers.kernels(weights):
            values = variable.numpy().ravel()
            nonzero = values[values != 0]
            total += values.size
            zeros += values.size - nonzero.size
            distinct = np.unique(nonzero).size
            if nonzero.size and distinct <= MAX_CENTROIDS and nonzero.size >= CLUSTER_SHARING * distinct:
                clustered += values.size
    if not total:
        return "default"
    sparse = zeros / total >= SPARSE_FRACTION
    # Clustered when most kernel weights sit in kernels that look clustered: small
    # kernels that TF-MOT's clustering leaves alone must not decide it.
    if clustered >= total / 2:
        return "prune_cluster_preserve" if sparse else "cluster_preserve"
    return "prune_preserve" if sparse else "default"


def quantize(
    model,
    data,
    teacher=None,
    epochs=None,
    scheme="auto",
    exclude=(),
    fine_tune=None,
    **fine_tune_options,
):
    """Quantization-aware training with TF-MOT; returns the QAT model.

    Fake-quantization nodes learn int8 ranges while the model fine-tunes, through
    ``tfkd.Distiller`` when ``teacher`` is given and on the labels otherwise. The
    result converts to full-int8 TFLite with ``tfkd.export.to_tflite``. Sparse and
    clustered inputs keep their zeros and shared values through TF-MOT's
    collaborative schemes; ``model`` itself is not changed. Save the result with
    ``model.save("m.keras")`` and load it with ``tfkd.load_model``.

    Args:
        model: a built Sequential or functional ``tf_keras`` model (no nested models).
        data: as for ``tfkd.compress.prune``.
        teacher: a teacher as ``tfkd.Distiller`` takes it, or None for plain fine-tuning.
        epochs: fine-tuning epochs (default: ``fine_tune``'s, 2).
        scheme: "auto" (see ``choose_scheme``), "default" (8-bit QAT), "prune_preserve"
            (PQAT), "cluster_preserve" (CQAT) or "prune_cluster_preserve" (PCQAT).
        exclude: layer names and/or classes left unannotated; they get post-training
            ranges at conversion.
        fine_tune, fine_tune_options: as for ``tfkd.compress.prune`` (default learning
            rate 1e-4: QAT starts from trained weights and only adapts them to int8).

    Example:

    >>> import tfkd
    >>> (x, y), _, _ = tfkd.data.load("digits")
    >>> student = tfkd.models.cnn_student((8, 8, 1), 10)
    >>> qat = tfkd.compress.quantize(student, (x[:256], y[:256]), epochs=1, verbose=0)
    >>> tflite_bytes = tfkd.export.to_tflite(qat, x[:100])
    """
    layers.check_model(model, "quantize")
    nested = [layer.name for layer in model.layers if isinstance(layer, tf_keras.Model)]
    if nested:
        raise ValueError(
            f"model {model.name!r} holds nested models {nested}; TF-MOT quantization-aware training "
            "needs their layers inlined into one functional model"
        )
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r} is invalid; expected one of {SCHEMES}")
    if epochs is not None:
        fine_tune_options["epochs"] = epochs
    options = fine_tune_module.resolve(fine_tune, teacher, fine_tune_options)
    exclude = layers.check_exclude(exclude, model)
    x, y = fine_tune_module.split(data, options.teacher)
    if scheme == "auto":
        scheme = choose_scheme(model)
        log.info("quantize: model %r gets the %r QAT scheme", model.name, scheme)

    registry = _scheme(scheme).get_quantize_registry()

    def annotate(layer):
        if layers.is_excluded(layer, exclude) or isinstance(layer, tf_keras.layers.InputLayer):
            return layer
        # Batch norm has no config of its own: TF-MOT's layout folds it into the layer before.
        if not registry.supports(layer) and not isinstance(layer, tf_keras.layers.BatchNormalization):
            raise layers.unsupported(layer, "quantization-aware training")
        return tfmot.quantization.keras.quantize_annotate_layer(layer)

    annotated = layers.rewrap(layers.copy_model(model), annotate)
    with tfmot.quantization.keras.quantize_scope():
        try:
            qat = tfmot.quantization.keras.quantize_apply(annotated, _KeepWeightQuantizers(_scheme(scheme), annotated))
        except RuntimeError as e:
            raise _unsupported(e, model) from e
    fine_tune_module.fit(qat, x, y, options, default_learning_rate=1e-4)
    if scheme in ("cluster_preserve", "prune_cluster_preserve"):
        return _with_default_quantizers(qat, annotated)
    return qat


def _with_default_quantizers(trained, annotated):
    """The default-scheme QAT model of ``annotated`` holding ``trained``'s weights and ranges.

    Cluster-preserving quantizers create their centroid variables only when the
    kernel they are built on looks clustered, so a model rebuilt from a file (with
    fresh kernels) expects other variables than were saved. Their extra variables
    only steer training: at inference they quantize the kernel exactly like the
    default quantizers, and the trained kernels already hold the clustered values.
    """
    with tfmot.quantization.keras.quantize_scope():
        plain = tfmot.quantization.keras.quantize_apply(annotated, _KeepWeightQuantizers(_scheme("default"), annotated))
    # Both models come from ``annotated``: same layers in the same order, whose variables
    # differ in name only by the layer name (Keras numbers the input QuantizeLayer anew).
    for layer, source_layer in zip(plain.layers, trained.layers):
        source = {v.name.replace(source_layer.name, ""): v for v in source_layer.weights}
        for variable in layer.weights:
            variable.assign(source[variable.name.replace(layer.name, "")])
    return plain


class _KeepWeightLayout(tfmot.quantization.keras.default_8bit.Default8BitQuantizeLayoutTransform):
    """TF-MOT's default layout, except that kernels followed by a ReLU layer stay quantized.

    TF-MOT 0.8's ``LayerReLUQuantize`` gives Conv2D, DepthwiseConv2D and Dense layers
    followed by a ``ReLU`` layer a ``NoOpQuantizeConfig`` to keep fake-quantization out
    of the fused conv+ReLU; that drops their weight quantizers too, so QAT would never
    see int8 kernels there and PQAT/CQAT would not keep their zeros or clusters. Those
    layers get their scheme's config back, with the activation left unquantized.
    """

    def __init__(self, configs):
        self._configs = configs

    def apply(self, model, layer_quantize_map):
        model, layer_quantize_map = super().apply(model, layer_quantize_map)
        for name, config in self._configs.items():
            entry = layer_quantize_map.get(name, {})
            if type(entry.get("quantize_config")).__name__ == "NoOpQuantizeConfig":
                entry["quantize_config"] = config
        return model, layer_quantize_map


class _KeepWeightQuantizers(tfmot.quantization.keras.QuantizeScheme):
    """``base`` with ``_KeepWeightLayout`` as its layout transform and a weight quantizer per layer."""

    def __init__(self, base, annotated):
        self._registry = _PerLayerQuantizers(base.get_quantize_registry())
        self._configs = {}
        for layer in annotated.layers:
            inner = getattr(layer, "layer", None)
            if isinstance(inner, _KERNEL_LAYERS) and self._registry.supports(inner):
                config = self._registry.get_quantize_config(inner)
                # The ReLU after the layer carries the output fake-quantization.
                config.activation_attrs = []
                self._configs[inner.name] = config

    def get_layout_transformer(self):
        return _KeepWeightLayout(self._configs)

    def get_quantize_registry(self):
        return self._registry


class _PerLayerQuantizers(tfmot.quantization.keras.QuantizeRegistry):
    """``registry``, except that every layer's config gets a weight quantizer of its own.

    TF-MOT 0.8's cluster-preserving registry hands one weight quantizer instance to
    every Conv2D (and another to every Dense) layer, and that quantizer switches its
    ``preserve_sparsity`` off for good when it is built on a kernel without zeros. A
    layer left out of pruning (typically the first conv) built before a pruned one of
    its type thus turned PCQAT into plain CQAT for the pruned one, whose zero centroid
    then trained away from zero and took every pruned weight with it.
    """

    def __init__(self, registry):
        self._registry = registry

    def supports(self, layer):
        return self._registry.supports(layer)

    def get_quantize_config(self, layer):
        config = self._registry.get_quantize_config(layer)
        if getattr(config, "weight_quantizer", None) is not None:
            # A shallow copy suffices: the quantizer's own state is scalar settings, and
            # the variables it builds belong to the layer's wrapper.
            config.weight_quantizer = copy.copy(config.weight_quantizer)
        return config


_KERNEL_LAYERS = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D, tf_keras.layers.Dense)


def _scheme(name):
    if name == "default":
        return tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()
    if name == "prune_preserve":
        return tfmot.quantization.keras.collab_opts.Default8BitPrunePreserveQuantizeScheme()
    # The one module path outside TF-MOT's public API: 0.8 exports only the
    # prune-preserving collaborative scheme (``collab_opts``), while the
    # cluster-preserving one, which CQAT and PCQAT need, lives only here.
    from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve import (
        default_8bit_cluster_preserve_quantize_scheme as cluster_preserve,
    )

    return cluster_preserve.Default8BitClusterPreserveQuantizeScheme(
        preserve_sparsity=name == "prune_cluster_preserve"
    )


def _unsupported(error, model):
    """Turns quantize_apply's RuntimeError about a layer into the ValueError that names the fix."""
    match = _UNSUPPORTED.search(str(error))
    if match:
        name = match.group(1)
        for layer, _ in layers.leaf_layers(model):
            if layer.name == name:
                return layers.unsupported(layer, "quantization-aware training")
    return ValueError(f"TF-MOT cannot quantize model {model.name!r}: {error}")
