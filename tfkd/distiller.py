"""The Distiller: a Keras model whose ``fit`` trains a student to imitate a teacher."""

import math

import numpy as np
import tensorflow as tf
import tf_keras

from tfkd import augment as tfkd_augment
from tfkd import losses as tfkd_losses
from tfkd import teacher_cache
from tfkd.distiller_data import (
    check_ratio,
    check_unlabelled,
    first_batch,
    labelled_and_unlabelled,
    teacher_output_cache,
    unpack_inputs,
)
from tfkd.teachers import Teacher

LOSS_WEIGHTINGS = ("fixed", "uncertainty")
DEFAULT_ALPHA = 0.1
_NO_STEP = tf.int64.max  # _non_finite_step while every loss has been finite
_NON_FINITE = "tfkd: the training loss is not finite"


def _metric_name(term):
    return term.name if term.name.endswith("loss") else f"{term.name}_loss"


class Distiller(tf_keras.Model):
    """Trains ``student`` on hard labels and on what ``teacher`` knows, with plain ``fit``.

    The loss is ``alpha * hard + (1 - alpha) * (distillation + sum of weighted feature
    terms)``; without labels (``fit(x)``) only the distillation terms train, and
    ``fit(x, y, unlabelled=u)`` mixes both kinds of sample in every batch. Only the
    student's weights and the adapters of feature terms change; teachers run with
    ``training=False``.

    Consistent teaching (Beyer et al., CVPR 2022): with ``augment``, ``mixup`` or
    ``cutmix`` each training batch is transformed once, then the same batch goes to
    every teacher and to the student, so the distillation targets are the teachers'
    outputs on exactly what the student sees. Evaluation and prediction never augment.
    Under mixing, the hard-label term of a sample mixed from a and b with weight lam is
    ``lam * loss(y_a) + (1 - lam) * loss(y_b)``, for sparse and one-hot labels alike;
    lam is drawn per batch and folded into [0.5, 1], and training accuracy is measured
    against y_a. Losses are reduced over the global batch, so the Distiller
    trains under ``tf.distribute.MirroredStrategy`` and ``MultiWorkerMirroredStrategy``.
    ``alpha`` and ``temperature`` are variables: the schedules in ``tfkd.callbacks``
    change them inside compiled training without retracing.

    Args:
        student: the ``tf_keras`` model to train; must output logits for classification terms.
        teacher: a teacher (``tf_keras`` or Keras 3 model, SavedModel path, callable) or a list of them.
        temperature: softening temperature T > 0 of the logit term.
        alpha: weight of the hard-label loss, in [0, 1].
        distillation_loss: the logit term (default ``tfkd.losses.SoftTarget()``), or None for none.
        feature_losses: feature terms (``FeatureHint``, ``AttentionTransfer``) on the first teacher.
        teacher_weights: one weight per teacher for the ensemble (default: equal).
        cache_teacher: compute each training sample's teacher outputs once, before the first
            epoch; invalid with ``augment``, ``mixup`` and ``cutmix`` (the cached outputs would
            belong to other inputs).
        loss_weighting: "fixed" (alpha) or "uncertainty" (learned, Kendall et al. 2018); the
            learned weights replace alpha, so "uncertainty" rejects a non-default alpha and
            alpha schedules.
        teacher_error_weight: factor in [0, 1] on the distillation terms of samples the teacher
            classifies wrongly (1 keeps them, 0 drops them); needs labels.
        augment: applied to every training batch before the teachers and the student see it: a
            ``tf_keras`` layer (called with ``training=True``), e.g. ``tfkd.augment.images(...)``,
            or any callable on a batch that keeps its shape. None: no augmentation.
        mixup: Beta parameter of MixUp (Zhang et al. 2018), 0 for off; about 0.2 to 1 is usual.
        cutmix: Beta parameter of CutMix (Yun et al. 2019) for image batches, 0 for off; with
            both > 0 each batch uses one of the two, with equal chance.

    Example:

    >>> import tfkd, tf_keras
    >>> (x, y), _, _ = tfkd.data.load("digits")
    >>> teacher = tfkd.models.cnn_teacher((8, 8, 1), 10)
    >>> distiller = tfkd.Distiller(student=tfkd.models.cnn_student((8, 8, 1), 10), teacher=teacher)
    >>> distiller.compile(optimizer="adam",
    ...     loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    >>> history = distiller.fit(x[:64], y[:64], epochs=1, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'alpha', 'distillation_loss', 'loss', 'student_loss', 'temperature']
    """

    def __init__(
        self,
        student,
        teacher,
        temperature=4.0,
        alpha=0.1,
        distillation_loss="default",
        feature_losses=(),
        teacher_weights=None,
        cache_teacher=False,
        loss_weighting="fixed",
        teacher_error_weight=1.0,
        augment=None,
        mixup=0.0,
        cutmix=0.0,
        name="distiller",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if not isinstance(student, tf_keras.Model):
            raise TypeError(f"student must be a tf_keras.Model, got {type(student).__name__}")
        if not student.trainable_weights:
            raise ValueError(f"student {student.name!r} has no trainable weights; there is nothing to distil into")
        _check_number(temperature, "temperature", low=0.0, low_inclusive=False)
        _check_number(alpha, "alpha", low=0.0, high=1.0)
        _check_number(teacher_error_weight, "teacher_error_weight", low=0.0, high=1.0)
        if loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"loss_weighting={loss_weighting!r} is invalid; expected one of {LOSS_WEIGHTINGS}")
        if loss_weighting == "uncertainty" and alpha != DEFAULT_ALPHA:
            raise ValueError(
                f"alpha={alpha!r} has no effect with loss_weighting='uncertainty': the learned weights replace "
                f"alpha; leave alpha at {DEFAULT_ALPHA} or use loss_weighting='fixed'"
            )
        if augment is not None and not callable(augment):
            raise ValueError(
                f"augment={augment!r} is invalid; expected a tf_keras layer such as tfkd.augment.images(...), "
                "a callable on a batch, or None"
            )
        _check_number(mixup, "mixup", low=0.0)
        _check_number(cutmix, "cutmix", low=0.0)
        if cache_teacher and (augment is not None or mixup or cutmix):
            raise ValueError(
                f"cache_teacher={cache_teacher!r} cannot be combined with augment, mixup or cutmix: the cached "
                "teacher outputs would belong to other inputs than the transformed batches; set cache_teacher=False"
            )
        sources = list(teacher) if isinstance(teacher, (list, tuple)) else [teacher]
        if not sources:
            raise ValueError("teacher=[] is invalid; expected a teacher or a non-empty list of teachers")
        if distillation_loss == "default":
            distillation_loss = tfkd_losses.SoftTarget()
        if distillation_loss is not None and not isinstance(distillation_loss, tfkd_losses.LogitTerm):
            raise TypeError(
                f"distillation_loss must be a tfkd.losses logit term (SoftTarget, DKD, OutputMSE) or None, "
                f"got {type(distillation_loss).__name__}"
            )
        feature_losses = list(feature_losses)
        for term in feature_losses:
            if not isinstance(term, tfkd_losses.FeatureTerm):
                raise TypeError(
                    f"feature_losses must hold tfkd.losses feature terms (FeatureHint, AttentionTransfer), "
                    f"got {type(term).__name__}"
                )
        if distillation_loss is None and not feature_losses:
            raise ValueError("distillation_loss=None with no feature_losses leaves nothing to distil")

        self.student = student
        self._teachers = _TeacherEnsemble([Teacher(s) for s in sources], teacher_weights)
        self.distillation_loss = distillation_loss
        self.feature_losses = feature_losses
        # True keeps teacher outputs in memory; "disk", a path or a DiskCache streams them from files.
        self.cache_teacher = cache_teacher if teacher_cache.from_option(cache_teacher) else bool(cache_teacher)
        self.loss_weighting = loss_weighting
        self.teacher_error_weight = float(teacher_error_weight)
        self.augment = augment
        self.mixup = float(mixup)
        self.cutmix = float(cutmix)

        scalar = dict(trainable=False, dtype=tf.float32, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.temperature = tf.Variable(float(temperature), name="temperature", **scalar)
        self.alpha = tf.Variable(float(alpha), name="alpha", **scalar)
        # 0 during the hint-only stage of FeatureHint(hint_epochs=N), 1 afterwards.
        self.output_stage = tf.Variable(1.0, name="output_stage", **scalar)
        # Under jit_compile: the step of the first non-finite loss, read once per epoch by _NanGuard.
        self._non_finite_step = tf.Variable(
            _NO_STEP, name="non_finite_step", trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA
        )

        self._term_names = ["student_loss"]
        if distillation_loss is not None:
            self._term_names.append("distillation_loss")
        self._term_names += [_metric_name(t) for t in feature_losses]
        if len(set(self._term_names)) != len(self._term_names):
            raise ValueError(f"distillation terms need distinct names; got {self._term_names}")
        self._term_means = _TermMeans(["loss", *self._term_names])
        if loss_weighting == "uncertainty":
            self.log_variances = tf.Variable(tf.zeros(len(self._term_names)), name="log_variances")
        self._hard_loss = None
        self._prepared = False
        self._student_with_features = None

    # -- public properties ------------------------------------------------------------

    @property
    def teacher(self):
        """The teacher as given (a list when several were given)."""
        sources = [t.source for t in self._teachers.teachers]
        return sources if len(sources) > 1 else sources[0]

    @property
    def teachers(self):
        return [t.source for t in self._teachers.teachers]

    @property
    def metrics(self):
        metrics = [self._term_means]
        if self.compiled_metrics is not None:
            metrics += self.compiled_metrics.metrics
        return metrics

    @property
    def metrics_names(self):
        """The loss, each term, then the compiled metrics: the order of ``evaluate``'s list."""
        names = list(self._term_means.names)
        if self.compiled_metrics is not None:
            names += [m.name for m in self.compiled_metrics.metrics]
        return names

    def trainable_variables_to_update(self):
        """The student's trainable weights, the feature adapters and any learned loss weights."""
        variables = list(self.student.trainable_variables)
        for term in self.feature_losses:
            variables += term.trainable_variables
        if self.loss_weighting == "uncertainty":
            variables.append(self.log_variances)
        return variables

    # -- Keras API --------------------------------------------------------------------

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Like ``Model.compile``; ``loss`` is the student's hard-label loss (per sample)."""
        if "loss_weights" in kwargs:
            raise ValueError("loss_weights is not used by the Distiller; weigh terms with alpha and term weights")
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self._hard_loss = tf_keras.losses.get(loss) if loss is not None else None

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, callbacks=None, unlabelled=None,
            unlabelled_ratio=None, **kwargs):
        """Like ``Model.fit``, plus unlabelled transfer data mixed into every batch.

        With ``unlabelled`` (NumPy arrays, or a ``tf.data.Dataset`` of input batches, of the
        same shape and dtype as ``x``), every batch holds labelled samples of ``x``/``y``
        and unlabelled ones in the ratio ``unlabelled_ratio`` (unlabelled per labelled; by
        default the ratio of the two set sizes). The hard-label loss and the label metrics
        see the labelled samples only, averaged over them; the distillation terms see all.
        One epoch is as many steps as it takes to see every labelled and every unlabelled
        sample at least once: the smaller share of the two repeats, reshuffled (arrays)
        or re-iterated (datasets, which keep their own order). ``x`` may be arrays with
        ``y`` or a dataset of ``(x, y)`` batches; the batch size is ``batch_size``, else
        that of the dataset, else 32.
        """
        ratio = check_ratio(unlabelled_ratio)
        if ratio is not None and unlabelled is None:
            raise ValueError(f"unlabelled_ratio={unlabelled_ratio!r} needs unlabelled inputs: pass unlabelled=...")
        if unlabelled is not None:
            check_unlabelled(x, unlabelled)
            if kwargs.get("validation_split"):
                raise ValueError(
                    f"validation_split={kwargs['validation_split']!r} cannot be used with unlabelled data; "
                    "hold out labelled samples yourself and pass validation_data=(x_val, y_val)"
                )
        self._prepare(x, y)
        # The NaN guard goes first so that no later callback (a checkpoint) sees a broken epoch;
        # the parameters are logged next so that user callbacks see them.
        guard = _NanGuard()
        callbacks = [guard, _LogParameters(), *(callbacks or [])]
        if self._hint_epochs():
            callbacks.append(_StageSwitch())
        if self.cache_teacher:
            x, y, batch_size = teacher_output_cache(self, x, y, batch_size, kwargs)
            if unlabelled is not None:
                unlabelled, _, _ = teacher_output_cache(self, unlabelled, None, batch_size, kwargs)
        if unlabelled is not None:
            shuffle = kwargs.pop("shuffle", True)
            sample_weight = kwargs.pop("sample_weight", None)
            x = labelled_and_unlabelled(x, y, unlabelled, ratio, batch_size, shuffle, sample_weight)
            y, batch_size = None, None
        try:
            return super().fit(x=x, y=y, batch_size=batch_size, epochs=epochs, callbacks=callbacks, **kwargs)
        except tf.errors.InvalidArgumentError as error:
            if _NON_FINITE not in error.message:
                raise
            kind = "nan" if "NaN" in error.message else "inf"
        # Raised outside the except block, so TensorFlow's graph traceback does not bury it.
        guard.fail(int(self._train_counter.numpy()) + 1, kind)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._prepare(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def save(self, filepath, *args, **kwargs):
        """Saves the student, the deployable model (teachers and adapters are not part of it).

        ``save_weights`` still saves the whole Distiller state, for resuming training.
        """
        return self.student.save(filepath, *args, **kwargs)

    def train_step(self, data):
        x, y, sample_weight = tf_keras.utils.unpack_x_y_sample_weight(data)
        inputs, cached, labelled = unpack_inputs(x)
        if self.augment is not None:
            if isinstance(self.augment, tf_keras.layers.Layer):
                inputs = self.augment(inputs, training=True)
            else:
                inputs = self.augment(inputs)
        mixing = None
        if self.mixup or self.cutmix:
            inputs, lam, permutation = tfkd_augment.mix(inputs, self.mixup, self.cutmix)
            mixing = (lam, permutation)
        # The teachers run outside the tape: nothing flows back into them.
        teacher_outputs, teacher_features = self._teacher_forward(inputs, cached)
        with tf.GradientTape() as tape:
            total, values, counts, student_outputs = self._compute_losses(
                inputs, teacher_outputs, teacher_features, y, sample_weight, labelled, mixing, training=True
            )
        variables = self.trainable_variables_to_update()
        gradients = tape.gradient(total, variables)
        # Neither the weights nor the step counter move past a failed check.
        with tf.control_dependencies(self._check_finite(total)):
            self.optimizer.apply_gradients(
                (g, v) for g, v in zip(gradients, variables) if g is not None
            )
            return self._update_metrics(values, counts, y, student_outputs, sample_weight, labelled)

    def test_step(self, data):
        x, y, sample_weight = tf_keras.utils.unpack_x_y_sample_weight(data)
        inputs, cached, labelled = unpack_inputs(x)
        teacher_outputs, teacher_features = self._teacher_forward(inputs, cached)
        _, values, counts, student_outputs = self._compute_losses(
            inputs, teacher_outputs, teacher_features, y, sample_weight, labelled, None, training=False
        )
        return self._update_metrics(values, counts, y, student_outputs, sample_weight, labelled)

    # -- internals --------------------------------------------------------------------

    def _prepare(self, x, y):
        """Checks the first batch eagerly, so mistakes surface as ValueErrors before training."""
        if self._prepared:
            return
        batch = first_batch(x, y)
        if batch is None:
            return
        bx, by = batch
        with self.distribute_strategy.scope():
            teacher_outputs, teacher_features = self._teachers.forward(bx, self._teacher_feature_names())
            student_outputs, student_features = self._student_forward(bx, training=False)
            teacher_outputs = [np.asarray(t) for t in teacher_outputs]
            student_outputs = np.asarray(student_outputs)
            for index, outputs in enumerate(teacher_outputs):
                if outputs.shape[1:] != student_outputs.shape[1:]:
                    raise ValueError(
                        f"teacher {index} ({self._teachers.teachers[index].description}) outputs shape "
                        f"{outputs.shape[1:]} but student {self.student.name!r} outputs shape "
                        f"{student_outputs.shape[1:]}; their outputs must match"
                    )
            if self.distillation_loss is not None:
                self.distillation_loss.check_outputs(teacher_outputs, student_outputs)
            for term in self.feature_losses:
                teacher_shapes = [tuple(teacher_features[n].shape[1:]) for n, _ in term.pairs]
                student_shapes = [tuple(student_features[n].shape[1:]) for _, n in term.pairs]
                term.build_for(teacher_shapes, student_shapes)
        if self.teacher_error_weight < 1.0 and by is None:
            raise ValueError("teacher_error_weight < 1 needs labels to tell when the teacher is wrong")
        self._check_transforms(bx)
        self._prepared = True

    def _check_transforms(self, bx):
        """Runs augment and mixing on the first batch, so unsuitable inputs fail before training."""
        if self.augment is None and not self.mixup and not self.cutmix:
            return
        if not isinstance(bx, (np.ndarray, tf.Tensor)):
            raise ValueError(
                f"augment, mixup and cutmix need a single input tensor per batch; got {type(bx).__name__}"
            )
        batch = tf.convert_to_tensor(bx)
        if self.augment is not None:
            with self.distribute_strategy.scope():
                if isinstance(self.augment, tf_keras.layers.Layer):
                    augmented = self.augment(batch, training=True)
                else:
                    augmented = self.augment(batch)
            if tuple(augmented.shape) != tuple(batch.shape):
                raise ValueError(
                    f"augment must keep the batch shape; it turned {tuple(batch.shape)} into {tuple(augmented.shape)}"
                )
        if self.mixup and not batch.dtype.is_floating:
            raise ValueError(f"mixup={self.mixup} needs floating-point inputs; got {batch.dtype.name}")
        if self.cutmix and batch.shape.rank != 4:
            raise ValueError(
                f"cutmix={self.cutmix} needs a batch of images of rank 4 (batch, height, width, channels); "
                f"got inputs of shape {tuple(batch.shape)}"
            )

    def _teacher_feature_names(self):
        return sorted({t for term in self.feature_losses for t, _ in term.pairs})

    def _student_feature_names(self):
        return sorted({s for term in self.feature_losses for _, s in term.pairs})

    def _student_forward(self, x, training):
        names = self._student_feature_names()
        if not names:
            return self.student(x, training=training), {}
        if self._student_with_features is None:
            if not self.student.inputs:
                raise ValueError("feature terms need a functional or Sequential student to read layers from")
            outputs = [_student_layer_output(self.student, n) for n in names]
            self._student_with_features = tf_keras.Model(self.student.inputs, [self.student.output, *outputs])
        results = self._student_with_features(x, training=training)
        return results[0], dict(zip(names, results[1:]))

    def _teacher_forward(self, x, cached):
        """The teachers' outputs and features on ``x``, or those cached for it."""
        if cached is not None:
            return list(cached["outputs"]), dict(cached["features"])
        return self._teachers.forward(x, self._teacher_feature_names())

    def _compute_losses(self, x, teacher_outputs, teacher_features, y, sample_weight, labelled, mixing, training):
        """Total loss, per-term batch means (and, for the hard term, its labelled count), outputs.

        ``labelled`` is None when every sample has a label, else 1/0 per sample;
        ``mixing`` is None or ``(lam, permutation)`` of the mixed batch.
        """
        student_outputs, student_features = self._student_forward(x, training=training)

        batch = tf.shape(tf.nest.flatten(student_outputs)[0])[0]
        weights = None if sample_weight is None else tf.reshape(tf.cast(sample_weight, tf.float32), [batch])
        hard_weights = _times(weights, labelled)
        distill_weights = weights
        if mixing is not None and weights is not None:
            lam, permutation = mixing
            distill_weights = lam * weights + (1.0 - lam) * tf.gather(weights, permutation)

        per_sample = {}
        if y is not None and self._hard_loss is not None:
            hard = _times(_per_sample_loss(self._hard_loss, y, student_outputs), hard_weights)
            if mixing is not None:
                lam, permutation = mixing
                other = _per_sample_loss(self._hard_loss, tf.gather(y, permutation), student_outputs)
                other_weights = None if hard_weights is None else tf.gather(hard_weights, permutation)
                hard = lam * hard + (1.0 - lam) * _times(other, other_weights)
            per_sample["student_loss"] = hard
        if y is not None and self.teacher_error_weight < 1.0 and self.distillation_loss is not None:
            predicted = self.distillation_loss.teacher_predictions(teacher_outputs, self._teachers.weights)
            correct = tf.equal(predicted, tf.reshape(tf.cast(y, tf.int64), [-1]))
            if labelled is not None:
                correct |= labelled == 0.0  # no label: nothing to call the teacher wrong against
            distill_weights = _times(distill_weights, tf.where(correct, 1.0, self.teacher_error_weight))
        # Labels name the target class of DKD; mixed or missing labels leave it to the teachers.
        term_labels = y if labelled is None and mixing is None else None
        if self.distillation_loss is not None:
            per_sample["distillation_loss"] = _times(self.distillation_loss.per_sample(
                term_labels, teacher_outputs, student_outputs, tf.convert_to_tensor(self.temperature),
                self._teachers.weights,
            ), distill_weights)
        for term in self.feature_losses:
            per_sample[_metric_name(term)] = _times(term.per_sample(
                [teacher_features[t] for t, _ in term.pairs], [student_features[s] for _, s in term.pairs]
            ), distill_weights)

        # Each term is averaged over the global batch (the hard term over its labelled
        # samples, which may be none): scaled values sum to the right gradient over replicas.
        num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
        batch_size = tf.cast(batch, tf.float32)
        means, counts, scaled = {}, {}, {}
        for name, values in per_sample.items():
            total = tf.reduce_sum(values)
            if name == "student_loss" and labelled is not None:
                count = tf.reduce_sum(labelled)
                means[name], counts[name] = tf.math.divide_no_nan(total, count), count
                global_count = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, count)
                scaled[name] = tf.math.divide_no_nan(total, global_count)
            else:
                means[name] = total / batch_size
                scaled[name] = means[name] / num_replicas if num_replicas > 1 else means[name]
        total = self._combine(scaled)
        if self.student.losses:
            total += tf.nn.scale_regularization_loss(tf.add_n(self.student.losses))
        means["loss"] = total * num_replicas if num_replicas > 1 else total
        return total, means, counts, student_outputs

    def _combine(self, scaled):
        # The hint-only stage of FeatureHint(hint_epochs=N) switches the output terms off;
        # without such a stage the switch is left out of the graph.
        stage = self.output_stage if self._hint_epochs() else None
        if self.loss_weighting == "uncertainty":
            num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
            terms = []
            for index, name in enumerate(self._term_names):
                if name in scaled:
                    log_variance = self.log_variances[index]
                    term = tf.exp(-log_variance) * scaled[name] + log_variance / num_replicas
                    if name in ("student_loss", "distillation_loss"):
                        term = _times(term, stage)
                    terms.append(term)
            return tf.add_n(terms)
        distillation = [t.weight * scaled[_metric_name(t)] for t in self.feature_losses]
        if "distillation_loss" in scaled:
            distillation.append(_times(scaled["distillation_loss"], stage))
        distillation = tf.add_n(distillation)
        if "student_loss" not in scaled:
            return distillation
        alpha = tf.convert_to_tensor(self.alpha)
        return _times(alpha * scaled["student_loss"], stage) + (1.0 - alpha) * distillation

    def _hint_epochs(self):
        return max([getattr(t, "hint_epochs", 0) for t in self.feature_losses] or [0])

    def _check_finite(self, loss):
        """Ops that stop the step before the weights change when ``loss`` is NaN or infinite.

        CheckNumerics fails the step inside the graph, with no host sync; ``fit`` turns the
        failure into a FloatingPointError. XLA compiles CheckNumerics to nothing, so under
        ``jit_compile`` the step is recorded instead and ``_NanGuard`` stops at the epoch's end.
        """
        if not self.jit_compile:
            return [tf.debugging.check_numerics(loss, _NON_FINITE)]
        if tf.distribute.get_strategy().num_replicas_in_sync > 1:
            loss = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, loss)
        step = tf.where(tf.math.is_finite(loss), _NO_STEP, self._train_counter)
        self._non_finite_step.assign(tf.minimum(self._non_finite_step, step))
        return []

    def _update_metrics(self, values, counts, y, student_outputs, sample_weight, labelled):
        self._term_means.update_state(values, counts)
        if y is not None and self.compiled_metrics is not None:
            if labelled is not None:
                # A Keras mask is what unweighted metrics (compile's `metrics`) honour.
                student_outputs = tf.nest.map_structure(tf.identity, student_outputs)
                for output in tf.nest.flatten(student_outputs):
                    output._keras_mask = labelled > 0.0
            self.compiled_metrics.update_state(y, student_outputs, sample_weight)
        logs = self._term_means.results(values)
        if self.compiled_metrics is not None:
            logs.update({m.name: m.result() for m in self.compiled_metrics.metrics})
        return logs


