"""finetune.data readers (GLUE TSV layouts, csv, jsonl, hub, samples) and the adapter's label checks."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Dataset, Features, Value

import finetune.data.hub
import finetune.data.splits
from finetune.data.splits import SAMPLE_DIR, describe, describe_all, load_split
from finetune.errors import InputError
from tasks import classification as _classification  # noqa: F401  (import transformers once, at collection)
from tasks import registry
from tasks.registry import load_config

_REAL_LOAD_DATASET = datasets.load_dataset
LOCAL_BUILDERS = ("csv", "json")


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """No test here may reach the hub: any non-local load_dataset call fails the test (pytest.fail
    raises a BaseException, so read_hub's `except Exception` cannot turn it into an InputError)."""

    def guarded(path, *args, **kwargs):
        if path not in LOCAL_BUILDERS:
            pytest.fail(f"load_dataset({path!r}, ...) would reach the hub")
        return _REAL_LOAD_DATASET(path, *args, **kwargs)

    monkeypatch.setattr(finetune.data.splits, "load_dataset", guarded)
    monkeypatch.delenv("FINETUNE_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def rows(split) -> list[dict]:
    return [dict(r) for r in split.dataset]


# -- GLUE layouts ---------------------------------------------------------------------------------

MNLI_TRAIN_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                     "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label")
MNLI_DEV_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                   "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label")
QUOTED = 'He said "hi to me.'


def _mnli_files(tmp_path):
    train = write(tmp_path / "train.tsv", "\n".join([
        MNLI_TRAIN_HEADER,
        "0\t31193\t31193n\tgovernment\t( ( Conceptually ( cream skimming ) ) )\t( Product ( and geography ) )\t"
        "(ROOT (S (NP (JJ Conceptually))))\t(ROOT (S (NP (NN Product))))\t"
        "Conceptually cream skimming has two basic dimensions - product and geography.\t"
        "Product and geography are what make cream skimming work. \tneutral\tneutral",
        f"1\t101457\t101457e\ttelephone\t( He said )\t( nobody )\t(ROOT (S (NP (PRP He))))\t(ROOT (NN nobody))\t"
        f"{QUOTED}\t\"Nobody came\tcontradiction\tcontradiction",
        "2\t134793\t134793e\tfiction\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tOne of our number will carry out your instructions.\t"
        "A member of my team will execute your orders.\tentailment\tentailment",
    ]) + "\n")
    dev = write(tmp_path / "dev_matched.tsv", "\n".join([
        MNLI_DEV_HEADER,
        "0\t63735\t63735n\tslate\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tThe new rights are nice enough\t"
        "Everyone really likes the newest benefits \tneutral\tentailment\tneutral\tneutral\tneutral\tneutral",
    ]) + "\n")
    mismatched = write(tmp_path / "dev_mismatched.tsv", "\n".join([
        MNLI_DEV_HEADER,
        "0\t75290\t75290c\tletters\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tYour contribution helped make it possible.\t"
        "Your contributions were of no help.\tcontradiction\tcontradiction\tcontradiction\tcontradiction\tcontradiction\tcontradiction",
        "1\t133794\t133794c\tverbatim\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tThe answer \"is\t'no'\tcontradiction\t\t\t\t\tcontradiction",
    ]) + "\n")
    return train, dev, mismatched


def test_mnli_train_dev_and_mismatched(tmp_path):
    train, dev, mismatched = _mnli_files(tmp_path)
    config = load_config("mnli", [f"data.train={train}", f"data.validation={dev}",
                                  f"data.extra_validation={{mismatched: {mismatched}}}"])
    train_split = load_split(config.data, "train")
    assert train_split.origin == "file"
    assert train_split.location == str(train)
    assert train_split.dataset.column_names == MNLI_TRAIN_HEADER.split("\t")
    assert all(f.dtype == "string" for f in train_split.dataset.features.values())
    assert len(train_split.dataset) == 3
    first = train_split.dataset[0]
    assert first["index"] == "0"
    assert first["promptID"] == "31193"
    assert first["sentence2"] == "Product and geography are what make cream skimming work. "  # trailing space kept
    assert first["gold_label"] == "neutral"
    # GLUE TSVs have no quoting: an unbalanced quote is text
    second = train_split.dataset[1]
    assert second["sentence1"] == QUOTED
    assert second["sentence2"] == '"Nobody came'
    assert second["gold_label"] == "contradiction"
    assert train_split.lines == [2, 3, 4]

    dev_split = load_split(config.data, "validation")
    assert dev_split.dataset.column_names == MNLI_DEV_HEADER.split("\t")
    assert rows(dev_split)[0]["label2"] == "entailment"
    assert rows(dev_split)[0]["gold_label"] == "neutral"

    mm = load_split(config.data, "mismatched")
    assert mm.name == "mismatched"
    assert mm.location == str(mismatched)
    assert len(mm.dataset) == 2
    assert mm.dataset[0]["genre"] == "letters"
    assert mm.dataset[1]["sentence1"] == 'The answer "is'
    assert mm.dataset[1]["sentence2"] == "'no'"
    assert mm.dataset[1]["label2"] == ""  # empty annotator labels stay empty strings
    assert mm.where(1) == f"{mismatched}, line 3"

    adapter = registry.get(config)
    adapter.setup_labels({"train": train_split, "validation": dev_split, "mismatched": mm})
    assert adapter.labels == ["entailment", "neutral", "contradiction"]


