"""The compression stages: Prune, Cluster, QAT, each fine-tuned under the teacher's guidance.

Each calls ``tfkd.compress`` with one ``FineTune`` built from the stage's config and
its ``teacher`` input, and seeds TensorFlow first so that the same seed gives the same
model. Inputs: ``data``, ``model`` (the result to compress), ``teacher`` (optional).
"""

import dataclasses

from tfkd import compress, recipes
from tfkd.pipeline.stage import Stage
from tfkd.pipeline.training import gzip_weight_bytes


@dataclasses.dataclass(frozen=True)
class Guidance:
    """How every compression stage fine-tunes: the Distiller's settings, batch size and seed."""

    temperature: float = 4.0
    alpha: float = 0.1
    batch_size: int = 32
    learning_rate: float = None  # None: each step's default (1e-3 pruning, 1e-4 clustering and QAT)
    seed: int = 0

    @classmethod
    def from_recipe(cls, recipe, seed=0):
        return cls(temperature=recipe.temperature, alpha=recipe.alpha, batch_size=recipe.batch_size, seed=seed)


@dataclasses.dataclass
class CompressedModel:
    model: object
    accuracy: float
    sparsity: float
    max_unique_values: int
    gzip_bytes: int
    summary: dict  # tfkd.compress.summary(model).to_dict()
    scheme: str = None  # QAT only: the collaborative scheme it trained with


class _CompressionStage(Stage):
    """What Prune, Cluster and QAT share; their configs end with ``epochs`` and ``guidance``."""

    Result = CompressedModel

    def _fine_tune(self, epochs, context):
        import tf_keras

        guidance = self.config.guidance
        tf_keras.utils.set_random_seed(guidance.seed)
        teacher = self.inputs.get("teacher")
        return compress.FineTune(teacher=teacher.model if teacher is not None else None, epochs=epochs,
                                 batch_size=guidance.batch_size, learning_rate=guidance.learning_rate,
                                 temperature=guidance.temperature, alpha=guidance.alpha, verbose=context.verbose)

    def _result(self, model, scheme=None):
        data = self.inputs["data"]
        summary = compress.summary(model)
        return CompressedModel(model, recipes.accuracy(model, data.x_test, data.y_test), summary.sparsity,
                               summary.max_unique_values, gzip_weight_bytes(model), summary.to_dict(), scheme)

    def _data(self):
        data = self.inputs["data"]
        return (data.x, data.y)


class Prune(_CompressionStage):
    name = "student_pruned"

    @dataclasses.dataclass(frozen=True)
    class Config:
        target_sparsity: float = 0.75
        structure: str = None  # or "2:4"
        exclude: tuple = ()  # layer names left dense
        epochs: int = 10
        guidance: Guidance = Guidance()

    def run(self, context):
        options = self._fine_tune(self.config.epochs, context)
        model = compress.prune(self.inputs["model"].model, self._data(), target_sparsity=self.config.target_sparsity,
                               structure=self.config.structure, exclude=self.config.exclude, fine_tune=options)
        return self._result(model)

    def note(self, result):
        return f"accuracy {result.accuracy:.4f}, sparsity {result.sparsity:.3f}"

    def report(self, result):
        return {"accuracy": result.accuracy, "sparsity": result.sparsity,
                "target_sparsity": self.config.target_sparsity, "excluded_layers": list(self.config.exclude),
                "gzip_bytes": result.gzip_bytes}


class Cluster(_CompressionStage):
    name = "student_clustered"

    @dataclasses.dataclass(frozen=True)
    class Config:
        n_clusters: int = 16
        preserve_sparsity: bool = True
        epochs: int = 4
        guidance: Guidance = Guidance()

    def run(self, context):
        options = self._fine_tune(self.config.epochs, context)
        model = compress.cluster(self.inputs["model"].model, self._data(), n_clusters=self.config.n_clusters,
                                 preserve_sparsity=self.config.preserve_sparsity, fine_tune=options)
        return self._result(model)

    def note(self, result):
        return f"accuracy {result.accuracy:.4f}, at most {result.max_unique_values} values per kernel"

    def report(self, result):
        return {"accuracy": result.accuracy, "sparsity": result.sparsity,
                "max_unique_values": result.max_unique_values, "gzip_bytes": result.gzip_bytes}


class QAT(_CompressionStage):
    name = "student_qat"

    @dataclasses.dataclass(frozen=True)
    class Config:
        scheme: str = "auto"
        epochs: int = 4
        guidance: Guidance = Guidance()

    def run(self, context):
        source = self.inputs["model"].model
        scheme = compress.choose_scheme(source) if self.config.scheme == "auto" else self.config.scheme
        options = self._fine_tune(self.config.epochs, context)
        model = compress.quantize(source, self._data(), scheme=scheme, fine_tune=options)
        return self._result(model, scheme)

    def note(self, result):
        return f"accuracy {result.accuracy:.4f} ({result.scheme})"

    def report(self, result):
        return {"accuracy": result.accuracy, "scheme": result.scheme, "sparsity": result.sparsity,
                "gzip_bytes": result.gzip_bytes}