class _TermMeans(tf_keras.metrics.Metric):
    """Epoch means of the loss and of each term, all in one variable of totals then counts.

    One vector update per step instead of one ``Mean`` per term keeps the train step
    as cheap as a hand-written distiller's. A term absent from a step counts nothing.
    """

    def __init__(self, names, name="term_means"):
        super().__init__(name=name)
        self.names = list(names)
        self.state = self.add_weight("state", shape=[2 * len(names)], initializer="zeros")

    def update_state(self, values, counts):
        """``values``: name -> batch mean; ``counts``: name -> its weight where not 1."""
        totals = [values[n] * counts[n] if n in counts else values.get(n, 0.0) for n in self.names]
        weights = [counts.get(n, 1.0) if n in values else 0.0 for n in self.names]
        self.state.assign_add(tf.stack([tf.cast(v, tf.float32) for v in totals + weights]))

    def result(self):
        # A dict, not a vector: Keras aggregates it across replicas as it is, whereas a
        # vector unstacked in each replica would be summed over the replicas.
        totals, counts = tf.split(self.state, 2)
        return dict(zip(self.names, tf.unstack(tf.math.divide_no_nan(totals, counts))))

    def results(self, present):
        """name -> epoch mean, for the names in ``present``."""
        return {n: m for n, m in self.result().items() if n in present}

    def reset_state(self):
        self.state.assign(tf.zeros_like(self.state))


