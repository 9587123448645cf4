"""The training stages: Data, Teacher, Scratch, Distil (and Given, for a model made elsewhere).

They call ``tfkd.recipes``, where the training itself lives; a stage adds the
accounting (test accuracy, sizes, the history for the training curves).
"""

import dataclasses
import gzip
import os

import numpy as np

from tfkd import recipes
from tfkd.pipeline.stage import Stage, hash_arrays, hash_model


@dataclasses.dataclass
class DataResult:
    name: str
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def validation(self):
        return (self.x_test, self.y_test)


class Data(Stage):
    """Loads a dataset with ``tfkd.data.load``; its fingerprint is the arrays' content."""

    name = "data"
    section = "dataset"
    cached = False

    @dataclasses.dataclass(frozen=True)
    class Config:
        dataset: str = "digits"
        data_dir: str = None

    Result = DataResult

    def run(self, context):
        from tfkd import data

        (x, y), (x_test, y_test), names = data.load(self.config.dataset, data_dir=self.config.data_dir)
        return DataResult(os.fspath(self.config.dataset), x, y, x_test, y_test, list(names))

    def content_fingerprint(self, result):
        return hash_arrays(result.x, result.y, result.x_test, result.y_test, np.array(result.class_names))

    def note(self, result):
        return f"{len(result.x)} training and {len(result.x_test)} test samples, {result.num_classes} classes"

    def report(self, result):
        return {"name": result.name, "train_samples": int(len(result.x)), "test_samples": int(len(result.x_test)),
                "classes": result.num_classes, "class_names": list(result.class_names),
                "input_shape": list(result.x.shape[1:])}


def given_data(name, x, y, x_test, y_test, class_names):
    """A ``DataResult`` for arrays already in memory, fingerprinted by their content (an input for any stage)."""
    result = DataResult(name, x, y, x_test, y_test, list(class_names))
    result.fingerprint = Data().content_fingerprint(result)
    return result


@dataclasses.dataclass
class ModelResult:
    """A trained float model with its test accuracy and sizes."""

    model: object
    accuracy: float
    params: int
    fp32_bytes: int
    gzip_bytes: int
    history: dict = None


def model_result(model, data, history=None):
    params = model.count_params()
    return ModelResult(model, recipes.accuracy(model, data.x_test, data.y_test), params, 4 * params,
                       gzip_weight_bytes(model), history.history if history is not None else None)


def gzip_weight_bytes(model):
    """gzip -9 size of a model's float32 weights: the size pruning and clustering reduce."""
    weights = b"".join(np.asarray(w, dtype=np.float32).tobytes() for w in model.get_weights())
    return len(gzip.compress(weights, 9))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training recipe and its seed."""

    recipe: recipes.Recipe = recipes.FULL
    seed: int = 0


class _TrainedAlone(Stage):
    """A reference model trained on labels alone by ``train`` (a ``tfkd.recipes`` function). Inputs: ``data``."""

    Config = TrainConfig
    Result = ModelResult
    train = None

    def run(self, context):
        data = self.inputs["data"]
        model, history = type(self).train(data.x, data.y, data.num_classes, self.config.recipe, self.config.seed,
                                          data.validation, context.verbose)
        return model_result(model, data, history)

    def note(self, result):
        return f"accuracy {result.accuracy:.4f}, {result.params} params"


class Teacher(_TrainedAlone):
    """The reference teacher for the data (``recipes.train_teacher``)."""

    name = "teacher"
    train = recipes.train_teacher

    def report(self, result):
        return {"accuracy": result.accuracy, "params": result.params, "fp32_bytes": result.fp32_bytes,
                "gzip_bytes": result.gzip_bytes}


class Scratch(_TrainedAlone):
    """The baseline: the reference student on labels alone (``recipes.train_scratch``)."""

    name = "student_scratch"
    train = recipes.train_scratch

    def report(self, result):
        return {"accuracy": result.accuracy, "params": result.params}


class _DistilledBy(Stage):
    """The reference student taught by the teacher through ``distil`` (a ``tfkd.recipes`` distilling function).

    Inputs: ``data``, ``teacher``.
    """

    name = "student_distilled"
    Config = TrainConfig
    distil = None

    def distilled(self, context):
        """``(distiller, history)`` of ``distil`` on the data, with this stage's recipe and seed."""
        data, teacher = self.inputs["data"], self.inputs["teacher"]
        return type(self).distil(teacher.model, data.x, data.y, data.num_classes, self.config.recipe,
                                 self.config.seed, validation_data=data.validation, verbose=context.verbose)


