import numpy as np
import pytest
import torch

from vidft.evaluation.classification import (confusion_matrix, label_ranks,
                                             mean_class_accuracy,
                                             per_class_recall, predict_top1,
                                             top_k_accuracy)

# Five samples, four classes. Hand-computed ranks of the labels under the
# rule "higher score first, equal scores by lower class index first":
#   sample 0: label 1 has the highest score                    -> rank 0
#   sample 1: class 0 scores higher than label 2               -> rank 1
#   sample 2: class 3 higher, classes 0 and 1 tie with label 2 -> rank 3
#   sample 3: class 0 ties with label 1 and has a lower index  -> rank 1
#   sample 4: label 0 has the highest score                    -> rank 0
SCORES = np.array([
    [0.1, 0.6, 0.2, 0.1],
    [0.5, 0.1, 0.3, 0.1],
    [0.2, 0.2, 0.2, 0.4],
    [0.3, 0.3, 0.2, 0.2],
    [0.7, 0.1, 0.1, 0.1],
], dtype=np.float32)
LABELS = np.array([1, 2, 2, 1, 0])


def test_label_ranks_hand_computed():
    assert label_ranks(SCORES, LABELS).tolist() == [0, 1, 3, 1, 0]


def test_top_k_accuracy_hand_computed():
    top1, top2, top3, top4 = top_k_accuracy(SCORES, LABELS, (1, 2, 3, 4))
    assert top1 == pytest.approx(2 / 5)
    assert top2 == pytest.approx(4 / 5)
    assert top3 == pytest.approx(4 / 5)
    assert top4 == pytest.approx(1.0)


def test_top_k_accepts_tensors():
    result = top_k_accuracy(torch.from_numpy(SCORES),
                            torch.from_numpy(LABELS), (2, ))
    assert result == [pytest.approx(4 / 5)]


def test_ties_match_stable_descending_sort():
    rng = np.random.default_rng(0)
    # Few distinct values, so most rows have ties.
    scores = rng.integers(0, 3, size=(200, 6)).astype(np.float32)
    labels = rng.integers(0, 6, size=200)
    order = np.argsort(-scores, axis=1, kind='stable')
    expected = np.argmax(order == labels[:, None], axis=1)
    np.testing.assert_array_equal(label_ranks(scores, labels), expected)


def test_top1_equals_argmax_under_ties():
    scores = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    assert predict_top1(scores).tolist() == [0, 1]
    assert top_k_accuracy(scores, np.array([1, 1]), (1, )) == [0.5]


def test_k_larger_than_classes_raises():
    with pytest.raises(ValueError, match='at most the number of classes, 4'):
        top_k_accuracy(SCORES, LABELS, (1, 5))


@pytest.mark.parametrize('topk', [(0, ), (1, -2), (1.0, ), (True, )])
def test_invalid_k_raises(topk):
    with pytest.raises(ValueError, match='positive integers'):
        top_k_accuracy(SCORES, LABELS, topk)


def test_confusion_matrix_hand_computed():
    # Top-1 predictions are 1, 0, 3, 0, 0 (sample 3 ties 0 and 1 -> 0).
    matrix = confusion_matrix(predict_top1(SCORES), LABELS, 4)
    expected = [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [1, 0, 0, 1],
        [0, 0, 0, 0],
    ]
    assert matrix.tolist() == expected


def test_mean_class_accuracy_skips_classes_without_labels():
    # Recall: class 0 -> 1/1, class 1 -> 1/2, class 2 -> 0/2 (never
    # predicted). Class 3 has no label, only a prediction, so it is left
    # out: (1 + 0.5 + 0) / 3. Averaging it in as 0 would give 0.375.
    assert mean_class_accuracy(SCORES, LABELS) == pytest.approx(0.5)


def test_per_class_recall_nan_for_missing_class():
    recall = per_class_recall(np.array([[2, 0], [0, 0]]))
    assert recall[0] == 1.0
    assert np.isnan(recall[1])


def test_label_out_of_range_raises():
    with pytest.raises(ValueError, match=r'labels in \[0, 4\)'):
        top_k_accuracy(SCORES, np.array([1, 2, 2, 1, 4]), (1, ))


def test_nan_scores_raise():
    scores = SCORES.copy()
    scores[1, 2] = np.nan
    with pytest.raises(ValueError, match='finite scores'):
        mean_class_accuracy(scores, LABELS)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match='labels of shape'):
        top_k_accuracy(SCORES, LABELS[:3], (1, ))