class _TeacherEnsemble:
    """The teachers and their weights; deliberately not tracked by Keras (teachers never train)."""

    def __init__(self, teachers, weights):
        if weights is None:
            weights = [1.0 / len(teachers)] * len(teachers)
        weights = list(weights)
        if len(weights) != len(teachers) or any(
            not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0 for w in weights
        ) or sum(weights) <= 0:
            raise ValueError(
                f"teacher_weights={weights!r} is invalid; expected {len(teachers)} non-negative numbers "
                "with a positive sum, one per teacher"
            )
        total = float(sum(weights))
        self.teachers = teachers
        self.weights = [float(w) / total for w in weights]

    def forward(self, x, feature_names):
        first_outputs, features = self.teachers[0].with_features(feature_names)(x)
        outputs = [first_outputs] + [t(x) for t in self.teachers[1:]]
        return outputs, dict(zip(feature_names, features))


class _StageSwitch(tf_keras.callbacks.Callback):
    """Runs FitNets' two stages: hints alone for ``hint_epochs``, then every term."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.output_stage.assign(0.0 if epoch < self.model._hint_epochs() else 1.0)


class _LogParameters(tf_keras.callbacks.Callback):
    """Logs alpha, the temperature and learned term weights once per epoch, as they were in it."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        model = self.model
        logs["temperature"] = float(model.temperature.numpy())
        if model.loss_weighting == "uncertainty":
            for name, log_variance in zip(model._term_names, model.log_variances.numpy()):
                logs[f"weight_{name}"] = float(np.exp(-log_variance))
        else:
            logs["alpha"] = float(model.alpha.numpy())


