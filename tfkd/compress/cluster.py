"""Weight clustering with TF-MOT, fine-tuned under the teacher's guidance."""

import tensorflow_model_optimization as tfmot
import tf_keras

from tfkd.compress import fine_tune as fine_tune_module
from tfkd.compress import layers

CENTROID_INITS = {
    "kmeans++": tfmot.clustering.keras.CentroidInitialization.KMEANS_PLUS_PLUS,
    "linear": tfmot.clustering.keras.CentroidInitialization.LINEAR,
    "density": tfmot.clustering.keras.CentroidInitialization.DENSITY_BASED,
}


def cluster(
    model,
    data,
    teacher=None,
    n_clusters=16,
    preserve_sparsity=True,
    init="kmeans++",
    exclude=(),
    fine_tune=None,
    depthwise=False,
    **fine_tune_options,
):
    """Clusters each kernel into ``n_clusters`` shared values and returns the stripped model.

    TF-MOT's ``cluster_weights`` wraps every layer with a kernel; the centroids
    fine-tune through ``tfkd.Distiller`` when ``teacher`` is given and on the labels
    otherwise. Kernels with ``n_clusters`` weights or fewer already hold at most that
    many values and are left alone. ``model`` itself is not changed.

    Args:
        model: a built Sequential or functional ``tf_keras`` model.
        data: as for ``tfkd.compress.prune``.
        teacher: a teacher as ``tfkd.Distiller`` takes it, or None for plain fine-tuning.
        n_clusters: distinct values per kernel, at least 2 (3 with ``preserve_sparsity``,
            whose zero takes one of them).
        preserve_sparsity: keep the zeros of a pruned model zero (one centroid is 0);
            kernels without zeros are clustered freely.
        init: centroid initialisation, "kmeans++", "linear" or "density".
        exclude: layer names and/or layer classes to leave unclustered.
        depthwise: cluster ``DepthwiseConv2D`` kernels too. TF-MOT's registry leaves them
            unclustered (it cites a large accuracy loss); with True they go through TF-MOT's
            own clustering as a ``ClusterableLayer`` and come back as plain
            ``DepthwiseConv2D`` layers. Worth it where their bytes matter (a DS-CNN's
            depthwise kernels are a tenth of its weights) and the accuracy holds.
        fine_tune, fine_tune_options: as for ``tfkd.compress.prune`` (default learning
            rate 1e-4: the centroids start close to the weights).

    Example:

    >>> import tfkd
    >>> (x, y), _, _ = tfkd.data.load("digits")
    >>> student = tfkd.models.cnn_student((8, 8, 1), 10)
    >>> clustered = tfkd.compress.cluster(student, (x[:256], y[:256]), n_clusters=8, epochs=1, verbose=0)
    >>> tfkd.compress.summary(clustered).max_unique_values <= 8
    True
    """
    layers.check_model(model, "cluster")
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int) or n_clusters < 2:
        raise ValueError(f"n_clusters={n_clusters!r} is invalid; expected an integer >= 2")
    if preserve_sparsity and n_clusters < 3:
        raise ValueError(
            f"n_clusters={n_clusters} is invalid with preserve_sparsity=True, which reserves one cluster for zero; "
            "expected n_clusters >= 3, or preserve_sparsity=False"
        )
    if init not in CENTROID_INITS:
        raise ValueError(f"init={init!r} is invalid; expected one of {sorted(CENTROID_INITS)}")
    options = fine_tune_module.resolve(fine_tune, teacher, fine_tune_options)
    exclude = layers.check_exclude(exclude, model)
    x, y = fine_tune_module.split(data, options.teacher)

    def wrap(layer):
        if layers.is_excluded(layer, exclude) or not layer.trainable_weights:
            return layer
        if depthwise and type(layer) is tf_keras.layers.DepthwiseConv2D:
            layer = _rebuilt(_ClusterableDepthwise, layer)
        kernels = [variable.numpy() for _, variable in layers.kernels(layer.weights)]
        # TF-MOT's k-means needs more weights than clusters; smaller kernels already
        # hold no more than n_clusters values.
        if kernels and all(kernel.size <= n_clusters for kernel in kernels):
            return layer
        # TF-MOT's sparsity preservation pins one centroid at zero even in a kernel
        # without zeros, which would add zeros (and cost accuracy) to a dense kernel.
        has_zeros = any((kernel == 0).any() for kernel in kernels)
        try:  # the wrapper's constructor is TF-MOT's public "can this layer be clustered" check
            wrapper = tfmot.clustering.keras.cluster_weights(
                layer,
                number_of_clusters=n_clusters,
                cluster_centroids_init=CENTROID_INITS[init],
                preserve_sparsity=preserve_sparsity and has_zeros,
            )
        except ValueError as e:
            raise layers.unsupported(layer, "clustering") from e
        # Supported layers without a kernel (batch norm, ...) have nothing to cluster.
        return wrapper if kernels else layer

    wrapped = layers.rewrap(layers.copy_model(model), wrap)
    fine_tune_module.fit(wrapped, x, y, options, default_learning_rate=1e-4)
    stripped = tfmot.clustering.keras.strip_clustering(wrapped)
    return layers.rewrap(stripped, _plain_depthwise) if depthwise else stripped


class _ClusterableDepthwise(tf_keras.layers.DepthwiseConv2D, tfmot.clustering.keras.ClusterableLayer):
    """A DepthwiseConv2D that offers its kernel to TF-MOT's clustering (whose registry offers none)."""

    def get_clusterable_weights(self):
        return [("depthwise_kernel", self.depthwise_kernel)]


def _rebuilt(cls, layer):
    """A ``cls`` layer with ``layer``'s configuration and weights."""
    copy = cls.from_config(layer.get_config())
    channels = layer.depthwise_kernel.shape[2]
    # build() reads only the channel count, so a layer shared between inputs of several sizes rebuilds too.
    copy.build((None, channels, None, None) if layer.data_format == "channels_first" else (None, None, None, channels))
    copy.set_weights(layer.get_weights())
    return copy


def _plain_depthwise(layer):
    """Back to tf_keras's own class, so saving and loading the model need no custom objects."""
    return _rebuilt(tf_keras.layers.DepthwiseConv2D, layer) if type(layer) is _ClusterableDepthwise else layer