class Distil(_DistilledBy):
    """The reference student taught by the teacher with the textbook (Hinton) settings (``recipes.distil``)."""

    Result = ModelResult
    distil = recipes.distil

    def run(self, context):
        distiller, history = self.distilled(context)
        return model_result(distiller.student, self.inputs["data"], history)

    def note(self, result):
        return f"accuracy {result.accuracy:.4f}"

    def report(self, result):
        recipe = self.config.recipe
        return {"accuracy": result.accuracy, "params": result.params, "fp32_bytes": result.fp32_bytes,
                "gzip_bytes": result.gzip_bytes, "temperature": recipe.temperature, "alpha": recipe.alpha,
                "epochs": recipe.student_epochs}


@dataclasses.dataclass
class DistilledModel(ModelResult):
    """A student distilled by a ``tfkd.distil`` recipe; ``recipe`` holds the ``tfkd.teaching.Settings`` used."""

    recipe: dict = None
    recipe_scores: dict = None  # held-out accuracy of each recipe "auto" tried

    def settings(self):
        from tfkd import teaching

        return teaching.Settings(**self.recipe)


class DistilRecipe(_DistilledBy):
    """The reference student distilled by ``tfkd.distil`` with ``recipe.distillation``
    (``recipes.distil_with_recipe``)."""

    Result = DistilledModel
    distil = recipes.distil_with_recipe

    def run(self, context):
        distiller, history = self.distilled(context)
        base = model_result(distiller.student, self.inputs["data"], history)
        fields = {field.name: getattr(base, field.name) for field in dataclasses.fields(base)}
        return DistilledModel(**fields,
                              recipe=dataclasses.asdict(history.recipe),
                              recipe_scores=getattr(history, "recipe_scores", None) or None)

    def note(self, result):
        return f"accuracy {result.accuracy:.4f} (recipe {result.recipe['name']})"

    def report(self, result):
        recipe = {"requested": self.config.recipe.distillation, **result.recipe,
                  "epochs": self.config.recipe.student_epochs * result.recipe["epochs_factor"]}
        if result.recipe_scores:
            recipe["held_out_accuracy"] = result.recipe_scores
        return {"accuracy": result.accuracy, "params": result.params, "fp32_bytes": result.fp32_bytes,
                "gzip_bytes": result.gzip_bytes, "recipe": recipe}


class ScratchAugmented(Stage):
    """The fair baseline: the student on labels alone with the distilled student's augmentation and epochs
    (``recipes.train_scratch_augmented``). Inputs: ``data``, ``distilled`` (a ``DistilRecipe`` result)."""

    name = "student_scratch_augmented"
    Config = TrainConfig
    Result = ModelResult

    def run(self, context):
        data, settings = self.inputs["data"], self.inputs["distilled"].settings()
        model, history = recipes.train_scratch_augmented(data.x, data.y, data.num_classes, self.config.recipe,
                                                         self.config.seed, settings, data.validation, context.verbose)
        return model_result(model, data, history)

    def note(self, result):
        return f"accuracy {result.accuracy:.4f}"

    def report(self, result):
        recipe = self.inputs["distilled"].recipe
        return {"accuracy": result.accuracy, "augment": recipe["augment"],
                "epochs": self.config.recipe.student_epochs * recipe["epochs_factor"]}


class Given(Stage):
    """A model made outside the pipeline, in memory (``model=``) or in a file (``path=``).

    Inputs: ``data`` (for its accuracy). Its fingerprint is the model's architecture and weights.
    """

    name = "model"
    cached = False

    @dataclasses.dataclass(frozen=True)
    class Config:
        path: str = None

    Result = ModelResult

    def __init__(self, config=None, *, model=None, name=None, **inputs):
        super().__init__(config, name=name, **inputs)
        if (model is None) == (self.config.path is None):
            raise ValueError("Given needs exactly one of model= or Config(path=)")
        self._model = model

    def run(self, context):
        from tfkd.saving import load_model

        model = self._model if self._model is not None else load_model(self.config.path)
        return model_result(model, self.inputs["data"])

    def content_fingerprint(self, result):
        return hash_model(result.model)

    def note(self, result):
        return f"accuracy {result.accuracy:.4f}, {result.params} params"