def test_qqp(tmp_path):
    path = write(tmp_path / "qqp_train.tsv",
                 "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                 "133273\t213221\t213222\tHow is the life of a math student? Could you describe your own experiences?\t"
                 "Which level of prepration is enough for the exam jlpt5?\t0\n"
                 "402555\t536040\t536041\tHow do I control my horny emotions?\tHow do you control your horniness?\t1\n"
                 "360472\t364011\t490273\tWhat causes stool color to change to \"yellow?\tWhat can cause stool to come out as little balls?\t0\n")
    config = load_config("qqp", [f"data.train={path}"])
    split = load_split(config.data, "train")
    assert split.dataset.column_names == ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
    assert split.dataset["is_duplicate"] == ["0", "1", "0"]
    assert split.dataset["id"] == ["133273", "402555", "360472"]
    assert split.dataset[2]["question1"] == 'What causes stool color to change to "yellow?'
    adapter = registry.get(config)
    adapter.setup_labels({"train": split})
    assert adapter.labels == ["0", "1"]


def test_cola_train_without_header_and_test_with_header(tmp_path):
    train = write(tmp_path / "train.tsv",
                  "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n"
                  "gj04\t0\t*\tThe more you eat, the fatter you get \"will.\n"
                  "cj99\t1\t\tNA\n")
    test = write(tmp_path / "test.tsv", "index\tsentence\n0\tBill whistled past the house.\n1\tnull\n")
    config = load_config("cola", [f"data.train={train}", f"data.test={test}"])
    split = load_split(config.data, "train")
    assert split.dataset.column_names == ["source", "label", "author_label", "sentence"]
    assert rows(split) == [
        {"source": "gj04", "label": "1", "author_label": "", "sentence": "Our friends won't buy this analysis, let alone the next one we propose."},
        {"source": "gj04", "label": "0", "author_label": "*", "sentence": 'The more you eat, the fatter you get "will.'},
        {"source": "cj99", "label": "1", "author_label": "", "sentence": "NA"},
    ]
    assert split.lines == [1, 2, 3]  # no header: the first row is line 1
    assert split.where(0) == f"{train}, line 1"

    test_split = load_split(config.data, "test")
    assert test_split.dataset.column_names == ["index", "sentence"]
    assert rows(test_split) == [{"index": "0", "sentence": "Bill whistled past the house."},
                                {"index": "1", "sentence": "null"}]
    assert test_split.lines == [2, 3]

    adapter = registry.get(config)
    adapter.setup_labels({"train": split, "test": test_split})  # the test split needs no label column
    assert adapter.labels == ["0", "1"]


def test_mrpc_bom_before_header(tmp_path):
    path = write(tmp_path / "train.tsv",
                 "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                 "1\t702876\t702977\tAmrozi accused his brother, whom he called \"the witness\", of deliberately distorting his evidence.\t"
                 "Referring to him as only \"the witness\", Amrozi accused his brother of deliberately distorting his evidence.\n"
                 "0\t2108705\t2108831\tYucaipa owned Dominick's before selling the chain to Safeway in 1998 for $2.5 billion.\t"
                 "Yucaipa bought Dominick's in 1995 for $693 million and sold it to Safeway for $1.8 billion in 1998.\n")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    config = load_config("mrpc", [f"data.train={path}"])
    split = load_split(config.data, "train")
    assert split.dataset.column_names == ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
    assert split.dataset["Quality"] == ["1", "0"]
    assert split.dataset[0]["#1 String"].startswith('Amrozi accused his brother, whom he called "the witness"')
    assert split.lines == [2, 3]
    adapter = registry.get(config)
    adapter.setup_labels({"train": split})  # label_column Quality is found
    assert adapter.labels == ["0", "1"]


