"""finetune.conll: token-per-line NER files (CoNLL-2003, WNUT-17, Resume NER) and data.format=conll."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from finetune.config.schema import DataConfig
from finetune.data.conll import read_conll
from finetune.data.splits import load_split, read_file
from finetune.errors import InputError


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def read(path: Path) -> tuple[list[list[str]], list[list[str]] | None, list[int]]:
    dataset, lines = read_conll(str(path))
    return list(dataset["tokens"]), list(dataset["tags"]) if "tags" in dataset.column_names else None, lines


def error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_conll(str(path))
    return str(info.value)


# -- hand-written files ---------------------------------------------------------------------------

CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC


Peter NNP B-NP B-PER
Blackburn NNP B-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""


def test_four_columns_docstart_and_blank_runs(tmp_path):
    tokens, tags, lines = read(write(tmp_path / "train.txt", CONLL2003))
    assert tokens == [["EU", "rejects", "German"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"], ["B-LOC"]]
    assert lines == [3, 8, 13]


def test_line_of_token_k_is_first_line_plus_k(tmp_path):
    path = write(tmp_path / "train.conll", CONLL2003)
    tokens, tags, lines = read(path)
    file_lines = CONLL2003.split("\n")
    for r, words in enumerate(tokens):
        for k, word in enumerate(words):
            columns = file_lines[lines[r] + k - 1].split()
            assert (columns[0], columns[-1]) == (word, tags[r][k])


def test_docstart_without_blank_line_ends_the_sentence(tmp_path):
    tokens, _, lines = read(write(tmp_path / "a.conll", "a O\nb O\n-DOCSTART- -X- -X- O\nc O\n"))
    assert tokens == [["a", "b"], ["c"]]
    assert lines == [1, 4]


def test_two_tab_columns_and_whitespace_only_separator(tmp_path):
    # WNUT-17 train separates most sentences with a line holding a single tab.
    tokens, tags, lines = read(write(tmp_path / "wnut.conll", "@paulwalk\tO\nIt\tO\n\t\nEmpire\tB-location\n\n\n"))
    assert tokens == [["@paulwalk", "It"], ["Empire"]]
    assert tags == [["O", "O"], ["B-location"]]
    assert lines == [1, 4]


def test_one_column_words_only_has_no_tags(tmp_path):
    dataset, lines = read_conll(str(write(tmp_path / "predict.conll", "Hello\nworld\n\nBye\n")))
    assert dataset.column_names == ["tokens"]
    assert dataset["tokens"] == [["Hello", "world"], ["Bye"]]
    assert lines == [1, 4]


def test_crlf_line_endings(tmp_path):
    tokens, tags, lines = read(write(tmp_path / "a.bio", "a\tB-X\r\nb\tO\r\n\r\n\r\nc\tO\r\n"))
    assert tokens == [["a", "b"], ["c"]]
    assert tags == [["B-X", "O"], ["O"]]
    assert lines == [1, 5]


def test_bom_is_not_part_of_the_first_token(tmp_path):
    tokens, tags, lines = read(write(tmp_path / "a.iob", "\ufeffEU B-ORG\nsays O\n"))
    assert tokens == [["EU", "says"]]
    assert lines == [1]


def test_last_sentence_without_trailing_newline(tmp_path):
    # The CoNLL-2003 files here end without a newline after the last token.
    tokens, tags, lines = read(write(tmp_path / "a.conll", "a O\n\nb B-PER\nc I-PER"))
    assert tokens == [["a"], ["b", "c"]]
    assert tags == [["O"], ["B-PER", "I-PER"]]
    assert lines == [1, 3]


def test_chinese_characters_and_unicode_spaces_are_tokens(tmp_path):
    # Only spaces and tabs separate columns: U+3000, U+00A0 and U+200B are characters of a token,
    # and a U+FEFF inside a word (WNUT-17 dev has one) is not a BOM.
    text = "吴 B-NAME\n重 M-NAME\n阳 E-NAME\n\u3000 O\n\n\xa0 O\nwatched\u200bwas O\nDubbz\ufeff B-person\n"
    tokens, tags, lines = read(write(tmp_path / "train.char.bmes", text))
    assert tokens == [["吴", "重", "阳", "\u3000"], ["\xa0", "watched\u200bwas", "Dubbz\ufeff"]]
    assert tags == [["B-NAME", "M-NAME", "E-NAME", "O"], ["O", "O", "B-person"]]
    assert lines == [1, 6]


def test_unicode_line_separator_inside_a_token_does_not_split_the_line(tmp_path):
    tokens, _, lines = read(write(tmp_path / "a.conll", "a\u2028b O\nc\x85 O\n\nd O\n"))
    assert tokens == [["a\u2028b", "c\x85"], ["d"]]
    assert lines == [1, 4]


def test_features_are_string_sequences(tmp_path):
    dataset, _ = read_conll(str(write(tmp_path / "a.conll", "1 0\n2 0\n")))
    assert dataset["tokens"] == [["1", "2"]] and dataset["tags"] == [["0", "0"]]
    assert str(dataset.features["tokens"].feature.dtype) == "string"
    assert str(dataset.features["tags"].feature.dtype) == "string"


# -- errors ---------------------------------------------------------------------------------------

def test_wrong_column_count_names_file_and_line(tmp_path):
    path = write(tmp_path / "train.conll", "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\n\nPeter NNP B-PER\n")
    message = error(path)
    assert f"{path}, line 5: 3 columns" in message
    assert "first line has 4" in message
    assert "line 3" in message


def test_token_with_a_space_in_a_tab_file_names_line(tmp_path):
    path = write(tmp_path / "train.conll", "New\tB-location\nYork City\tI-location\n")
    message = error(path)
    assert f"{path}, line 2: 3 columns" in message
    assert "space or tab" in message


@pytest.mark.parametrize("text", ["", "\n\n", " \t\r\n"], ids=["empty", "newlines", "whitespace"])
def test_empty_file(tmp_path, text):
    path = write(tmp_path / "train.conll", text)
    message = error(path)
    assert str(path) in message
    assert "empty" in message


def test_only_docstart_lines(tmp_path):
    path = write(tmp_path / "train.conll", "-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- -X- O\n\n")
    message = error(path)
    assert str(path) in message
    assert "no sentences" in message


def test_non_utf8_names_line(tmp_path):
    path = tmp_path / "train.conll"
    path.write_bytes(b"a O\n\ncaf\xe9 O\n")
    message = error(path)
    assert f"{path}, line 3" in message
    assert "not UTF-8" in message
    assert "0xe9" in message


# -- data.format ----------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".conll", ".bio", ".iob", ".bmes", ".bioes", ".CONLL"])
def test_auto_format_from_suffix(tmp_path, suffix):
    path = write(tmp_path / f"train{suffix}", CONLL2003)
    split = load_split(DataConfig(train=str(path)), "train")
    assert split.dataset["tokens"][1] == ["Peter", "Blackburn"]
    assert split.lines == [3, 8, 13]
    assert split.where(1) == f"{path}, line 8"


def test_txt_needs_data_format(tmp_path):
    path = write(tmp_path / "train.txt", CONLL2003)
    with pytest.raises(InputError) as info:
        read_file(DataConfig(format="auto"), str(path), "train")
    message = str(info.value)
    assert str(path) in message
    assert "data.format" in message and "conll" in message
    dataset, lines = read_file(DataConfig(format="conll"), str(path), "train")
    assert len(dataset) == 3 and lines == [3, 8, 13]


def test_max_train_samples_keeps_lines(tmp_path):
    path = write(tmp_path / "train.conll", CONLL2003)
    split = load_split(DataConfig(train=str(path), max_train_samples=2), "train")
    assert len(split.dataset) == 2 and split.lines == [3, 8]


# -- the real files (README counts) ---------------------------------------------------------------

CONLL_TYPES = {"LOC", "MISC", "ORG", "PER"}
WNUT_TYPES = {"corporation", "creative-work", "group", "location", "person", "product"}
RESUME_TYPES = {"CONT", "EDU", "LOC", "NAME", "ORG", "PRO", "RACE", "TITLE"}

# file: (sentences, tokens, entities per type, the prefixes of the tagging scheme, the types)
REAL = {
    "conll2003/train.txt": (14041, 203621, {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}, "BI", CONLL_TYPES),
    "conll2003/valid.txt": (3250, 51362, {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}, "BI", CONLL_TYPES),
    "conll2003/test.txt": (3453, 46435, {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}, "BI", CONLL_TYPES),
    "wnut17/wnut17train.conll": (3394, 62730, {"corporation": 221, "creative-work": 140, "group": 264,
                                               "location": 548, "person": 660, "product": 142}, "BI", WNUT_TYPES),
    "wnut17/emerging.dev.conll": (1009, 15733, {"corporation": 34, "creative-work": 105, "group": 39,
                                                "location": 74, "person": 470, "product": 114}, "BI", WNUT_TYPES),
    "wnut17/emerging.test.annotated": (1287, 23394, {"corporation": 66, "creative-work": 142, "group": 165,
                                                     "location": 150, "person": 429, "product": 127}, "BI", WNUT_TYPES),
    "resume_ner/train.char.bmes": (3821, 124099, {"CONT": 260, "EDU": 858, "LOC": 47, "NAME": 952, "ORG": 4611,
                                                  "PRO": 287, "RACE": 115, "TITLE": 6308}, "BMES", RESUME_TYPES),
    "resume_ner/dev.char.bmes": (463, 13890, {"CONT": 33, "EDU": 106, "LOC": 2, "NAME": 110, "ORG": 523,
                                              "PRO": 18, "RACE": 15, "TITLE": 690}, "BMES", RESUME_TYPES),
    "resume_ner/test.char.bmes": (477, 15100, {"CONT": 28, "EDU": 112, "LOC": 6, "NAME": 112, "ORG": 553,
                                               "PRO": 33, "RACE": 14, "TITLE": 772}, "BMES", RESUME_TYPES),
}


@pytest.mark.parametrize("name", list(REAL))
def test_real_file_counts_tags_and_lines(name, real_data):
    sentences, token_count, entities, prefixes, types = REAL[name]
    path = real_data / name
    dataset, lines = read_file(DataConfig(format="conll"), str(path), "train")
    tokens, tags = list(dataset["tokens"]), list(dataset["tags"])  # a datasets Column reads lazily, row by row
    assert len(dataset) == len(lines) == sentences
    assert sum(len(t) for t in tokens) == sum(len(t) for t in tags) == token_count
    seen = {tag for sentence in tags for tag in sentence}
    assert "O" in seen
    assert {tag.split("-", 1)[0] for tag in seen - {"O"}} <= set(prefixes)
    assert {tag.split("-", 1)[1] for tag in seen - {"O"}} == types
    # IOB2 / BMES: an entity starts at B- (or is a single S- token); the README counts them so.
    starts = Counter(tag[2:] for sentence in tags for tag in sentence if tag[:2] in ("B-", "S-"))
    assert starts == entities
    # Token k of sentence r is on line lines[r] + k, its first column the token, its last the tag.
    file_lines = path.read_text(encoding="utf-8").split("\n")
    for r in range(len(tokens)):
        for k in range(len(tokens[r])):
            columns = file_lines[lines[r] + k - 1].split("\t" if "wnut" in name else " ")
            assert (columns[0], columns[-1]) == (tokens[r][k], tags[r][k]), (name, lines[r] + k)
