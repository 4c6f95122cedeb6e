"""A real multi-label set from CoNLL-2003: each sentence labelled with the set of entity types it
contains (LOC, MISC, ORG, PER; none for a sentence without entities).

    python examples/entity_types/make_data.py CONLL_FOLDER OUT_FOLDER
    python -m finetune train examples/entity_types/entity_types.yaml data.dir=OUT_FOLDER

CONLL_FOLDER holds CoNLL-2003's train.txt and valid.txt (FINETUNE_DATA's conll2003/); OUT_FOLDER
gets train.jsonl and dev.jsonl, one {"sentence", "types"} object a line. CoNLL-2003 is not
redistributed here: the files are made from a copy you have.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from finetune.data.conll import read_conll


def entity_types(tags: list[str]) -> list[str]:
    return sorted({tag[2:] for tag in tags if tag != "O"})


def convert(conll: Path, out: Path) -> int:
    dataset, _ = read_conll(str(conll))
    with out.open("w", encoding="utf-8") as handle:
        for words, tags in zip(dataset["tokens"], dataset["tags"]):
            handle.write(json.dumps({"sentence": " ".join(words), "types": entity_types(tags)}) + "\n")
    return len(dataset)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[3], file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for name, out in (("train.txt", "train.jsonl"), ("valid.txt", "dev.jsonl")):
        print(f"{target / out}: {convert(source / name, target / out)} sentences")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