def test_na_and_null_stay_strings(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\nNA\t0\nnull\t1\nNone\t0\nnan\t1\nN/A\t0\n")
    config = load_config("sst2", [f"data.train={path}"])
    split = load_split(config.data, "train")
    assert split.dataset["sentence"] == ["NA", "null", "None", "nan", "N/A"]
    assert split.dataset["label"] == ["0", "1", "0", "1", "0"]
    assert split.dataset.features["label"] == Value("string")
    assert split.dataset.features["sentence"] == Value("string")
    registry.get(config).setup_labels({"train": split})


def test_tsv_backslash_and_hash_verbatim(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\na \\ b\\\t1\n# not a comment\t0\n'single' \"x\"\"y\t1\n")
    config = load_config("sst2", [f"data.train={path}"])
    split = load_split(config.data, "train")
    assert split.dataset["sentence"] == ["a \\ b\\", "# not a comment", "'single' \"x\"\"y"]


def test_tsv_crlf_line_endings(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\r\ngood\t1\r\n\r\nbad\t0\r\n")
    config = load_config("sst2", [f"data.train={path}"])
    split = load_split(config.data, "train")
    assert split.dataset["sentence"] == ["good", "bad"]
    assert split.dataset["label"] == ["1", "0"]
    assert split.lines == [2, 4]


@pytest.mark.parametrize("char", ["\u2028", "\x85", "\x0c"], ids=["u2028", "nel", "formfeed"])
def test_tsv_sentence_with_unicode_line_separator(tmp_path, char):
    """BUG (finetune/data.py _check_delimited): text.splitlines() also splits on U+2028, U+0085,
    form feed, ... which are ordinary characters inside a TSV field (only \\n / \\r end a row), so a
    valid file is refused with '1 fields where the header has 2'."""
    path = write(tmp_path / "train.tsv", f"sentence\tlabel\nfirst{char}second\t1\nthird\t0\n")
    config = load_config("sst2", [f"data.train={path}"])
    split = load_split(config.data, "train")
    assert split.dataset["sentence"] == [f"first{char}second", "third"]
    assert split.lines == [2, 3]


def test_jsonl_string_with_unicode_line_separator(tmp_path):
    """BUG (finetune/data.py _check_jsonl): splitlines() cuts a JSON line at a raw U+2028 inside a
    string (valid JSON, written so by json.dumps(ensure_ascii=False)) and reports invalid JSON."""
    path = write(tmp_path / "train.jsonl", '{"review": "go\u2028od", "sentiment": "pos"}\n{"review": "bad", "sentiment": "neg"}\n')
    config = load_config("sst2", [f"data.train={path}", "text_column=review", "label_column=sentiment", "labels=[neg,pos]"])
    split = load_split(config.data, "train")
    assert split.dataset["review"] == ["go\u2028od", "bad"]


# -- csv and jsonl with custom columns ------------------------------------------------------------

CUSTOM = ["text_column=review", "label_column=sentiment", "labels=[neg,pos]"]


def test_csv_with_quoted_commas(tmp_path):
    path = write(tmp_path / "reviews.csv",
                 'review,sentiment\n'
                 '"good, really good",pos\n'
                 '"bad, ""awful"" even",neg\n'
                 'plain,pos\n'
                 '"two\nlines",neg\n'
                 'last one,pos\n')
    config = load_config("sst2", [f"data.train={path}", *CUSTOM])
    split = load_split(config.data, "train")
    assert split.dataset.column_names == ["review", "sentiment"]
    assert split.dataset["review"] == ["good, really good", 'bad, "awful" even', "plain", "two\nlines", "last one"]
    assert split.dataset["sentiment"] == ["pos", "neg", "pos", "neg", "pos"]
    # the quoted field spans lines 5-6; the row after it starts on line 7
    assert split.lines == [2, 3, 4, 5, 7]
    assert split.where(4) == f"{path}, line 7"
    adapter = registry.get(config)
    adapter.setup_labels({"train": split})
    assert adapter.labels == ["neg", "pos"]


def test_csv_bad_quoting_names_line(tmp_path):
    path = write(tmp_path / "reviews.csv", 'review,sentiment\nok,pos\n"bad"x,neg\n')
    config = load_config("sst2", [f"data.train={path}", *CUSTOM])
    with pytest.raises(InputError) as info:
        load_split(config.data, "train")
    assert f"{path}, line 3" in str(info.value)


def test_jsonl_with_custom_columns(tmp_path):
    path = write(tmp_path / "reviews.jsonl",
                 '{"review": "great, \\"really\\"", "sentiment": "pos"}\n'
                 '\n'
                 '{"review": "NA", "sentiment": "neg"}\n'
                 '{"review": "meh", "sentiment": "neg"}\n')
    config = load_config("sst2", [f"data.train={path}", *CUSTOM])
    split = load_split(config.data, "train")
    assert split.dataset["review"] == ['great, "really"', "NA", "meh"]
    assert split.dataset["sentiment"] == ["pos", "neg", "neg"]
    assert split.lines == [1, 3, 4]
    assert split.where(1) == f"{path}, line 3"
    adapter = registry.get(config)
    adapter.setup_labels({"train": split})


def test_jsonl_bad_label_names_line(tmp_path):
    path = write(tmp_path / "reviews.jsonl",
                 '{"review": "a", "sentiment": "pos"}\n\n{"review": "b", "sentiment": "neutral"}\n')
    config = load_config("sst2", [f"data.train={path}", *CUSTOM])
    split = load_split(config.data, "train")
    with pytest.raises(InputError) as info:
        registry.get(config).setup_labels({"train": split})
    assert f"{path}, line 3: label 'neutral'" in str(info.value)


def test_json_list_file(tmp_path):
    path = write(tmp_path / "reviews.json", '[{"review": "a", "sentiment": "pos"}, {"review": "b", "sentiment": "neg"}]')
    config = load_config("sst2", [f"data.train={path}", *CUSTOM])
    split = load_split(config.data, "train")
    assert split.dataset["review"] == ["a", "b"]
    assert split.lines == [1, 1]  # the line each object starts on
    path = write(tmp_path / "reviews.json", '[\n  {"review": "a",\n   "sentiment": "pos"},\n  {"review": "b", "sentiment": "neg"}\n]')
    split = load_split(config.data, "train")
    assert split.lines == [2, 4]
    assert split.where(1) == f"{path}, line 4"


# -- RawSplit.where -------------------------------------------------------------------------------

def test_where_counts_header_and_skips_blank_lines(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\n\nfirst\t0\n\n\nsecond\t1\nthird\t0\n")
    config = load_config("sst2", [f"data.train={path}"])
    split = load_split(config.data, "train")
    assert split.dataset["sentence"] == ["first", "second", "third"]
    assert split.lines == [3, 6, 7]
    assert split.where(0) == f"{path}, line 3"
    assert split.where(1) == f"{path}, line 6"
    assert split.where(2) == f"{path}, line 7"
    assert split.where(3) == f"{path}, row 3"  # out of range: no line to name


def test_max_train_samples_keeps_lines(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\na\t0\n\nb\t1\nc\t0\n")
    config = load_config("sst2", [f"data.train={path}", "data.max_train_samples=2"])
    split = load_split(config.data, "train")
    assert split.dataset["sentence"] == ["a", "b"]
    assert split.lines == [2, 4]


def test_no_split_configured_gives_none():
    config = load_config("sst2", ["data.test=null"])
    assert load_split(config.data, "test") is None
    assert load_split(config.data, "no_such_extra") is None


# -- file errors ----------------------------------------------------------------------------------

def _sst2_split(path):
    return load_split(load_config("sst2", [f"data.train={path}"]).data, "train")


def test_missing_field_names_line(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\ngood\t1\nno label here\nbad\t0\n")
    with pytest.raises(InputError) as info:
        _sst2_split(path)
    message = str(info.value)
    assert f"{path}, line 3" in message
    assert "1 fields where the header has 2" in message


def test_extra_field_names_line(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\ngood\t1\nbad\t0\n\ttoo\tmany\t0\n")
    with pytest.raises(InputError) as info:
        _sst2_split(path)
    assert f"{path}, line 4" in str(info.value)


def test_cola_missing_field_names_line(tmp_path):
    path = write(tmp_path / "train.tsv", "gj04\t1\t\tA sentence.\ngj04\t0\t*Another sentence.\n")
    config = load_config("cola", [f"data.train={path}"])
    with pytest.raises(InputError) as info:
        load_split(config.data, "train")
    message = str(info.value)
    assert f"{path}, line 2" in message
    assert "3 fields where the header has 4" in message


@pytest.mark.parametrize("text", ["", "\n\n", "  \n\t\n"], ids=["empty", "newlines", "whitespace"])
def test_empty_file(tmp_path, text):
    path = write(tmp_path / "train.tsv", text)
    with pytest.raises(InputError) as info:
        _sst2_split(path)
    message = str(info.value)
    assert str(path) in message
    assert "empty" in message


@pytest.mark.parametrize("text", ["sentence\tlabel\n", "sentence\tlabel", "sentence\tlabel\n\n\n"])
def test_header_only_file(tmp_path, text):
    path = write(tmp_path / "train.tsv", text)
    with pytest.raises(InputError) as info:
        _sst2_split(path)
    message = str(info.value)
    assert str(path) in message
    assert "no data rows" in message


def test_non_utf8_names_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"sentence\tlabel\ngood\t1\ncaf\xe9 au lait\t0\nbad\t0\n")
    with pytest.raises(InputError) as info:
        _sst2_split(path)
    message = str(info.value)
    assert f"{path}, line 3" in message
    assert "not UTF-8" in message
    assert "0xe9" in message


def test_jsonl_not_json_names_line(tmp_path):
    path = write(tmp_path / "train.jsonl", '{"review": "a", "sentiment": "pos"}\n\n{"review": "b", "sentiment": \n')
    config = load_config("sst2", [f"data.train={path}", *CUSTOM])
    with pytest.raises(InputError) as info:
        load_split(config.data, "train")
    message = str(info.value)
    assert f"{path}, line 3" in message
    assert "not valid JSON" in message


def test_jsonl_not_an_object_names_line(tmp_path):
    path = write(tmp_path / "train.jsonl", '{"review": "a", "sentiment": "pos"}\n["b", "neg"]\n')
    config = load_config("sst2", [f"data.train={path}", *CUSTOM])
    with pytest.raises(InputError) as info:
        load_split(config.data, "train")
    message = str(info.value)
    assert f"{path}, line 2" in message
    assert "JSON object" in message


def test_unknown_extension(tmp_path):
    path = write(tmp_path / "train.txt", "sentence\tlabel\na\t0\n")
    with pytest.raises(InputError) as info:
        _sst2_split(path)
    assert str(path) in str(info.value)
    assert "data.format" in str(info.value)


def test_format_override_reads_txt_as_tsv(tmp_path):
    path = write(tmp_path / "train.txt", "sentence\tlabel\na\t0\n")
    split = load_split(load_config("sst2", [f"data.train={path}", "data.format=tsv"]).data, "train")
    assert split.dataset["sentence"] == ["a"]


def test_missing_file_files_only(tmp_path):
    config = load_config("sst2", ["data.source=files", "data.train=nope/train.tsv"])
    with pytest.raises(InputError) as info:
        load_split(config.data, "train")
    message = str(info.value)
    assert "data.train" in message
    assert "nope/train.tsv" in message
    assert "FINETUNE_DATA" in message
    assert "data.source=hub" in message  # sst2 has a hub id to suggest


def test_missing_file_without_hub(tmp_path):
    # A name relative to the data folder: the message says where it looked and how to point there.
    config = load_config("sst2", ["data.train=glue/absent.tsv", "data.hub=null"])
    with pytest.raises(InputError) as info:
        load_split(config.data, "train")
    message = str(info.value)
    assert "data.train" in message and "glue/absent.tsv" in message
    assert "FINETUNE_DATA" in message
    # An absolute path that does not exist is a typo: refused, never replaced by a sample or the hub.
    missing = tmp_path / "absent.tsv"
    config = load_config("sst2", [f"data.train={missing}"])
    with pytest.raises(InputError, match="not found") as info:
        load_split(config.data, "train")
    assert str(missing) in str(info.value)


def test_relative_file_found_under_finetune_data(tmp_path, monkeypatch):
    folder = tmp_path / "glue_data"
    (folder / "glue" / "SST-2").mkdir(parents=True)
    write(folder / "glue" / "SST-2" / "train.tsv", "sentence\tlabel\nfrom the data folder\t1\n")
    monkeypatch.setenv("FINETUNE_DATA", str(folder))
    config = load_config("sst2")
    split = load_split(config.data, "train")
    assert split.origin == "file"
    assert split.location == str(folder / "glue" / "SST-2" / "train.tsv")
    assert split.dataset["sentence"] == ["from the data folder"]


# -- label checks through the adapter -------------------------------------------------------------

def test_label_outside_list_names_file_and_line(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\ngood\t1\nbad\t0\nodd\t2\n")
    config = load_config("sst2", [f"data.train={path}"])
    split = load_split(config.data, "train")
    with pytest.raises(InputError) as info:
        registry.get(config).setup_labels({"train": split})
    message = str(info.value)
    assert f"{path}, line 4: label '2'" in message
    assert "labels" in message


def test_label_outside_list_in_validation(tmp_path):
    train = write(tmp_path / "train.tsv", "sentence\tlabel\ngood\t1\nbad\t0\n")
    dev = write(tmp_path / "dev.tsv", "sentence\tlabel\n\nok\t1\nhmm\tpositive\n")
    config = load_config("sst2", [f"data.train={train}", f"data.validation={dev}"])
    splits = {"train": load_split(config.data, "train"), "validation": load_split(config.data, "validation")}
    with pytest.raises(InputError) as info:
        registry.get(config).setup_labels(splits)
    assert f"{dev}, line 4: label 'positive'" in str(info.value)


def test_missing_text_column_suggests_text_column(tmp_path):
    path = write(tmp_path / "train.tsv", "text\tlabel\ngood\t1\n")
    config = load_config("sst2", [f"data.train={path}"])
    split = load_split(config.data, "train")
    with pytest.raises(InputError) as info:
        registry.get(config).setup_labels({"train": split})
    message = str(info.value)
    assert str(path) in message
    assert "'sentence'" in message
    assert "text_column=" in message


def test_missing_pair_and_label_columns_name_their_keys(tmp_path):
    path = write(tmp_path / "train.tsv", "index\tsentence1\tsecond\tlabel\n0\ta\tb\tentailment\n")
    config = load_config("rte", [f"data.train={path}"])
    with pytest.raises(InputError) as info:
        registry.get(config).setup_labels({"train": load_split(config.data, "train")})
    assert "'sentence2'" in str(info.value) and "text_pair_column=" in str(info.value)

    path = write(tmp_path / "train2.tsv", "sentence\tgold\ngood\t1\n")
    config = load_config("sst2", [f"data.train={path}"])
    with pytest.raises(InputError) as info:
        registry.get(config).setup_labels({"train": load_split(config.data, "train")})
    assert "'label'" in str(info.value) and "label_column=" in str(info.value)


def test_labels_from_training_data_when_not_configured(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\na\tneutral\nb\tcontra\nc\tentail\nd\tneutral\n")
    # sst2's label_names (negative, positive) name two labels: three from the data are refused with them
    with pytest.raises(InputError, match=r"'label_names': \['negative', 'positive'\] must name each label of "
                                         r"\['contra', 'entail', 'neutral'\].*label_names=null"):
        config = load_config("sst2", [f"data.train={path}", "labels=null"])
        registry.get(config).setup_labels({"train": load_split(config.data, "train")})
    config = load_config("sst2", [f"data.train={path}", "labels=null", "label_names=null"])
    assert config.options.labels is None
    adapter = registry.get(config)
    adapter.setup_labels({"train": load_split(config.data, "train")})
    assert adapter.labels == ["contra", "entail", "neutral"]
    assert adapter.model_kwargs()["id2label"] == {0: "contra", 1: "entail", 2: "neutral"}


def test_labels_null_without_train_split_refused(tmp_path):
    dev = write(tmp_path / "dev.tsv", "sentence\tlabel\na\t0\n")
    config = load_config("sst2", [f"data.validation={dev}", "labels=null"])
    with pytest.raises(InputError, match="labels"):
        registry.get(config).setup_labels({"validation": load_split(config.data, "validation")})


# -- hub, without network -------------------------------------------------------------------------

def _fake_hub(monkeypatch, hub_id, dataset):
    calls = []
    guarded = finetune.data.splits.load_dataset

    def fake(path, *args, **kwargs):
        if path == hub_id:
            calls.append((path, args, kwargs))
            return dataset
        return guarded(path, *args, **kwargs)

    monkeypatch.setattr(finetune.data.splits, "load_dataset", fake)
    return calls


def test_hub_sst2_renames_and_maps_classlabel_to_ids(monkeypatch):
    hub = Dataset.from_dict(
        {"sentence": ["good movie", "bad movie", "fine", "awful"], "label": [1, 0, 1, 0], "idx": [0, 1, 2, 3]},
        features=Features({"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"]),
                           "idx": Value("int32")}),
    )
    calls = _fake_hub(monkeypatch, "nyu-mll/glue", hub)
    config = load_config("sst2", ["data.source=hub"])
    split = load_split(config.data, "validation")
    assert calls == [("nyu-mll/glue", ("sst2",), {"split": "validation"})]
    assert split.origin == "hub"
    assert split.location == "nyu-mll/glue:validation"
    assert split.dataset.column_names == ["sentence", "label", "index"]
    assert split.dataset["index"] == [0, 1, 2, 3]
    assert split.lines is None
    assert split.where(2) == "nyu-mll/glue:validation, row 2"
    assert "(hub)" in describe(split)

    adapter = registry.get(config)
    adapter.setup_labels({"validation": split})
    assert adapter.labels == ["0", "1"]
    # negative/positive are not the configured labels ["0", "1"]: the ints become "0"/"1"
    assert adapter._label_strings(split.dataset) == ["1", "0", "1", "0"]
    assert adapter.score(["1", "0", "0", "0"], split.dataset) == {"accuracy": 0.75}


def test_hub_rte_classlabel_maps_to_names(monkeypatch):
    hub = Dataset.from_dict(
        {"sentence1": ["a", "b", "c"], "sentence2": ["x", "y", "z"], "label": [1, 0, 0], "idx": [0, 1, 2]},
        features=Features({"sentence1": Value("string"), "sentence2": Value("string"),
                           "label": ClassLabel(names=["entailment", "not_entailment"]), "idx": Value("int32")}),
    )
    calls = _fake_hub(monkeypatch, "nyu-mll/glue", hub)
    config = load_config("rte", ["data.source=hub"])
    split = load_split(config.data, "train")
    assert calls == [("nyu-mll/glue", ("rte",), {"split": "train"})]
    assert "index" in split.dataset.column_names
    adapter = registry.get(config)
    adapter.setup_labels({"train": split})
    assert adapter._label_strings(split.dataset) == ["not_entailment", "entailment", "entailment"]
    assert adapter.score(["not_entailment", "entailment", "not_entailment"], split.dataset)["accuracy"] == pytest.approx(2 / 3)


def test_hub_mnli_mismatched_split_and_renames(monkeypatch):
    hub = Dataset.from_dict(
        {"premise": ["p"], "hypothesis": ["h"], "label": [2], "idx": [0]},
        features=Features({"premise": Value("string"), "hypothesis": Value("string"),
                           "label": ClassLabel(names=["entailment", "neutral", "contradiction"]), "idx": Value("int32")}),
    )
    calls = _fake_hub(monkeypatch, "nyu-mll/glue", hub)
    config = load_config("mnli", ["data.source=hub"])
    split = load_split(config.data, "mismatched")
    assert calls == [("nyu-mll/glue", ("mnli",), {"split": "validation_mismatched"})]
    assert split.location == "nyu-mll/glue:validation_mismatched"
    assert sorted(split.dataset.column_names) == ["gold_label", "index", "sentence1", "sentence2"]
    adapter = registry.get(config)
    adapter.setup_labels({"mismatched": split})
    assert adapter._label_strings(split.dataset) == ["contradiction"]


def test_hub_failure_is_input_error(monkeypatch):
    def broken(path, *args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(finetune.data.splits, "load_dataset", broken)
    config = load_config("sst2", ["data.source=hub"])
    with pytest.raises(InputError) as info:
        load_split(config.data, "train")
    message = str(info.value)
    assert "data.hub=nyu-mll/glue" in message
    assert "FINETUNE_DATA" in message


# -- data.source=auto: files, then the hub when it answers, then the samples --------------------------

def _sst2_hub():
    return Dataset.from_dict({"sentence": ["good movie", "bad movie"], "label": [1, 0], "idx": [0, 1]},
                             features=Features({"sentence": Value("string"),
                                                "label": ClassLabel(names=["negative", "positive"]),
                                                "idx": Value("int32")}))


def test_auto_reads_the_hub_before_the_samples_when_the_hub_answers(monkeypatch):
    # A fresh clone online used to train on the 48-row sample; it now gets the real data set.
    monkeypatch.setattr(finetune.data.hub, "reachable", lambda: True)
    calls = _fake_hub(monkeypatch, "nyu-mll/glue", _sst2_hub())
    split = load_split(load_config("sst2").data, "train")
    assert calls == [("nyu-mll/glue", ("sst2",), {"split": "train"})]
    assert (split.origin, split.location, len(split.dataset)) == ("hub", "nyu-mll/glue:train", 2)


def test_auto_reads_local_files_before_the_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(finetune.data.hub, "reachable", lambda: True)
    (tmp_path / "glue" / "SST-2").mkdir(parents=True)
    write(tmp_path / "glue" / "SST-2" / "train.tsv", "sentence\tlabel\nlocal\t1\n")
    monkeypatch.setenv("FINETUNE_DATA", str(tmp_path))
    calls = _fake_hub(monkeypatch, "nyu-mll/glue", _sst2_hub())
    split = load_split(load_config("sst2").data, "train")
    assert calls == [] and split.origin == "file" and split.dataset["sentence"] == ["local"]
    assert describe_all([split], load_config("sst2").data) == describe(split)  # real data: no hint


def test_auto_offline_reads_the_sample_without_asking_the_hub(monkeypatch):
    monkeypatch.setattr(finetune.data.hub, "reachable", lambda: False)
    split = load_split(load_config("sst2").data, "train")  # the autouse guard fails any hub load
    assert split.origin == "sample"
    # without a sample either, the message says how to get real data
    with pytest.raises(InputError, match=r"FINETUNE_DATA.*go online: nyu-mll/glue is read from the Hugging Face hub"):
        load_split(load_config("sst2", ["data.train=nope.tsv"]).data, "train")


class _Session:
    def __init__(self, behaviour):
        self.behaviour, self.calls = behaviour, 0

    def head(self, url, timeout):
        self.calls += 1
        return self.behaviour(url, timeout)


@pytest.mark.parametrize("behaviour, expected", [
    (lambda url, timeout: object(), True),  # any answer, whatever its status
    (lambda url, timeout: (_ for _ in ()).throw(OSError("Name or service not known")), False),
    (lambda url, timeout: __import__("time").sleep(5), False),  # hangs: given up after PROBE_SECONDS
])
def test_the_hub_probe(behaviour, expected, monkeypatch):
    import time

    import huggingface_hub.utils

    from finetune.data import hub

    session = _Session(behaviour)
    monkeypatch.setattr(huggingface_hub.utils, "get_session", lambda: session)
    monkeypatch.setattr(hub, "PROBE_SECONDS", 0.5)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    hub.reachable.cache_clear()
    started = time.perf_counter()
    try:
        assert hub.reachable() is expected and session.calls == 1
        assert time.perf_counter() - started < 2
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # set: not asked at all
        hub.reachable.cache_clear()
        assert hub.reachable() is False and session.calls == 1
    finally:
        hub.reachable.cache_clear()


# -- samples shipped in samples/ ------------------------------------------------------------------

SST2_SAMPLE = SAMPLE_DIR / "glue" / "SST-2" / "train.tsv"


def _sample_rows():
    lines = SST2_SAMPLE.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].split("\t") == ["sentence", "label"]
    return [line.split("\t") for line in lines[1:] if line.strip()]


def test_sample_source_reads_shipped_sample():
    config = load_config("sst2", ["data.source=sample"])
    split = load_split(config.data, "train")
    assert split.origin == "sample"
    assert split.location == str(SST2_SAMPLE)
    expected = _sample_rows()
    assert len(split.dataset) == len(expected)
    assert split.dataset[0] == {"sentence": expected[0][0], "label": expected[0][1]}
    assert "SAMPLE" in describe(split)
    # the run's data listing ends with one line on how to get real data
    shown = describe_all([split], config.data).split("\n")
    assert len(shown) == 2 and "FINETUNE_DATA=/path/to/data" in shown[1] and "nyu-mll/glue" in shown[1]
    registry.get(config).setup_labels({"train": split})


def test_auto_falls_back_to_sample_when_data_dir_lacks_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_DATA", str(tmp_path))
    config = load_config("sst2")
    split = load_split(config.data, "train")
    assert split.origin == "sample"
    assert split.location == str(SST2_SAMPLE)
