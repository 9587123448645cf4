"""Each distillation term against a hand computation on a tiny batch."""

import numpy as np
import pytest

import tfkd

T = 4.0
TEACHER = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], dtype=np.float32)
STUDENT = np.array([[1.0, 1.0, 0.0], [0.0, -1.0, 1.0]], dtype=np.float32)
LABELS = np.array([0, 2])


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def kl(p, q):
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


def test_soft_target_is_temperature_scaled_kl():
    expected = kl(softmax(TEACHER / T), softmax(STUDENT / T)) * T**2
    got = tfkd.losses.SoftTarget().per_sample(None, [TEACHER], STUDENT, T, [1.0]).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_soft_target_accepts_teacher_probabilities():
    from_probs = tfkd.losses.SoftTarget(teacher_outputs="probs").per_sample(
        None, [softmax(TEACHER)], STUDENT, T, [1.0]
    )
    from_logits = tfkd.losses.SoftTarget().per_sample(None, [TEACHER], STUDENT, T, [1.0])
    np.testing.assert_allclose(from_probs.numpy(), from_logits.numpy(), rtol=1e-4)


def test_soft_target_averages_several_teachers_with_weights():
    other = TEACHER[:, ::-1].copy()
    mixture = 0.25 * softmax(TEACHER / T) + 0.75 * softmax(other / T)
    expected = kl(mixture, softmax(STUDENT / T)) * T**2
    got = tfkd.losses.SoftTarget().per_sample(None, [TEACHER, other], STUDENT, T, [0.25, 0.75]).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_dkd_matches_decoupled_hand_computation():
    p_t, p_s = softmax(TEACHER / T), softmax(STUDENT / T)
    expected = []
    for i, target in enumerate(LABELS):
        bt = np.array([p_t[i, target], 1 - p_t[i, target]])
        bs = np.array([p_s[i, target], 1 - p_s[i, target]])
        others = [c for c in range(3) if c != target]
        nt = p_t[i, others] / p_t[i, others].sum()
        ns = p_s[i, others] / p_s[i, others].sum()
        expected.append((1.0 * kl(bt, bs) + 8.0 * kl(nt, ns)) * T**2)
    got = tfkd.losses.DKD(target_weight=1.0, non_target_weight=8.0).per_sample(LABELS, [TEACHER], STUDENT, T, [1.0])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4)


def test_dkd_uses_teacher_top_class_without_labels():
    term = tfkd.losses.DKD()
    with_teacher_targets = term.per_sample(np.argmax(TEACHER, axis=-1), [TEACHER], STUDENT, T, [1.0])
    unlabelled = term.per_sample(None, [TEACHER], STUDENT, T, [1.0])
    np.testing.assert_allclose(unlabelled.numpy(), with_teacher_targets.numpy(), rtol=1e-6)


def test_output_mse_and_l1():
    mse = tfkd.losses.OutputMSE().per_sample(None, [TEACHER], STUDENT, T, [1.0]).numpy()
    l1 = tfkd.losses.OutputL1().per_sample(None, [TEACHER], STUDENT, T, [1.0]).numpy()
    np.testing.assert_allclose(mse, np.mean((STUDENT - TEACHER) ** 2, axis=-1), rtol=1e-6)
    np.testing.assert_allclose(l1, np.mean(np.abs(STUDENT - TEACHER), axis=-1), rtol=1e-6)


def test_feature_hint_without_adapter_is_mse_over_pairs():
    rng = np.random.default_rng(0)
    t1, s1 = rng.normal(size=(2, 4, 4, 3)).astype("float32"), rng.normal(size=(2, 4, 4, 3)).astype("float32")
    t2, s2 = rng.normal(size=(2, 5)).astype("float32"), rng.normal(size=(2, 5)).astype("float32")
    term = tfkd.losses.FeatureHint([("a", "b"), ("c", "d")])
    term.build_for([(4, 4, 3), (5,)], [(4, 4, 3), (5,)])
    assert term.adapters == [None, None]
    expected = (np.mean((s1 - t1) ** 2, axis=(1, 2, 3)) + np.mean((s2 - t2) ** 2, axis=1)) / 2
    np.testing.assert_allclose(term.per_sample([t1, t2], [s1, s2]).numpy(), expected, rtol=1e-5)


def test_feature_hint_adapts_width_and_resizes():
    rng = np.random.default_rng(1)
    teacher = rng.normal(size=(2, 4, 4, 8)).astype("float32")
    student = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    term = tfkd.losses.FeatureHint([("t", "s")])
    term.build_for([(4, 4, 8)], [(8, 8, 3)])
    adapter = term.adapters[0]
    assert adapter.kernel.shape == (1, 1, 3, 8)
    import tensorflow as tf

    mapped = tf.image.resize(adapter(student), (4, 4), method="bilinear").numpy()
    expected = np.mean((mapped - teacher) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(term.per_sample([teacher], [student]).numpy(), expected, rtol=1e-5)


def test_attention_transfer_matches_hand_computation():
    rng = np.random.default_rng(2)
    teacher = rng.normal(size=(2, 3, 3, 16)).astype("float32")
    student = rng.normal(size=(2, 3, 3, 4)).astype("float32")

    def attention(f):
        a = np.mean(f**2, axis=-1).reshape(len(f), -1)
        return a / np.linalg.norm(a, axis=-1, keepdims=True)

    expected = np.mean((attention(student) - attention(teacher)) ** 2, axis=-1)
    term = tfkd.losses.AttentionTransfer([("t", "s")])
    term.build_for([(3, 3, 16)], [(3, 3, 4)])
    np.testing.assert_allclose(term.per_sample([teacher], [student]).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: tfkd.losses.SoftTarget(teacher_outputs="softmax"), "teacher_outputs='softmax'"),
        (lambda: tfkd.losses.DKD(non_target_weight=-1), "non_target_weight=-1"),
        (lambda: tfkd.losses.OutputMSE(norm="l3"), "norm='l3'"),
        (lambda: tfkd.losses.FeatureHint([]), "pairs=[]"),
        (lambda: tfkd.losses.FeatureHint([("a", "b")], adapter="maybe"), "adapter='maybe'"),
        (lambda: tfkd.losses.FeatureHint([("a", "b")], hint_epochs=-1), "hint_epochs=-1"),
        (lambda: tfkd.losses.AttentionTransfer([("a", "b")], weight=float("nan")), "weight=nan"),
    ],
)
def test_bad_term_arguments_name_the_value(build, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        build()


def test_attention_transfer_rejects_vectors():
    term = tfkd.losses.AttentionTransfer([("dense", "dense")])
    with pytest.raises(ValueError, match="feature maps"):
        term.build_for([(64,)], [(8,)])
