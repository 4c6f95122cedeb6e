"""Write the CMRC 2018 sample files in this folder and check them.

    python samples/cmrc2018/make_cmrc2018_samples.py

All text below was written for this project (released with it under the Apache License 2.0); no
paragraph, question or answer was taken from CMRC 2018, Wikipedia or any other source. 青石镇 and
everything said about it are invented. The files exist only so that configs/cmrc2018.yaml runs
offline; scores on them mean nothing.

Layout: the official SQuAD-style CMRC 2018 JSON ({"version": "v1.0", "data": [{"paragraphs":
[{"id", "context", "qas": [{"question", "id", "answers": [{"text", "answer_start"}]}]}], "id",
"title"}]}). Train questions have one answer, dev questions three, as in the real files. An answer
is a string (its first occurrence in the context), (string, n) for its n-th occurrence, or
(string, "absent") for an extra annotator's answer that is not verbatim in the context, written
with answer_start -1 as the real dev file writes 193 of them; (string, "off") writes a wrong offset
(two characters late), as the real dev file has a few. Every other answer_start is computed.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

TRAIN = [
    ("青石镇", ("《青石镇志》记载，青石镇位于云溪河下游，因镇东一块高约三米的青色巨石而得名。全镇面积约48平方公里，"
              "常住人口两万余人。镇上的石桥建于1921年，共有七个桥孔，是当地最古老的建筑。每年农历三月，镇里举办"
              "“青石庙会”，吸引周边数万游客。"), [
        ("青石镇因什么而得名？", ["镇东一块高约三米的青色巨石"]),
        ("镇上的石桥建于哪一年？", ["1921年"]),
        ("青石庙会在什么时候举办？", ["每年农历三月"]),
    ]),
    ("Python语言", ("Python是一种通用的高级编程语言，由Guido van Rossum于1991年首次发布。它的设计强调代码的可读性，"
                   "用缩进而不是大括号来划分代码块。Python支持多种编程范式，包括面向对象、函数式和过程式编程。"
                   "它的标准库非常丰富，因此常被称为“自带电池”的语言。"), [
        ("Python由谁首次发布？", ["Guido van Rossum"]),
        ("Python用什么来划分代码块？", ["缩进"]),
        ("Python为什么常被称为“自带电池”的语言？", ["标准库非常丰富"]),
    ]),
    ("茶叶", ("茶叶是用茶树的嫩叶加工而成的饮品原料。根据发酵程度的不同，茶叶大致可以分为绿茶、白茶、黄茶、乌龙茶、"
            "红茶和黑茶六大类。其中绿茶不经过发酵，保留了较多的天然物质；红茶则是全发酵茶。泡茶时，绿茶适合用"
            "80℃左右的水，而红茶通常用接近沸腾的水。"), [
        ("茶叶大致可以分为几大类？", ["六大类"]),
        ("哪一类茶不经过发酵？", ["绿茶"]),
        ("泡绿茶适合用多少度的水？", ["80℃左右"]),
    ]),
]

DEV = [
    ("大熊猫", ("大熊猫是中国特有的哺乳动物，主要生活在四川、陕西和甘肃的山区。成年大熊猫体长约1.2至1.8米，"
              "体重可达100公斤以上。它们的食物99%是竹子，每天要花十几个小时进食。大熊猫被誉为“活化石”，"
              "也是世界自然基金会（WWF）的标志。"), [
        ("大熊猫主要生活在哪些省份的山区？", ["四川、陕西和甘肃", "四川、陕西和甘肃",
                                         ("四川、陕西、甘肃三省", "absent")]),
        ("大熊猫的食物主要是什么？", ["竹子", "竹子", ("99%是竹子", "off")]),
        ("大熊猫是哪个组织的标志？", ["世界自然基金会（WWF）", "世界自然基金会", "WWF"]),
    ]),
    ("长江", ("长江是亚洲第一长河，全长约6300公里，发源于青藏高原的唐古拉山脉，最终在上海注入东海。长江流域"
            "面积约180万平方公里，约占中国陆地面积的五分之一。三峡大坝位于长江上游与中游的交界处，是世界上"
            "装机容量最大的水电站。"), [
        ("长江全长约多少公里？", ["6300公里", "约6300公里", "6300公里"]),
        ("长江在哪里注入东海？", ["上海", "上海", ("在上海市崇明岛附近", "absent")]),
        ("长江流域面积约占中国陆地面积的多少？", ["五分之一", "五分之一", "中国陆地面积的五分之一"]),
    ]),
]


def _answer(context: str, spec) -> dict:
    text, how = (spec, 0) if isinstance(spec, str) else spec
    if how == "absent":
        assert text not in context, text
        return {"text": text, "answer_start": -1}
    start = -1
    for _ in range((how if isinstance(how, int) else 0) + 1):
        start = context.index(text, start + 1)
    assert context[start:start + len(text)] == text
    return {"text": text, "answer_start": start + 2 if how == "off" else start}


def build(articles, prefix: str) -> dict:
    data = []
    for a, (title, context, qas) in enumerate(articles):
        paragraph_id = f"{prefix}_{a}"
        data.append({"paragraphs": [{"id": paragraph_id, "context": context, "qas": [
            {"question": question, "id": f"{paragraph_id}_QUERY_{q}", "answers": [_answer(context, s) for s in answers]}
            for q, (question, answers) in enumerate(qas)]}], "id": paragraph_id, "title": title})
    return {"version": "v1.0", "data": data}


def main() -> None:
    files = {"cmrc2018_train.json": build(TRAIN, "SAMPLE_TRAIN"), "cmrc2018_dev.json": build(DEV, "SAMPLE_DEV")}
    for name, content in files.items():
        (HERE / name).write_text(json.dumps(content, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        questions = [qa for article in content["data"] for p in article["paragraphs"] for qa in p["qas"]]
        answers = [x for qa in questions for x in qa["answers"]]
        absent = sum(x["answer_start"] == -1 for x in answers)
        print(f"{name}: {len(content['data'])} articles, {len(questions)} questions, {len(answers)} answers, "
              f"{absent} with answer_start -1")


if __name__ == "__main__":
    main()
