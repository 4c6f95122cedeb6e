# -*- coding: utf-8 -*-
"""Evaluation script for CMRC 2018 (version v5 - special: SQuAD-style CMRC 2018 data), for Python 3.

Test oracle only: a line-by-line transcription of cmrc2018_evaluate.py, the official CMRC 2018
evaluation script for the SQuAD-style data (ymcui/cmrc2018, squad-style-data/cmrc2018_evaluate.py,
https://github.com/ymcui/cmrc2018; the data and script are distributed under the repository's
licence, which the data set's hub card, hfl/cmrc2018, gives as CC BY-SA 4.0). tests/test_cmrc.py
checks finetune.metrics.cmrc against it; the toolkit never imports it.

Changes from the original, all forced by Python 3 or by this machine, none to the arithmetic:
- Python 2's `reload(sys); sys.setdefaultencoding('utf8')`, `str(x).decode('utf-8')` and `ur'...'`
  are gone: Python 3 strings are already Unicode, which is what they produced. (With the default
  encoding set to UTF-8, Python 2 compared the script's UTF-8 byte-string punctuation list with
  Unicode characters as text, which is what `char in sp_char` does here.)
- nltk.word_tokenize(s) becomes nltk.word_tokenize(s, preserve_line=True): the original first
  splits s into sentences with the Punkt model, which cannot be downloaded here (see
  finetune/metrics/cmrc.py for where that changes a token).
- evaluate() takes parsed JSON; main() returns the printed line instead of printing it (the
  unanswered-question lines still go to stderr), and `pdb`, unused, is not imported.
"""
from __future__ import print_function

import json
import re
import sys
from collections import OrderedDict

import nltk


# split Chinese with English
def mixed_segmentation(in_str, rm_punc=False):
    in_str = str(in_str).lower().strip()
    segs_out = []
    temp_str = ""
    sp_char = ['-', ':', '_', '*', '^', '/', '\\', '~', '`', '+', '=',
               '，', '。', '：', '？', '！', '“', '”', '；', '’', '《', '》', '……', '·', '、',
               '「', '」', '（', '）', '－', '～', '『', '』']
    for char in in_str:
        if rm_punc and char in sp_char:
            continue
        if re.search(r'[\u4e00-\u9fa5]', char) or char in sp_char:
            if temp_str != "":
                ss = nltk.word_tokenize(temp_str, preserve_line=True)
                segs_out.extend(ss)
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char

    # handling last part
    if temp_str != "":
        ss = nltk.word_tokenize(temp_str, preserve_line=True)
        segs_out.extend(ss)

    return segs_out


# remove punctuation
def remove_punctuation(in_str):
    in_str = str(in_str).lower().strip()
    sp_char = ['-', ':', '_', '*', '^', '/', '\\', '~', '`', '+', '=',
               '，', '。', '：', '？', '！', '“', '”', '；', '’', '《', '》', '……', '·', '、',
               '「', '」', '（', '）', '－', '～', '『', '』']
    out_segs = []
    for char in in_str:
        if char in sp_char:
            continue
        else:
            out_segs.append(char)
    return ''.join(out_segs)


# find longest common string
def find_lcs(s1, s2):
    m = [[0 for i in range(len(s2) + 1)] for j in range(len(s1) + 1)]
    mmax = 0
    p = 0
    for i in range(len(s1)):
        for j in range(len(s2)):
            if s1[i] == s2[j]:
                m[i + 1][j + 1] = m[i][j] + 1
                if m[i + 1][j + 1] > mmax:
                    mmax = m[i + 1][j + 1]
                    p = i + 1
    return s1[p - mmax:p], mmax


def evaluate(ground_truth_file, prediction_file):
    f1 = 0
    em = 0
    total_count = 0
    skip_count = 0
    for instance in ground_truth_file["data"]:
        for para in instance["paragraphs"]:
            for qas in para['qas']:
                total_count += 1
                query_id = qas['id'].strip()
                answers = [x["text"] for x in qas['answers']]

                if query_id not in prediction_file:
                    sys.stderr.write('Unanswered question: {}\n'.format(query_id))
                    skip_count += 1
                    continue

                prediction = str(prediction_file[query_id])
                f1 += calc_f1_score(answers, prediction)
                em += calc_em_score(answers, prediction)

    f1_score = 100.0 * f1 / total_count
    em_score = 100.0 * em / total_count
    return f1_score, em_score, total_count, skip_count


def calc_f1_score(answers, prediction):
    f1_scores = []
    for ans in answers:
        ans_segs = mixed_segmentation(ans, rm_punc=True)
        prediction_segs = mixed_segmentation(prediction, rm_punc=True)
        lcs, lcs_len = find_lcs(ans_segs, prediction_segs)
        if lcs_len == 0:
            f1_scores.append(0)
            continue
        precision = 1.0 * lcs_len / len(prediction_segs)
        recall = 1.0 * lcs_len / len(ans_segs)
        f1 = (2 * precision * recall) / (precision + recall)
        f1_scores.append(f1)
    return max(f1_scores)


def calc_em_score(answers, prediction):
    em = 0
    for ans in answers:
        ans_ = remove_punctuation(ans)
        prediction_ = remove_punctuation(prediction)
        if ans_ == prediction_:
            em = 1
            break
    return em


def main(ground_truth_file, prediction_file, prediction_file_name):
    F1, EM, TOTAL, SKIP = evaluate(ground_truth_file, prediction_file)
    AVG = (EM + F1) * 0.5
    output_result = OrderedDict()
    output_result['AVERAGE'] = '%.3f' % AVG
    output_result['F1'] = '%.3f' % F1
    output_result['EM'] = '%.3f' % EM
    output_result['TOTAL'] = TOTAL
    output_result['SKIP'] = SKIP
    output_result['FILE'] = prediction_file_name
    return json.dumps(output_result)


if __name__ == '__main__':
    dataset_file, prediction_file_name = sys.argv[1:3]
    with open(dataset_file, encoding='utf-8') as f:
        ground_truth = json.load(f)
    with open(prediction_file_name, encoding='utf-8') as f:
        predictions = json.load(f)
    print(main(ground_truth, predictions, prediction_file_name))
