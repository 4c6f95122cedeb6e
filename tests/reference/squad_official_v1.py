""" Official evaluation script for v1.1 of the SQuAD dataset. """
# Test oracle only: a copy of evaluate-v1.1.py, the official SQuAD v1.1 evaluation script
# published with the SQuAD explorer (rajpurkar/SQuAD-explorer, https://rajpurkar.github.io/SQuAD-explorer/,
# CC BY-SA 4.0). Kept here, unchanged in its logic, as the independent reference that
# tests/test_squad_metrics.py checks finetune.metrics.squad against; the toolkit never imports it.
# Changes from the original: this comment, and the argparse / file-reading __main__ block replaced
# by main(dataset_json, predictions), which takes the parsed JSON and returns the printed line.
from __future__ import print_function

import json
import re
import string
import sys
from collections import Counter


def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return (normalize_answer(prediction) == normalize_answer(ground_truth))


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def evaluate(dataset, predictions):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article['paragraphs']:
            for qa in paragraph['qas']:
                total += 1
                if qa['id'] not in predictions:
                    message = 'Unanswered question ' + qa['id'] + \
                              ' will receive score 0.'
                    print(message, file=sys.stderr)
                    continue
                ground_truths = list(map(lambda x: x['text'], qa['answers']))
                prediction = predictions[qa['id']]
                exact_match += metric_max_over_ground_truths(
                    exact_match_score, prediction, ground_truths)
                f1 += metric_max_over_ground_truths(
                    f1_score, prediction, ground_truths)

    exact_match = 100.0 * exact_match / total
    f1 = 100.0 * f1 / total

    return {'exact_match': exact_match, 'f1': f1}


def main(dataset_json, predictions):
    """The original __main__ block, on parsed JSON: returns what it prints to stdout."""
    expected_version = '1.1'
    if (dataset_json['version'] != expected_version):
        print('Evaluation expects v-' + expected_version +
              ', but got dataset with v-' + dataset_json['version'],
              file=sys.stderr)
    dataset = dataset_json['data']
    return json.dumps(evaluate(dataset, predictions))
