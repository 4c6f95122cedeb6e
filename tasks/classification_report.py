"""A labelled split's per-class report and confusion matrix, written beside its predictions:
`NAME.report.txt` (precision, recall, F1 and support per class, scikit-learn's classification_report),
`NAME.confusion.tsv` (the counts: one row a gold class, one column a predicted class) and
`NAME.confusion.png` (the same counts, drawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from tasks import prediction_tsv


def write(folder: Path, name: str, gold: list[str], predicted: list[str], labels: list[str],
          names: list[str]) -> list[Path]:
    """The three files for `gold` against `predicted` (label strings of `labels`, shown as `names`)."""
    report = classification_report(gold, predicted, labels=labels, target_names=names, digits=4, zero_division=0)
    counts = confusion_matrix(gold, predicted, labels=labels)
    text = folder / f"{name}.report.txt"
    text.write_text(f"{len(gold)} examples; rows: gold class, columns: predicted class in {name}.confusion.tsv\n\n"
                    f"{report}")
    table = prediction_tsv.write(folder / f"{name}.confusion.tsv", ["gold/predicted", *names],
                                 [[n, *(int(c) for c in row)] for n, row in zip(names, counts)])
    return [text, table, _plot(folder / f"{name}.confusion.png", counts, names)]


def _plot(path: Path, counts: np.ndarray, names: list[str]) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    side = max(4.0, 0.6 * len(names) + 2.5)
    fig, ax = plt.subplots(figsize=(side, side))
    ConfusionMatrixDisplay(counts, display_labels=names).plot(ax=ax, cmap="Blues", colorbar=False,
                                                               xticks_rotation=45 if len(names) > 4 else "horizontal")
    ax.set_title(f"confusion matrix ({int(counts.sum())} examples)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
