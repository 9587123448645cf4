"""The Distiller under tf.distribute.MirroredStrategy matches one device, with unlabelled data too.

Two logical CPU devices must be configured before TensorFlow initialises, so the
comparison runs in a fresh interpreter.
"""

import json
import subprocess
import sys
import textwrap

TOLERANCE = 1e-4  # float32 sums in a different order across two replicas

SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tf_keras
    import tfkd

    (x, y), (x_test, _), _ = tfkd.data.load("digits")
    x, y = x[:256], y[:256]
    tf_keras.utils.set_random_seed(0)
    teacher = tfkd.models.cnn_teacher((8, 8, 1), 10, width=8)
    initial_student = tfkd.models.cnn_student((8, 8, 1), 10)

    def train(strategy, unlabelled=None, **kwargs):
        with strategy.scope():
            student = tf_keras.models.clone_model(initial_student)
            student.set_weights(initial_student.get_weights())
            hint = tfkd.losses.FeatureHint([("features_2", "features_2")])
            distiller = tfkd.Distiller(student=student, teacher=teacher, feature_losses=[hint], **kwargs)
            distiller.compile(optimizer=tf_keras.optimizers.SGD(0.05),
                              loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                              metrics=["accuracy"])
        tf_keras.utils.set_random_seed(1)
        history = distiller.fit(x, y, unlabelled=unlabelled, batch_size=32, epochs=2, shuffle=False, verbose=0)
        return student.predict(x_test, verbose=0), history.history["loss"]

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    one_predictions, one_loss = train(one_device)
    two_predictions, two_loss = train(mirrored)
    # 21 labelled + 11 unlabelled per batch: the replicas hold unequal shares of labelled samples
    one_mixed, _ = train(one_device, unlabelled=x_test[:128])
    two_mixed, _ = train(mirrored, unlabelled=x_test[:128])
    _, consistent_loss = train(mirrored, augment=tfkd.augment.images(translate=0.1, seed=0), mixup=0.2)
    print(json.dumps({
        "replicas": mirrored.num_replicas_in_sync,
        "max_prediction_difference": float(np.max(np.abs(one_predictions - two_predictions))),
        "max_unlabelled_prediction_difference": float(np.max(np.abs(one_mixed - two_mixed))),
        "one_device_loss": one_loss, "mirrored_loss": two_loss, "consistent_loss": consistent_loss,
    }))
    """
)


def test_mirrored_strategy_matches_one_device():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["max_prediction_difference"] < TOLERANCE, report
    assert report["max_unlabelled_prediction_difference"] < TOLERANCE, report
    assert all(abs(loss) < 1e6 for loss in report["consistent_loss"]), report  # finite, and it ran
    for one, two in zip(report["one_device_loss"], report["mirrored_loss"]):
        assert abs(one - two) < TOLERANCE * 10, report