class _NanGuard(tf_keras.callbacks.Callback):
    """Names the epoch and step at which the loss stopped being finite.

    ``fit`` calls ``fail`` when the compiled step's check fails; under ``jit_compile``
    the step recorded in the graph is read at the end of each epoch instead.
    """

    def on_train_begin(self, logs=None):
        self.model._non_finite_step.assign(_NO_STEP)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._first_step = epoch, int(self.model._train_counter.numpy())

    def on_epoch_end(self, epoch, logs=None):
        step = int(self.model._non_finite_step.numpy())
        if step != _NO_STEP:
            self.model.stop_training = True
            loss = (logs or {}).get("loss")
            self.fail(step + 1, "nan" if loss is None or math.isnan(loss) else "inf")

    def fail(self, step, kind):
        """Raises for the ``step``-th step of this fit (counting from 1)."""
        raise FloatingPointError(
            f"the distillation loss became {kind} at epoch {self._epoch + 1}, step {step - self._first_step}; "
            "lower the learning rate, check the inputs for NaN or infinity, or lower the temperature"
        )


def _student_layer_output(student, name):
    try:
        return student.get_layer(name).output
    except ValueError:
        available = ", ".join(layer.name for layer in student.layers)
        raise ValueError(f"student has no layer named {name!r}; available layers: {available}") from None


def _times(a, b):
    """``a * b``, where None stands for all ones (and costs no op)."""
    if a is None or b is None:
        return b if a is None else a
    return a * b


def _per_sample_loss(loss, y, y_pred):
    fn = loss.call if isinstance(loss, tf_keras.losses.Loss) else loss
    values = tf.cast(fn(y, y_pred), tf.float32)
    if values.shape.rank is not None and values.shape.rank > 1:
        values = tf.reduce_mean(tf.reshape(values, [tf.shape(values)[0], -1]), axis=-1)
    return values


def _check_number(value, argument, low=None, high=None, low_inclusive=True):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{argument}={value!r} is invalid; expected a finite number")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and value > high
    if too_low or too_high:
        if high is None:
            expected = f"> {low}" if not low_inclusive else f">= {low}"
        else:
            expected = f"in [{low}, {high}]"
        raise ValueError(f"{argument}={value!r} is invalid; expected a number {expected}")
