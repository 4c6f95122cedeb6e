"""finetune.metrics.classification: scikit-learn and scipy as GLUE calls them, checked on hand-worked
values (argument order, the positive class, the degenerate cases defined as 0.0) and on random arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from finetune.metrics import classification

SEEDS = list(range(8))


# -- hand-worked examples -------------------------------------------------------------------------

def test_hand_example_accuracy_f1_matthews():
    preds, labels = np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])
    # TP=1 FP=1 TN=2 FN=0
    assert classification.accuracy(preds, labels) == 0.75
    assert classification.f1_binary(preds, labels) == pytest.approx(2 / 3, abs=1e-15)
    # (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = 2 / sqrt(2*1*3*2) = 1/sqrt(3)
    assert classification.matthews_corrcoef(preds, labels) == pytest.approx(1 / math.sqrt(3), abs=1e-15)


def test_accuracy_accepts_lists_and_empty_is_zero():
    assert classification.accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    assert classification.accuracy(np.array([]), np.array([])) == 0.0


def test_f1_positive_class_and_no_true_positive():
    # positive=0: TP=2 FP=0 FN=1 -> 4/5
    assert classification.f1_binary([1, 1, 0, 0], [0, 1, 0, 0], positive=0) == pytest.approx(0.8, abs=1e-15)
    # no true positive -> 0.0 (sklearn gives 0.0 too)
    assert classification.f1_binary([1, 1, 0], [0, 0, 1]) == 0.0
    assert classification.f1_binary([0, 0, 0], [0, 0, 0]) == 0.0
    assert classification.f1_binary([1, 1], [1, 1]) == 1.0


def test_matthews_perfect_inverse_and_degenerate():
    assert classification.matthews_corrcoef([0, 1, 1, 0], [0, 1, 1, 0]) == pytest.approx(1.0, abs=1e-15)
    assert classification.matthews_corrcoef([1, 0, 0, 1], [0, 1, 1, 0]) == pytest.approx(-1.0, abs=1e-15)
    # all predictions one class: sklearn returns 0.0, and so must we (no nan, no error)
    assert classification.matthews_corrcoef([1, 1, 1, 1], [0, 1, 0, 1]) == 0.0
    assert classification.matthews_corrcoef([0, 0, 0, 0], [0, 1, 0, 1]) == 0.0
    assert classification.matthews_corrcoef([2, 2, 2], [0, 1, 2]) == 0.0
    # all labels one class
    assert classification.matthews_corrcoef([0, 1, 0, 1], [1, 1, 1, 1]) == 0.0
    assert skm.matthews_corrcoef([0, 1, 0, 1], [1, 1, 1, 1]) == 0.0


def test_matthews_multiclass_hand_example():
    # labels (rows) x predictions (cols), classes 0,1,2:
    # [[1,1,0],[0,2,0],[0,0,1]] -> correct c=4, s=5, t=[2,2,1], p=[1,3,1]
    # cov_ytyp = 4*5 - (2*1+2*3+1*1) = 11; cov_ypyp = 25-11 = 14; cov_ytyt = 25-9 = 16
    labels = [0, 0, 1, 1, 2]
    preds = [0, 1, 1, 1, 2]
    assert classification.matthews_corrcoef(preds, labels) == pytest.approx(11 / math.sqrt(14 * 16), abs=1e-15)
    assert classification.matthews_corrcoef(preds, labels) == pytest.approx(skm.matthews_corrcoef(labels, preds), abs=1e-12)


def test_matthews_prediction_class_absent_from_labels():
    labels = [0, 1, 0, 1, 0]
    preds = [0, 2, 0, 1, 1]
    assert classification.matthews_corrcoef(preds, labels) == pytest.approx(skm.matthews_corrcoef(labels, preds), abs=1e-12)


def test_pearson_hand_example():
    # x-mean = [-1,0,1], y-mean = [-4/3,-1/3,5/3]: xy=3, xx=2, yy=14/3 -> 3/sqrt(28/3)
    assert classification.pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(3 / math.sqrt(28 / 3), abs=1e-14)
    assert classification.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0, abs=1e-15)
    # constant input: defined as 0.0 here (scipy gives nan)
    assert classification.pearson([2, 2, 2], [1, 2, 3]) == 0.0


def test_spearman_hand_example_with_ties():
    # ranks of preds: [1, 2.5, 2.5, 4]; of labels: [1, 2, 3, 4] -> 4.5 / sqrt(4.5 * 5) = sqrt(0.9)
    assert classification.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(math.sqrt(0.9), abs=1e-14)
    assert classification.spearman([10, 20, 30], [1, 5, 100]) == pytest.approx(1.0, abs=1e-15)
    assert classification.spearman([3, 2, 1], [1, 5, 100]) == pytest.approx(-1.0, abs=1e-15)


def test_constant_or_tiny_inputs_correlate_0_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (classification.pearson, classification.spearman):
            assert fn([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == 0.0
            assert fn([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) == 0.0
            assert fn([1.0], [2.0]) == 0.0 and fn([], []) == 0.0


def test_compute_combined_is_mean():
    preds, labels = np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])
    scores = classification.compute(["f1", "accuracy"], preds, labels)
    assert set(scores) == {"f1", "accuracy", "combined"}
    assert scores["accuracy"] == 0.75
    assert scores["f1"] == pytest.approx(2 / 3, abs=1e-15)
    assert scores["combined"] == pytest.approx(17 / 24, abs=1e-15)


def test_compute_single_metric_has_no_combined():
    scores = classification.compute(["accuracy"], np.array([1, 0]), np.array([1, 1]))
    assert scores == {"accuracy": 0.5}


def test_compute_pearson_spearman_combined():
    preds, labels = np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])
    scores = classification.compute(["pearson", "spearman"], preds, labels)
    assert scores["pearson"] == pytest.approx(stats.pearsonr(preds, labels)[0], abs=1e-12)
    assert scores["spearman"] == pytest.approx(math.sqrt(0.9), abs=1e-14)
    assert scores["combined"] == pytest.approx((scores["pearson"] + scores["spearman"]) / 2, abs=1e-15)


def test_metrics_return_python_floats():
    preds, labels = np.array([1, 0, 1]), np.array([1, 1, 0])
    for name, fn in classification.METRICS.items():
        assert type(fn(preds, labels)) is float, name


# -- against scikit-learn and scipy on seeded random arrays ----------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_binary_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 200))
    labels = rng.integers(0, 2, size=n)
    preds = np.where(rng.random(n) < 0.7, labels, 1 - labels)
    assert classification.accuracy(preds, labels) == pytest.approx(skm.accuracy_score(labels, preds), abs=1e-12)
    assert classification.f1_binary(preds, labels) == pytest.approx(skm.f1_score(labels, preds), abs=1e-12)
    assert classification.matthews_corrcoef(preds, labels) == pytest.approx(skm.matthews_corrcoef(labels, preds), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes", [3, 5])
def test_multiclass_matthews_matches_sklearn(seed, classes):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    labels = rng.integers(0, classes, size=n)
    preds = np.where(rng.random(n) < 0.5, labels, rng.integers(0, classes, size=n))
    assert classification.matthews_corrcoef(preds, labels) == pytest.approx(skm.matthews_corrcoef(labels, preds), abs=1e-12)
    assert classification.accuracy(preds, labels) == pytest.approx(skm.accuracy_score(labels, preds), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_degenerate_predictions_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=50)
    preds = np.full(50, int(rng.integers(0, 3)))
    assert classification.matthews_corrcoef(preds, labels) == skm.matthews_corrcoef(labels, preds) == 0.0


@pytest.mark.parametrize("seed", SEEDS)
def test_pearson_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 500))
    labels = rng.uniform(0, 5, size=n)
    preds = labels + rng.normal(0, 1.5, size=n)
    assert classification.pearson(preds, labels) == pytest.approx(stats.pearsonr(preds, labels)[0], abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_spearman_with_ties_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    # small integer ranges: many ties on both sides
    labels = rng.integers(0, 6, size=n).astype(float)
    preds = labels + rng.integers(-2, 3, size=n)
    if np.all(preds == preds[0]) or np.all(labels == labels[0]):
        pytest.skip("constant array")
    assert classification.spearman(preds, labels) == pytest.approx(stats.spearmanr(preds, labels)[0], abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_spearman_continuous_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    preds = rng.normal(size=100)
    labels = preds ** 3 + rng.normal(0, 0.5, size=100)
    assert classification.spearman(preds, labels) == pytest.approx(stats.spearmanr(preds, labels)[0], abs=1e-12)


def test_confusion_matrix_rows_are_gold_and_columns_predicted(tmp_path):
    from tasks import classification_report

    gold = ["a", "a", "a", "b", "c"]
    predicted = ["a", "b", "b", "b", "a"]
    written = classification_report.write(tmp_path, "dev", gold, predicted, ["a", "b", "c"], ["Ant", "Bee", "Cat"])
    assert [p.name for p in written] == ["dev.report.txt", "dev.confusion.tsv", "dev.confusion.png"]
    lines = (tmp_path / "dev.confusion.tsv").read_text().splitlines()
    assert lines == ["gold/predicted\tAnt\tBee\tCat", "Ant\t1\t2\t0", "Bee\t0\t1\t0", "Cat\t1\t0\t0"]
    report = {line.split()[0]: line.split()[1:] for line in (tmp_path / "dev.report.txt").read_text().splitlines()
              if line.strip().startswith(("Ant", "Bee", "Cat"))}
    # Ant: precision 1/2, recall 1/3; Bee: precision 1/3, recall 1; Cat: never predicted (0, zero_division=0)
    assert report == {"Ant": ["0.5000", "0.3333", "0.4000", "3"], "Bee": ["0.3333", "1.0000", "0.5000", "1"],
                      "Cat": ["0.0000", "0.0000", "0.0000", "1"]}
