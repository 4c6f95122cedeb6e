"""Write the SQuAD-format sample files in this folder and check every offset.

    python samples/squad/make_squad_samples.py

All text below was written for this project (released with it under the Apache License 2.0); no
paragraph, question or answer was taken from SQuAD, Wikipedia or any other source. "Harbourne" and
everything in its article is invented. The files exist only so that the squad / squad_v2 configs run
offline; scores on them mean nothing.

Layout of the data below: ARTICLES -> (title, [paragraph]); a paragraph is a dict with
  "context":    list of sentences, joined with one space;
  "qas":        list of (question, [answer, ...]); train questions have one answer, dev three;
  "impossible": (question, plausible answer) for the v2.0 files, not answered by the context.
An answer is a string (its first occurrence in the context) or (string, n) for its n-th occurrence
(0-based), so that answer_start is always computed, never typed.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent

TRAIN = [
    ("Copper", [
        {
            "context": [
                "Copper is a chemical element with the symbol Cu and atomic number 29.",
                "It is a soft, malleable and ductile metal with a reddish-orange colour when freshly exposed, and it "
                "conducts heat and electricity very well; among the pure metals at room temperature, only silver is a "
                "better electrical conductor.",
                "The symbol Cu comes from the Latin word cuprum, a shortening of the older Roman name aes Cyprium, or "
                "\"metal of Cyprus\", because much of the copper used in the Roman world was mined on that island.",
                "Copper belongs to group 11 of the periodic table, together with silver and gold, and like them it is "
                "one of the few metals that occur in nature in a directly usable, metallic form.",
                "This native copper allowed people to work the metal long before they learned to smelt it from ores.",
                "Copper melts at about 1,085 °C and has a density of roughly 8.96 grams per cubic centimetre, making it "
                "noticeably heavier than iron.",
                "In its compounds it usually has an oxidation state of +1 or +2; copper(II) salts such as copper "
                "sulfate often give solutions a striking blue colour.",
                "Pure copper is too soft for many purposes, so it is commonly combined with other metals.",
                "Bronze, an alloy of copper and tin, was hard enough for tools and weapons and gave its name to the "
                "Bronze Age.",
                "Brass, an alloy of copper and zinc, is easy to machine and resists corrosion, which is why it is still "
                "used for valves, musical instruments and decorative hardware.",
                "Cupronickel, which mixes copper with nickel, is used for many coins and for pipes that carry seawater.",
                "When copper is left outdoors for years, its surface slowly reacts with air, water and pollutants and "
                "turns from brown to a pale green layer called a patina, or verdigris.",
                "The patina protects the metal underneath from further corrosion.",
                "The best-known example is the Statue of Liberty in New York Harbor, whose thin copper skin was a shiny "
                "reddish brown when the statue was dedicated in 1886 and turned green over the following decades.",
                "Today most copper goes into electrical wiring, motors and electronics, and because the metal can be "
                "recycled again and again without losing its properties, a large share of the copper in use has "
                "already been recycled at least once.",
            ],
            "qas": [
                ("What is the atomic number of copper?", ["29"]),
                ("Which alloy of copper and zinc is used for valves and musical instruments?", ["Brass"]),
                ("Which landmark in New York Harbor has a copper skin that turned green?", ["the Statue of Liberty"]),
            ],
            "impossible": ("In what year had the Statue of Liberty's copper skin turned completely green?", "1886"),
        },
        {
            "context": [
                "Copper was probably the first metal that people shaped into tools.",
                "Small beads and awls hammered from native copper have been found at sites in the Middle East that are "
                "more than nine thousand years old.",
                "Smelting copper from its ores came later and spread slowly across Eurasia, in a period that "
                "archaeologists sometimes call the Chalcolithic, or Copper Age.",
                "One of the most famous objects from that time belonged to Ötzi, the natural mummy of a man who died "
                "in the Alps around 3300 BC and was found by two hikers in 1991.",
                "Among his belongings was an axe with a blade of almost pure copper fixed to a handle of yew wood.",
            ],
            "qas": [
                ("What do archaeologists sometimes call the period when copper smelting spread across Eurasia?",
                 ["the Chalcolithic, or Copper Age"]),
                ("Who was the man whose mummy was found in the Alps in 1991?", ["Ötzi"]),
                ("What wood was the handle of his axe made of?", ["yew"]),
            ],
            "impossible": ("What were the names of the hikers who found Ötzi?", "two hikers"),
        },
        {
            "context": [
                "Most of the world's copper is mined from large open pits, where ores that often contain less than one "
                "percent copper are crushed, concentrated and then smelted or leached.",
                "Chile is by far the largest producer, and the Escondida mine in the Atacama Desert is one of the "
                "biggest copper mines on Earth.",
                "Peru, the Democratic Republic of the Congo and China are also major producers.",
                "Because new mines are expensive and slow to open, recycling plays a large role: scrap copper can be "
                "melted and refined again with far less energy than is needed to produce the metal from ore.",
            ],
            "qas": [
                ("Which country is the largest producer of copper?", ["Chile"]),
                ("In which desert is the Escondida mine?", ["the Atacama Desert"]),
                ("What does refining scrap copper need far less of than producing copper from ore?", ["energy"]),
            ],
            "impossible": ("What share of the world's copper comes from Chile?", "less than one percent"),
        },
        {
            "context": [
                "Copper is an essential trace element for plants and animals.",
                "In humans it is needed by several enzymes, including cytochrome c oxidase, which takes part in "
                "cellular respiration.",
                "The adult body holds only between 50 and 120 milligrams of copper in total, much of it in the liver, "
                "muscles and bones.",
                "In Wilson's disease, an inherited disorder, the body cannot get rid of excess copper, which then "
                "builds up in the liver and brain.",
                "Many molluscs and arthropods, such as octopuses and horseshoe crabs, carry oxygen in their blood with "
                "hemocyanin, a copper-containing protein; their blood is colourless without oxygen and turns blue when "
                "oxygen is bound.",
            ],
            "qas": [
                ("What inherited disorder stops the body from getting rid of excess copper?", ["Wilson's disease"]),
                ("Which protein carries oxygen in the blood of octopuses?", ["hemocyanin"]),
                ("What colour does hemocyanin-containing blood turn when oxygen is bound?", ["blue"]),
            ],
            "impossible": ("How much copper should an adult eat each day?", "between 50 and 120 milligrams"),
        },
    ]),
    ("Harbourne", [
        {
            "context": [
                "Harbourne is a market town on the northern bank of the River Tamsel, about twelve kilometres upstream "
                "from the point where the river meets the sea.",
                "At the last census the town had 14,300 inhabitants.",
                "Harbourne grew up around a ford where drovers crossed the Tamsel with cattle on their way to the "
                "coastal markets, and its name is usually explained as \"the stream by the harbour\", although the town "
                "never had a harbour of its own.",
                "Its motto, carved above the door of the old guildhall, is Tide, toil, and trust.",
            ],
            "qas": [
                ("On which river does Harbourne stand?", ["the River Tamsel"]),
                ("How many inhabitants did Harbourne have at the last census?", ["14,300"]),
                ("What is the motto of Harbourne?", ["Tide, toil, and trust."]),
            ],
            "impossible": ("How far is Harbourne from the nearest city?", "about twelve kilometres"),
        },
        {
            "context": [
                "The Kingsmead Bridge carries the old coach road across the River Tamsel at the southern edge of "
                "Harbourne.",
                "A timber bridge stood on the site from the fourteenth century, but it was damaged so often by winter "
                "floods that the town council decided in 1779 to replace it with a stone structure.",
                "The new bridge was designed by the engineer Eleanor Pryce, who had learned her trade surveying canals "
                "for her father, and it was completed in 1786 after seven years of work.",
                "It is built of local red sandstone and has seven semicircular arches, the widest of which spans "
                "twenty-one metres over the main channel.",
                "Pryce set the foundations of each pier on rafts of elm timber sunk into the riverbed, a common "
                "technique at the time, and gave the piers pointed cutwaters on the upstream side to split floating "
                "ice and debris.",
                "The parapets were originally topped with iron lamps paid for by a toll of one penny for every cart "
                "and half a penny for every rider; people on foot crossed free.",
                "During the great flood of 1852 the water rose almost to the crown of the arches and swept away the "
                "mill that stood just upstream, but the bridge itself lost only part of one parapet.",
                "The tolls were abolished in 1871, when the county took over the upkeep of the road.",
                "In the twentieth century the growth of motor traffic put the bridge under strain.",
                "Its roadway, only six metres wide, could not take two lorries side by side, and cracks appeared in the "
                "third arch in 1958.",
                "Engineers strengthened the arches with a concrete saddle hidden beneath the road surface, and in 1974 "
                "a new road bridge was opened some four hundred metres downstream to take through traffic away from "
                "the town centre.",
                "Since then the Kingsmead Bridge has been open only to pedestrians, cyclists and local buses.",
                "It was listed as a protected monument in 1981, and a restoration in 2009 replaced eroded stones with "
                "sandstone from the same quarry at Cradley Edge that had supplied the original builders.",
                "A bronze plaque on the eastern abutment records the names of the nineteen masons who built the "
                "bridge, and every September the townspeople hold a lantern procession across it to mark the "
                "anniversary of its opening.",
            ],
            "qas": [
                ("Who designed the Kingsmead Bridge?", ["Eleanor Pryce"]),
                ("How many arches does the Kingsmead Bridge have?", [("seven", 1)]),
                ("Which quarry supplied the sandstone used in the 2009 restoration?", ["Cradley Edge"]),
            ],
            "impossible": ("How much did it cost to build the stone bridge?", "one penny"),
        },
        {
            "context": [
                "The quay beside the old ford is the liveliest part of Harbourne.",
                "Its best-known meeting place is the Café Lumière, opened in 1996 by Joaquim Araújo, a chef who grew "
                "up in São Paulo and settled in the town after years of cooking on cargo ships.",
                "The café is known for its pão de queijo, small Brazilian cheese breads that Araújo bakes every "
                "morning, and for the jazz evenings held there on the first Friday of each month.",
                "In summer the quay hosts the Tamsel Regatta, a rowing race between clubs from the towns along the "
                "river.",
            ],
            "qas": [
                ("In which city did Joaquim Araújo grow up?", ["São Paulo"]),
                ("What meeting place on the quay opened in 1996?", ["the Café Lumière"]),
                ("What cheese breads are baked every morning at the café?", ["pão de queijo"]),
            ],
            "impossible": ("How many clubs take part in the Tamsel Regatta?", "clubs from the towns along the river"),
        },
        {
            "context": [
                "Harbourne's football club, Harbourne Athletic, was founded in 1889 by workers at the town's rope "
                "works and plays at the Millfield ground beside the river.",
                "The club is nicknamed the Herons, after the grey herons that fish in the shallows below the "
                "Kingsmead Bridge.",
                "Rope making was the town's main industry for two centuries, but the last rope works closed in 1967.",
                "Today the largest employers are the county hospital, a company that makes sailing equipment, and the "
                "tourist trade, which depends on visitors drawn by the bridge, the quay and the footpaths along the "
                "Tamsel.",
            ],
            "qas": [
                ("What is the nickname of Harbourne Athletic?", ["the Herons"]),
                ("Where does Harbourne Athletic play its home games?", ["the Millfield ground"]),
                ("In what year did the last rope works in Harbourne close?", ["1967"]),
            ],
            "impossible": ("Who was the first captain of Harbourne Athletic?", "workers at the town's rope works"),
        },
    ]),
    ("Python_(programming_language)", [
        {
            "context": [
                "Python is a high-level, general-purpose programming language whose design puts great weight on the "
                "readability of code.",
                "Its most visible feature is significant indentation: instead of marking blocks of code with braces or "
                "keywords, Python uses the indentation of the lines themselves, so that the layout a reader sees is "
                "the structure the interpreter follows.",
                "The language was created by Guido van Rossum, who began working on it in the late 1980s at the "
                "Centrum Wiskunde & Informatica (CWI) in the Netherlands as a successor to the ABC language.",
                "The first version was released in February 1991.",
                "Van Rossum named the language not after the snake but after the British comedy series Monty Python's "
                "Flying Circus, and references to the show still turn up in the official documentation, where example "
                "variables are often called spam and eggs instead of foo and bar.",
                "Python is dynamically typed and garbage-collected, and it supports several programming styles, "
                "including procedural, object-oriented and functional programming.",
                "It is often described as a \"batteries included\" language because of its large standard library, "
                "which provides modules for tasks such as reading files, handling dates, working with regular "
                "expressions, compressing data and talking to web servers.",
                "Python 2.0, released in 2000, added list comprehensions and a garbage collector able to detect "
                "reference cycles.",
                "Python 3.0, released in December 2008, was a major revision that was not fully backward-compatible "
                "with earlier versions; among other changes, print became a function and text strings became Unicode "
                "by default.",
                "Because so much existing code had to be adapted, the two versions were maintained side by side for "
                "more than a decade, and Python 2 only reached its official end of life on 1 January 2020.",
                "The reference implementation, CPython, is written in C and is developed as open-source software by a "
                "large community.",
                "The Python Software Foundation, a non-profit organisation founded in 2001, holds the rights to the "
                "language, while changes to it are proposed and discussed in documents called Python Enhancement "
                "Proposals, or PEPs.",
                "The best known of them are PEP 8, the style guide for Python code, and PEP 20, the Zen of Python, "
                "which collects nineteen short aphorisms written by Tim Peters, beginning with \"Beautiful is better "
                "than ugly.\"",
            ],
            "qas": [
                ("Who created Python?", ["Guido van Rossum"]),
                ("Which comedy series was Python named after?", ["Monty Python's Flying Circus"]),
                ("Who wrote the aphorisms collected in the Zen of Python?", ["Tim Peters"]),
            ],
            "impossible": ("When did Guido van Rossum stop leading the development of Python?", "1 January 2020"),
        },
        {
            "context": [
                "A Python program is usually run by an interpreter that first compiles the source code to bytecode "
                "and then executes it on a virtual machine.",
                "Functions are defined with the def keyword, and classes with the class keyword.",
                "Because whitespace is significant, the style guide recommends four spaces for each level of "
                "indentation and discourages mixing tabs and spaces.",
                "Typing import this at the interactive prompt prints the Zen of Python, a small joke hidden in the "
                "standard library.",
            ],
            "qas": [
                ("Which keyword is used to define a function in Python?", [("def", 1)]),
                ("How many spaces does the style guide recommend for each level of indentation?", ["four"]),
                ("What is printed when import this is typed at the interactive prompt?", ["the Zen of Python"]),
            ],
            "impossible": ("Which keyword is used to define a module in Python?", ("class", 1)),
        },
        {
            "context": [
                "Python is widely used in scientific computing, data analysis and machine learning, largely thanks to "
                "third-party libraries such as NumPy for numerical arrays, pandas for tabular data and scikit-learn "
                "for classical machine learning.",
                "It is also popular for web development, with frameworks such as Django and Flask, and for automating "
                "routine tasks on servers.",
                "Many universities teach it as a first programming language because its syntax is short and close to "
                "plain English.",
                "Packages are usually installed from the Python Package Index with the pip tool.",
            ],
            "qas": [
                ("Which library is mentioned for working with tabular data?", ["pandas"]),
                ("Why do many universities teach Python as a first programming language?",
                 ["its syntax is short and close to plain English"]),
                ("What tool is used to install packages from the Python Package Index?", ["pip"]),
            ],
            "impossible": ("Which framework is used to write mobile apps in Python?", "Django"),
        },
        {
            "context": [
                "For many years Guido van Rossum held the informal title of Benevolent Dictator For Life, meaning that "
                "he had the final say on disputed changes to the language.",
                "He stepped down from that role in July 2018, after a long and heated debate about a proposal that "
                "added assignment expressions, written with the := operator and nicknamed the walrus operator.",
                "Since 2019 the language has been governed by a steering council of five people, elected by the core "
                "developers after each major release.",
            ],
            "qas": [
                ("Which operator is used to write assignment expressions?", [":="]),
                ("What nickname was given to the operator for assignment expressions?", ["the walrus operator"]),
                ("How many people sit on the steering council?", ["five"]),
            ],
            "impossible": ("Who was the first chair of the steering council?", "Guido van Rossum"),
        },
    ]),
]

DEV = [
    ("Cello", [
        {
            "context": [
                "The cello, in full violoncello, is a bowed string instrument of the violin family.",
                "It is played seated, with the instrument held between the knees and its weight resting on an "
                "adjustable metal spike called the endpin.",
                "Its four strings are tuned in perfect fifths to C, G, D and A, an octave lower than those of the "
                "viola, which gives the cello a range that reaches from deep bass notes to a singing tenor register "
                "close to that of the human voice.",
                "The earliest surviving cellos were made in northern Italy in the sixteenth century, and some of the "
                "most admired instruments were built in Cremona by Antonio Stradivari in the early eighteenth "
                "century.",
                "At first the cello mainly played the bass line in ensembles, supporting the harpsichord or organ in "
                "the continuo, but composers gradually discovered what it could do as a solo instrument.",
                "Johann Sebastian Bach's six suites for unaccompanied cello, probably written around 1720, explore the "
                "whole range of the instrument through a series of dance movements.",
                "For almost two centuries they were treated mainly as study pieces, until the Catalan cellist Pau "
                "Casals found an old edition of them in a second-hand music shop in Barcelona as a boy of thirteen, "
                "practised them for years and began playing them in public.",
                "His complete recording, made between 1936 and 1939, turned the suites into some of the best-loved "
                "works in the repertoire.",
                "In the nineteenth century the cello became a favourite concerto instrument.",
                "Camille Saint-Saëns wrote two cello concertos, but his most famous piece for the instrument is The "
                "Swan, the slow and lyrical thirteenth movement of The Carnival of the Animals.",
                "Antonín Dvořák composed his Cello Concerto in B minor in 1894 and 1895, while he was living in New "
                "York as director of the National Conservatory of Music, and it is widely regarded as the greatest "
                "concerto written for the instrument.",
                "Brahms is said to have remarked that, had he known one could write a cello concerto like that, he "
                "would have written one himself long before.",
            ],
            "qas": [
                ("What is the adjustable metal spike that supports the cello called?",
                 ["the endpin", "endpin", "the endpin"]),
                ("Who found an old edition of Bach's cello suites in a shop in Barcelona?",
                 ["Pau Casals", "the Catalan cellist Pau Casals", "Pau Casals"]),
                ("Who composed the Cello Concerto in B minor?", ["Antonín Dvořák", "Antonín Dvořák", "Dvořák"]),
            ],
            "impossible": ("In what year was The Carnival of the Animals first performed?", "1894"),
        },
        {
            "context": [
                "A cellist draws the bow across the strings with the right hand, while the fingers of the left hand "
                "press the strings against the fingerboard to change the pitch.",
                "In high passages the player may use thumb position, laying the side of the thumb across the strings "
                "as a movable nut.",
                "Cello parts are written mainly in the bass clef, with the tenor and treble clefs used for higher "
                "notes.",
                "Besides bowing, players also pluck the strings with a finger, a technique known as pizzicato.",
            ],
            "qas": [
                ("Which hand holds the bow?", ["the right hand", "right hand", "the right hand"]),
                ("In which clef are cello parts mainly written?", ["the bass clef", "bass clef", "bass"]),
                ("What is the technique of plucking the strings called?", ["pizzicato", "pizzicato", "pizzicato"]),
            ],
            "impossible": ("What wood is the fingerboard of a cello made of?", "the fingerboard"),
        },
    ]),
    ("Common_swift", [
        {
            "context": [
                "The common swift (Apus apus) is a medium-sized bird that spends more of its life in the air than "
                "almost any other.",
                "It is about 17 centimetres long, with a wingspan of around 40 centimetres, and its dark brown "
                "plumage looks black against the sky, apart from a pale patch on the throat.",
                "Swifts feed on insects and airborne spiders caught in flight, drink by skimming the surface of lakes "
                "and rivers, and are thought to sleep on the wing at high altitude.",
                "A study that fitted small data loggers to swifts found that some of them stayed airborne for ten "
                "months without landing.",
                "The species breeds across Europe and much of Asia and spends the northern winter in Africa south of "
                "the Sahara.",
                "Its scientific name comes from the Greek word apous, meaning \"without feet\", because the bird's legs "
                "are so short that it was once thought to have none.",
            ],
            "qas": [
                ("What is the scientific name of the common swift?", ["Apus apus", "Apus apus", "Apus apus"]),
                ("How long did some swifts stay airborne without landing?",
                 ["ten months", "for ten months", "ten months"]),
                ("What does the Greek word apous mean?", ["without feet", "\"without feet\"", "without feet"]),
            ],
            "impossible": ("How much does an adult common swift weigh?", "about 17 centimetres"),
        },
        {
            "context": [
                "Common swifts nest in cavities, originally in cliffs and hollow trees but now mostly under the roof "
                "tiles and eaves of buildings, which is why on summer evenings they are often seen racing and "
                "screaming in groups above old town centres.",
                "A pair returns to the same nest site year after year and usually lays two or three eggs.",
                "The nest is a shallow cup of feathers, straw and other material caught in the air, glued together "
                "with the bird's saliva.",
                "Because modern buildings offer few gaps, many towns now put up special nest boxes for the birds.",
            ],
            "qas": [
                ("Where do common swifts now mostly nest?",
                 ["under the roof tiles and eaves of buildings", "roof tiles and eaves of buildings",
                  "under the roof tiles and eaves of buildings"]),
                ("How many eggs does a pair usually lay?", ["two or three", "two or three eggs", "two or three"]),
                ("What do swifts use to glue their nests together?", ["the bird's saliva", "saliva", "bird's saliva"]),
            ],
            "impossible": ("In which month do common swifts arrive back from Africa?", "summer evenings"),
        },
    ]),
    ("Volleyball", [
        {
            "context": [
                "Volleyball is a team sport in which two teams of six players are separated by a high net and try to "
                "score points by grounding a ball on the other team's court.",
                "It was invented in 1895 by William G. Morgan, a physical education director at the YMCA in Holyoke, "
                "Massachusetts, who wanted a game that was less rough than basketball for older members.",
                "He first called it Mintonette.",
                "Each team may touch the ball up to three times before sending it back over the net, and a player may "
                "not touch it twice in a row, except after a block.",
                "The game spread quickly through YMCA networks and later through the armed forces.",
                "The international federation, the FIVB, was founded in Paris in 1947, and indoor volleyball joined "
                "the Olympic programme at the 1964 Games in Tokyo.",
            ],
            "qas": [
                ("Who invented volleyball?", ["William G. Morgan", "William G. Morgan", "Morgan"]),
                ("What did the inventor first call the game?", ["Mintonette", "Mintonette", "Mintonette"]),
                ("In which city was the FIVB founded?", ["Paris", "in Paris", "Paris"]),
            ],
            "impossible": ("How many players were on each team in Morgan's first games?", "six"),
        },
        {
            "context": [
                "Beach volleyball, played on sand by teams of two, became an Olympic sport at the 1996 Games in "
                "Atlanta.",
                "In the indoor game, the libero is a defensive specialist who wears a shirt of a different colour and "
                "may replace any back-row player without the change counting as a substitution; the position was "
                "introduced in 1998.",
                "Since 1999 every rally wins a point, whichever team served, and a set goes to the first team to reach "
                "25 points with a lead of at least two, except for a deciding fifth set, which is played to 15.",
            ],
            "qas": [
                ("In which city did beach volleyball first appear at the Olympic Games?",
                 ["Atlanta", "Atlanta", "the 1996 Games in Atlanta"]),
                ("Which player is a defensive specialist who wears a shirt of a different colour?",
                 ["the libero", "libero", "the libero"]),
                ("To how many points is a deciding fifth set played?", ["15", "15", "15"]),
            ],
            "impossible": ("In which year was the libero first used at the Olympic Games?", "1998"),
        },
    ]),
]


def locate(context: str, answer) -> dict:
    text, nth = (answer, 0) if isinstance(answer, str) else answer
    start = -1
    for _ in range(nth + 1):
        start = context.index(text, start + 1)  # ValueError when the answer is not in the context
    return {"text": text, "answer_start": start}


def build(articles, version: str, split: str) -> dict:
    data, n = [], 0
    for title, paragraphs in articles:
        out = []
        for paragraph in paragraphs:
            context = " ".join(paragraph["context"])
            qas = []
            for question, answers in paragraph["qas"]:
                n += 1
                qid = f"sample-v{version}-{split}-{n:04d}"
                spans = [locate(context, a) for a in answers]
                if version == "1.1":
                    qas.append({"answers": spans, "question": question, "id": qid})
                else:
                    qas.append({"question": question, "id": qid, "answers": spans, "is_impossible": False})
            if version == "2.0":
                question, plausible = paragraph["impossible"]
                n += 1
                qas.append({"plausible_answers": [locate(context, plausible)], "question": question,
                            "id": f"sample-v{version}-{split}-{n:04d}", "answers": [], "is_impossible": True})
            out.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": out})
    return {"version": "1.1" if version == "1.1" else "v2.0", "data": data}


def check(name: str, doc: dict, seen_ids: set, answers_per_question: int, paragraphs: int, titles: int) -> dict:
    """Every offset exact, ids unique across files, the counts asked for; returns a summary row."""
    v2 = doc["version"] == "v2.0"
    assert doc["version"] in ("1.1", "v2.0"), name
    assert len(doc["data"]) == titles, (name, len(doc["data"]))
    contexts, questions, impossible = [], 0, 0
    for article in doc["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            contexts.append(context)
            assert context == context.strip() and "  " not in context and "\n" not in context, (name, context[:40])
            assert len(paragraph["qas"]) == (4 if v2 else 3), (name, context[:40])
            assert sum(qa.get("is_impossible", False) for qa in paragraph["qas"]) == (1 if v2 else 0)
            for qa in paragraph["qas"]:
                questions += 1
                assert qa["id"] not in seen_ids, qa["id"]
                seen_ids.add(qa["id"])
                assert qa["question"].endswith("?"), qa["question"]
                spans = qa["answers"] + qa.get("plausible_answers", [])
                if qa.get("is_impossible"):
                    impossible += 1
                    assert qa["answers"] == [] and len(qa["plausible_answers"]) == 1, qa["id"]
                else:
                    assert len(qa["answers"]) == answers_per_question, qa["id"]
                    assert "plausible_answers" not in qa, qa["id"]
                    if v2:
                        assert qa["is_impossible"] is False, qa["id"]
                for span in spans:
                    start, text = span["answer_start"], span["text"]
                    assert text and text == text.strip(), (qa["id"], text)
                    assert context[start:start + len(text)] == text, (qa["id"], text, start)
                    # a whole-word span: not a piece of a longer word ("def" inside "defined")
                    before, after = context[start - 1:start], context[start + len(text):start + len(text) + 1]
                    assert not (before.isalnum() and text[0].isalnum()), (qa["id"], text, start)
                    assert not (after.isalnum() and text[-1].isalnum()), (qa["id"], text, start)
    assert len(contexts) == paragraphs, (name, len(contexts))
    return {"file": name, "titles": titles, "paragraphs": len(contexts), "questions": questions,
            "answerable": questions - impossible, "unanswerable": impossible,
            "longest": max(map(len, contexts)), "long": sum(len(c) >= 1800 for c in contexts)}


def main() -> None:
    files = {
        "train-v1.1.json": (build(TRAIN, "1.1", "train"), 1, 12, 3),
        "dev-v1.1.json": (build(DEV, "1.1", "dev"), 3, 6, 3),
        "train-v2.0.json": (build(TRAIN, "2.0", "train"), 1, 12, 3),
        "dev-v2.0.json": (build(DEV, "2.0", "dev"), 3, 6, 3),
    }
    # the v2.0 files reuse the v1.1 contexts and questions (same answers), only the ids differ
    def answerable(doc: dict) -> list:
        return [(p["context"], qa["question"], qa["answers"]) for a in doc["data"] for p in a["paragraphs"]
                for qa in p["qas"] if not qa.get("is_impossible")]

    for v1, v2 in (("train-v1.1.json", "train-v2.0.json"), ("dev-v1.1.json", "dev-v2.0.json")):
        assert answerable(files[v1][0]) == answerable(files[v2][0]), (v1, v2)
    titles = [[a["title"] for a in files[f][0]["data"]] for f in ("train-v1.1.json", "dev-v1.1.json")]
    assert not set(titles[0]) & set(titles[1]), titles
    seen: set = set()
    rows = []
    for name, (doc, answers, paragraphs, n_titles) in files.items():
        rows.append(check(name, doc, seen, answers, paragraphs, n_titles))
        text = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
        assert unicodedata.is_normalized("NFC", text), name  # precomposed accents (é, not e + combining accent)
        (HERE / name).write_text(text, encoding="utf-8", newline="\n")
        assert json.loads((HERE / name).read_text(encoding="utf-8")) == doc
    assert sum(r["long"] for r in rows if r["file"] == "train-v1.1.json") >= 3
    assert all(r["long"] >= 1 for r in rows if r["file"].startswith("dev"))
    assert all(r["longest"] <= 2500 for r in rows)
    print(f"{'file':18} {'titles':>6} {'paras':>5} {'qs':>4} {'answerable':>10} {'unanswerable':>12} "
          f"{'longest':>7} {'>=1800':>6}")
    for r in rows:
        print(f"{r['file']:18} {r['titles']:>6} {r['paragraphs']:>5} {r['questions']:>4} {r['answerable']:>10} "
              f"{r['unanswerable']:>12} {r['longest']:>7} {r['long']:>6}")
    print(f"{len(seen)} ids, all unique; every answer_start checked.")


if __name__ == "__main__":
    main()
