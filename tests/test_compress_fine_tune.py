"""tfkd.compress.FineTune: one fine-tuning config serves prune, cluster and QAT; keywords override it."""

import numpy as np
import pytest

import tfkd
from tfkd.compress import FineTune

from compress_fixtures import digits_slice, teacher_and_student  # noqa: F401  (pytest fixtures)


def test_one_config_serves_every_step_with_the_teachers_recipe(digits_slice, teacher_and_student):  # noqa: F811
    (x, y), (x_test, _) = digits_slice
    teacher, student = teacher_and_student
    seen = []

    import tf_keras

    class Epochs(tf_keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(sorted(logs))

    options = FineTune(teacher=teacher, epochs=1, batch_size=64, verbose=0, callbacks=(Epochs(),),
                       distiller_options={"mixup": 0.2})
    pruned = tfkd.compress.prune(student, (x, y), target_sparsity=0.5, fine_tune=options)
    clustered = tfkd.compress.cluster(pruned, (x, y), n_clusters=8, fine_tune=options)
    qat = tfkd.compress.quantize(clustered, (x, y), fine_tune=options, epochs=2)  # a keyword overrides the config
    assert len(seen) == 1 + 1 + 2
    # With a teacher every step trains through the Distiller: its loss terms are logged.
    assert all("distillation_loss" in logs for logs in seen)
    assert abs(tfkd.compress.summary(qat).sparsity - 0.5) <= 0.02
    assert qat.predict(x_test[:4], verbose=0).shape == (4, 10)


def test_unknown_options_and_wrong_configs_are_refused(digits_slice, teacher_and_student):  # noqa: F811
    (x, y), _ = digits_slice
    _, student = teacher_and_student
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['learningrate'\]; fine-tuning options are"):
        tfkd.compress.prune(student, (x, y), learningrate=1e-3)
    with pytest.raises(ValueError, match="fine_tune=.* expected a tfkd.compress.FineTune"):
        tfkd.compress.cluster(student, (x, y), fine_tune={"epochs": 1})
    with pytest.raises(ValueError, match="batch_size=0 is invalid"):
        FineTune(batch_size=0)
    assert FineTune(epochs=np.int64(3)).epochs == 3
