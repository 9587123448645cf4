"""What compression did to a model: parameters, zeros and distinct values per kernel."""

import numpy as np

from tfkd.compress.layers import kernels, leaf_layers


class Summary:
    """Parameter counts, sparsity and distinct weight values of a model.

    ``params`` and ``nonzero_params`` count every weight of the model's layers (TF-MOT
    wrapper variables such as masks and quantizer ranges excluded). ``sparsity`` is the
    fraction of zeros over the kernels, the tensors pruning and clustering act on;
    ``layers`` holds one row per kernel.
    """

    def __init__(self, name, params, nonzero_params, layers):
        self.name = name
        self.params = params
        self.nonzero_params = nonzero_params
        self.layers = layers

    @property
    def kernel_params(self):
        return sum(row["params"] for row in self.layers)

    @property
    def sparsity(self):
        total = self.kernel_params
        return 1.0 - sum(row["nonzero"] for row in self.layers) / total if total else 0.0

    @property
    def max_unique_values(self):
        """The most distinct values any kernel holds (0 for a model without kernels)."""
        return max((row["unique_values"] for row in self.layers), default=0)

    def to_dict(self):
        return {
            "model": self.name,
            "params": self.params,
            "nonzero_params": self.nonzero_params,
            "kernel_params": self.kernel_params,
            "sparsity": self.sparsity,
            "max_unique_values": self.max_unique_values,
            "layers": [dict(row) for row in self.layers],
        }

    def __str__(self):
        header = ("layer", "type", "weight", "shape", "params", "nonzero", "sparsity", "unique")
        rows = [
            (
                row["layer"],
                row["type"],
                row["weight"],
                "x".join(map(str, row["shape"])),
                str(row["params"]),
                str(row["nonzero"]),
                f"{row['sparsity']:.1%}",
                str(row["unique_values"]),
            )
            for row in self.layers
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        right = {4, 5, 6, 7}

        def line(cells):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        lines = [f"model {self.name!r}", line(header), line(["-" * w for w in widths])]
        lines += [line(r) for r in rows]
        lines.append(
            f"params {self.params}, nonzero {self.nonzero_params}; "
            f"kernels {self.kernel_params}, sparsity {self.sparsity:.1%}, "
            f"at most {self.max_unique_values} distinct values per kernel"
        )
        return "\n".join(lines)

    __repr__ = __str__


def summary(model):
    """Summarises ``model`` (plain, stripped, or still wrapped by TF-MOT).

    Example:

    >>> import tfkd
    >>> report = tfkd.compress.summary(tfkd.models.cnn_student((8, 8, 1), 10))
    >>> report.sparsity
    0.0
    >>> [row["layer"] for row in report.layers]
    ['conv_1', 'conv_2', 'logits']
    """
    params = nonzero = 0
    rows = []
    for layer, weights in leaf_layers(model):
        for weight in weights:
            values = weight.numpy()
            params += values.size
            nonzero += int(np.count_nonzero(values))
        for attribute, variable in kernels(weights):
            values = variable.numpy()
            count = int(np.count_nonzero(values))
            rows.append(
                {
                    "layer": layer.name,
                    "type": type(layer).__name__,
                    "weight": attribute,
                    "shape": list(values.shape),
                    "params": int(values.size),
                    "nonzero": count,
                    "sparsity": 1.0 - count / values.size if values.size else 0.0,
                    "unique_values": int(np.unique(values).size),
                    # Per output channel (last axis): TF-MOT's cluster-preserving QAT keeps
                    # Conv2D clusters per channel, as int8 per-channel scales do.
                    "unique_per_channel": int(max(np.unique(values[..., c]).size for c in range(values.shape[-1]))),
                }
            )
    return Summary(model.name, params, nonzero, rows)
