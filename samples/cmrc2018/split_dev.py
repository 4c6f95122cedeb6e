"""CMRC 2018 without its train file: a training set of the trial set plus half of dev's articles,
and a dev set of the other half (no article in both).

    python samples/cmrc2018/split_dev.py --out cmrc2018-offline
    python -m finetune train cmrc2018 data.train=cmrc2018-offline/train.json data.validation=cmrc2018-offline/dev.json

Reads cmrc2018/cmrc2018_dev.json and, when present, cmrc2018/cmrc2018_trial.json under --data
(default: $FINETUNE_DATA). Dev's articles (one Wikipedia paragraph each) are cut in two by position:
the first half goes to train.json after the trial articles, the second half is dev.json. Both keep the
official layout, every answer with its answer_start (also -1), so the run counts what it re-anchors,
keeps as references only, or leaves out of training. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def split(dev: dict, trial: dict | None) -> tuple[dict, dict]:
    """(train, dev) in the official layout: trial + dev's first half of articles, dev's second half."""
    articles = dev["data"]
    half = len(articles) // 2
    train = (trial["data"] if trial else []) + articles[:half]
    return ({"version": dev.get("version", "v1.0"), "data": train},
            {"version": dev.get("version", "v1.0"), "data": articles[half:]})


def _questions(content: dict) -> int:
    return sum(len(p["qas"]) for article in content["data"] for p in article["paragraphs"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("FINETUNE_DATA"),
                        help="a folder holding cmrc2018/cmrc2018_dev.json (default: $FINETUNE_DATA)")
    parser.add_argument("--out", required=True, help="the folder to write train.json and dev.json to")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data FOLDER or set FINETUNE_DATA (a folder holding cmrc2018/cmrc2018_dev.json)")
    folder = Path(args.data) / "cmrc2018"
    if not (folder / "cmrc2018_dev.json").is_file():
        parser.error(f"{folder / 'cmrc2018_dev.json'}: no such file")
    dev = json.loads((folder / "cmrc2018_dev.json").read_text(encoding="utf-8"))
    trial_path = folder / "cmrc2018_trial.json"
    trial = json.loads(trial_path.read_text(encoding="utf-8")) if trial_path.is_file() else None
    train_part, dev_part = split(dev, trial)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in (("train.json", train_part), ("dev.json", dev_part)):
        (out / name).write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
        print(f"{out / name}: {len(content['data'])} articles, {_questions(content)} questions")
    if trial is None:
        print(f"no {trial_path}: train.json holds dev articles only", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
