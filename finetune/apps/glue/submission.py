"""Test-set predictions in the GLUE leaderboard's submission format (gluebenchmark.com/submit).

One TSV per test set, named as the leaderboard names them, with the columns `index` and
`prediction`: labels spelt as the leaderboard expects them (0/1, entailment/not_entailment,
entailment/neutral/contradiction), STS-B similarity as a number. The zip holds the files at its top
level, as the upload form wants.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

from finetune.errors import InputError
from tasks import prediction_tsv

# (task, test split) -> the leaderboard's file name, without .tsv. AX (the diagnostic set) is
# predicted with the MNLI model.
FILES = {
    ("cola", "test"): "CoLA",
    ("sst2", "test"): "SST-2",
    ("mrpc", "test"): "MRPC",
    ("stsb", "test"): "STS-B",
    ("qqp", "test"): "QQP",
    ("mnli", "test"): "MNLI-m",
    ("mnli", "test_mismatched"): "MNLI-mm",
    ("mnli", "ax"): "AX",
    ("qnli", "test"): "QNLI",
    ("rte", "test"): "RTE",
    ("wnli", "test"): "WNLI",
}
NLI3 = ("entailment", "neutral", "contradiction")
NLI2 = ("entailment", "not_entailment")
BINARY = ("0", "1")
LABELS: dict[str, tuple[str, ...] | None] = {  # None: a number (regression)
    "CoLA": BINARY, "SST-2": BINARY, "MRPC": BINARY, "STS-B": None, "QQP": BINARY,
    "MNLI-m": NLI3, "MNLI-mm": NLI3, "AX": NLI3, "QNLI": NLI2, "RTE": NLI2, "WNLI": BINARY,
}


def file_name(task: str, split: str) -> str | None:
    name = FILES.get((task, split))
    return f"{name}.tsv" if name else None


def write(folder: Path, task: str, split: str, indices: list[str], predictions: list) -> Path:
    """One leaderboard file, written whole or not at all; a label the leaderboard would reject is an
    error naming the task and the label."""
    name = FILES[(task, split)]
    allowed = LABELS[name]
    rows = []
    for index, prediction in zip(indices, predictions, strict=True):
        if allowed is None:
            value = float(prediction)
            if not math.isfinite(value):
                raise InputError(f"{task}: prediction {value} for test index {index} is not a finite number.")
            rows.append([index, f"{value:.3f}"])
        else:
            if str(prediction) not in allowed:
                raise InputError(f"{task}: the model predicts label '{prediction}', but the GLUE leaderboard's {name}.tsv "
                                 f"takes {', '.join(allowed)}. Train with the task's own config key 'labels'.")
            rows.append([index, str(prediction)])
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{name}.tsv"
    prediction_tsv.write(tmp, ["index", "prediction"], rows)
    return tmp.replace(folder / f"{name}.tsv")


def zip_files(folder: Path, target: Path) -> list[str]:
    """The leaderboard files in `folder`, zipped at the top level of `target` (replaced atomically)."""
    names = [f"{name}.tsv" for name in FILES.values() if (folder / f"{name}.tsv").is_file()]
    tmp = target.with_name(f".tmp-{target.name}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(folder / name, arcname=name)
    os.replace(tmp, target)
    return names


def missing(folder: Path) -> list[str]:
    """Leaderboard files the folder does not hold yet (the leaderboard wants all eleven)."""
    return [f"{name}.tsv" for name in FILES.values() if not (folder / f"{name}.tsv").is_file()]
