"""``tfkd.distil`` and its recipes: choices, errors, and the direction of the effect on digits."""

import numpy as np
import pytest
import tf_keras

import tfkd
from tfkd import lr_schedule, recipes, teaching

SEED = 0
LABELS_PER_CLASS = 15


def test_unknown_recipe_is_one_clear_error_listing_the_valid_ones():
    student = tfkd.models.mlp_student(4, 3)
    x, y = np.zeros((6, 4), np.float32), np.array([0, 1, 2] * 2)
    with pytest.raises(ValueError, match="recipe='bold'.*auto.*textbook.*consistent.*patient"):
        tfkd.distil(student, student, x, y, recipe="bold")
    with pytest.raises(ValueError, match="unlabelled inputs have shape"):
        tfkd.distil(student, student, x, y, unlabelled=np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="x has 6 samples and y has 5"):
        tfkd.distil(student, student, x, y[:5])


def test_image_transforms_only_for_images_and_stronger_with_more_parameters_per_input():
    images, vectors = np.zeros((1000, 8, 8, 1), np.float32), np.zeros((1000, 4), np.float32)
    tiny = tfkd.models.cnn_student((8, 8, 1), 10)  # ~1.9k parameters
    assert teaching.named("consistent", tfkd.models.mlp_student(4, 3), vectors).augment == "none"
    assert teaching.named("consistent", tiny, images).augment == "none"
    assert teaching.named("consistent", tiny, images[:500]).augment == "mild"
    assert teaching.named("consistent", tiny, images[:100]).augment == "strong"
    assert teaching.named("textbook", tiny, images) == teaching.TEXTBOOK
    patient = teaching.named("patient", tiny, images)
    assert patient.epochs_factor > 1 and patient.schedule == "warmup_cosine" and patient.mixup > 0
    assert [c.name for c in teaching.candidates(tfkd.models.mlp_student(4, 3), vectors)] == ["textbook", "patient"]
    assert teaching.candidates(tiny, images)[0] == teaching.TEXTBOOK


def test_auto_keeps_textbook_only_when_it_wins_the_held_out_split_by_more_than_the_margin():
    images = np.zeros((1347, 8, 8, 1), np.float32)
    options = teaching.candidates(tfkd.models.cnn_student((8, 8, 1), 10), images[:100])  # with transforms
    textbook, plain, transformed = (option.name for option in options)
    margin = teaching.TEXTBOOK_MARGIN_SAMPLES
    by = lambda scores: teaching.pick(options, scores, 200).name  # noqa: E731
    assert by({textbook: 0.99, plain: 0.99 - margin / 200, transformed: 0.97}) == plain
    assert by({textbook: 0.99, plain: 0.99 - (margin + 1) / 200, transformed: 0.97}) == textbook
    assert by({textbook: 0.95, plain: 0.97, transformed: 0.97}) == transformed
    # All labels: the longer, more strongly mixed schedule; few labels + unlabelled keep 3x and MixUp(0.2).
    all_labels = teaching.named("patient", tfkd.models.cnn_student((8, 8, 1), 10), images)
    few = teaching.named("patient", tfkd.models.cnn_student((8, 8, 1), 10), images[:150], unlabelled=images[150:])
    assert all_labels.epochs_factor > few.epochs_factor and all_labels.mixup > few.mixup


def test_holdout_is_stratified_and_needs_two_samples_per_class():
    y = np.repeat(np.arange(4), [20, 10, 2, 7])
    held = teaching.holdout(y, seed=0)
    assert len(np.unique(held)) == len(held)
    assert all(1 <= np.sum(y[held] == c) < np.sum(y == c) for c in range(4))
    assert teaching.holdout(np.array([0, 0, 1]), seed=0) is None


def test_warmup_then_cosine_rises_peaks_and_decays():
    rate = lr_schedule.warmup_cosine(1e-2, 40)
    rates = [rate(epoch) for epoch in range(40)]
    peak = int(np.argmax(rates))
    assert rates[0] < rates[peak] == pytest.approx(1e-2) and peak <= 4
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1:]))
    assert rates[-1] == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="epochs=0"):
        lr_schedule.warmup_cosine(1e-2, 0)


@pytest.fixture(scope="module")
def digits_few_labels():
    (x, y), (x_test, y_test), _ = tfkd.data.load("digits")
    teacher, _ = recipes.train_teacher(x, y, 10, recipes.FAST, SEED)
    rng = np.random.default_rng(SEED)
    labelled = np.concatenate([rng.choice(np.where(y == c)[0], LABELS_PER_CLASS, replace=False) for c in range(10)])
    rest = np.setdiff1d(np.arange(len(y)), labelled)
    return teacher, x[labelled], y[labelled], x[rest], x_test, y_test


def test_auto_beats_scratch_with_few_labels_and_unlabelled_inputs_and_never_loses_to_textbook(digits_few_labels):
    teacher, x, y, unlabelled, x_test, y_test = digits_few_labels
    epochs = 4
    tf_keras.utils.set_random_seed(SEED)
    scratch = tfkd.models.cnn_student((8, 8, 1), 10)
    scratch.compile(tf_keras.optimizers.Adam(1e-2), recipes.hard_loss())
    # About as many steps as the final distillation run: 96 epochs of 5 labelled batches vs 12 of 43 mixed ones.
    scratch.fit(x, y, epochs=epochs * teaching.PATIENCE * 8, batch_size=32, verbose=0)
    tf_keras.utils.set_random_seed(SEED)
    student = tfkd.models.cnn_student((8, 8, 1), 10)
    distiller, history = tfkd.distil(student, teacher, x, y, unlabelled=unlabelled, epochs=epochs, verbose=0,
                                     seed=SEED)
    assert distiller.student is student
    scores = history.recipe_scores
    margin = teaching.TEXTBOOK_MARGIN_SAMPLES / len(teaching.holdout(y, SEED))
    assert list(scores)[0] == "textbook" and scores[history.recipe.name] >= scores["textbook"] - margin
    assert len(history.history["loss"]) == epochs * history.recipe.epochs_factor
    distilled_accuracy = recipes.accuracy(student, x_test, y_test)
    scratch_accuracy = recipes.accuracy(scratch, x_test, y_test)
    assert distilled_accuracy > scratch_accuracy + 0.02, (distilled_accuracy, scratch_accuracy)
