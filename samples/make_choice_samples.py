"""Write the multiple-choice sample files (SWAG and CODAH layouts) and check them.

    python samples/make_choice_samples.py

Writes six files, in the layouts of the real data sets, so that the same reader config reads both:

    samples/swag/train.csv, val.csv, test.csv          ,video-id,fold-ind,startphrase,sent1,sent2,
                                                       gold-source,ending0..ending3,label (test: no label)
    samples/codah/fold_0/train.tsv, dev.tsv, test.tsv  category, prompt, ending0..ending3, label
                                                       (no header; test keeps its labels, as CODAH's does)

All items below were written for this project (released with it under the Apache License 2.0); none
was taken from SWAG, CODAH or any other source. The files exist only so that the multiple-choice
configs run offline; scores on them mean nothing.

An item is (context, start of the ending, right ending, three wrong endings). The wrong endings read
like real continuations but break common sense (physics, cause and effect, what people do), as in
SWAG and CODAH. The right ending is written first; its position among the four (the label) comes
from LABEL_ORDER, so labels are balanced by construction and never typed by hand.

Deterministic: no randomness; running the script twice writes identical bytes.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (context, start of the ending, right ending, wrong ending, wrong ending, wrong ending)
ITEMS = [
    # train (40)
    ("Maria filled a pot with water and set it on the stove over high heat.", "After a few minutes, the water",
     "started to boil.", "turned to ice.", "poured itself into a cup.", "was colder than the tap water."),
    ("Tom forgot his umbrella at home, and it started raining hard on his walk to the office.", "He",
     "arrived at work with his clothes soaked.", "arrived at work completely dry.",
     "was glad he had remembered his umbrella.", "opened the umbrella he had left at home."),
    ("The baby began to cry in the middle of the night.", "Her father",
     "got up to check on her.", "asked her to explain what was wrong in full sentences.",
     "went back to sleep because the baby was asleep.", "made her a cup of strong coffee."),
    ("Ben dropped an egg on the kitchen floor.", "It",
     "cracked and made a mess.", "bounced back into the carton.", "hatched into a chick at once.",
     "rolled back up onto the counter."),
    ("Lena's phone battery was at two percent as she left the library.", "She",
     "looked for a place to charge it.", "decided to watch a long film on it.",
     "put it in the freezer to charge it faster.", "was relieved that it was fully charged."),
    ("The football rolled into the street just as a car was coming.", "The boy",
     "waited on the pavement until the car had passed.", "kicked the car back toward the field.",
     "asked the ball to stay where it was.", "picked up the car and moved it aside."),
    ("Priya has an exam tomorrow morning and has not studied yet.", "Tonight she will probably",
     "stay up late reading her notes.", "go to the exam tonight instead.", "take a long holiday abroad.",
     "forget that she has ever been to school."),
    ("The campers noticed dark clouds and heard thunder in the distance.", "They",
     "packed up and headed for shelter.", "climbed the tallest tree to get a better view of the lightning.",
     "put on sunscreen for the sunny afternoon ahead.", "lit a campfire in the rain to stay dry."),
    ("Sam's bicycle tyre went flat halfway to school.", "He",
     "pushed the bike the rest of the way.", "rode faster to blow the tyre back up.",
     "filled the tyre with water from his bottle.", "was pleased that the ride became smoother."),
    ("Grandma baked a tray of cookies and left them on the counter to cool.", "When the children came in, they",
     "asked if they could have one.", "put the cookies in the washing machine.",
     "complained that the kitchen smelled of fish.", "planted the cookies in the garden."),
    ("The restaurant was full, and the waiter said there would be a forty-minute wait for a table.",
     "The hungry couple",
     "decided to eat somewhere else.", "ordered their dessert from the car park.",
     "were shown to their table at once.", "sat down at a table that was already taken."),
    ("Jake accidentally locked his keys inside his car.", "He",
     "called a locksmith to open the door.", "started the car and drove home.",
     "used the keys to unlock the door.", "climbed in through the exhaust pipe."),
    ("The power went out during a thunderstorm, and the house went dark.", "Anna",
     "found a torch in the kitchen drawer.", "turned on all the lights to see better.",
     "switched on the electric heater to warm up.", "read a book by the light of the television."),
    ("A customer handed the cashier a twenty-dollar note for a five-dollar sandwich.", "The cashier",
     "gave him fifteen dollars in change.", "asked him for another twenty dollars.",
     "gave him twenty-five dollars in change.", "kept the sandwich and handed back the note."),
    ("The ice cream cone was dripping in the afternoon sun.", "Mia",
     "licked it quickly before it melted.", "put it in the oven to firm it up.",
     "waited an hour before taking a bite.", "wrapped it in a warm blanket."),
    ("The dog stood at the back door, whining and scratching at it.", "Its owner",
     "opened the door to let it out.", "turned up the heating so it would stop.",
     "gave the door a bath.", "asked the dog to use the front door instead."),
    ("Carlos planted tomato seeds in a sunny corner of the garden and watered them every day.",
     "A few weeks later, small green shoots",
     "appeared in the soil.", "had turned into ripe watermelons.", "flew away over the fence.",
     "dug themselves back into the packet."),
    ("The train doors closed just as Ruth reached the platform.", "She",
     "waited for the next one.", "pushed the train to make it stop.",
     "boarded the train that had already left.", "bought a ticket for yesterday's train."),
    ("The teacher wrote a long maths problem on the board and asked the class to solve it.", "The students",
     "copied it into their notebooks and started working.", "went home for the summer.",
     "solved it by singing loudly.", "handed in their answers before reading it."),
    ("Olivia spilled red wine on her white shirt at dinner.", "She",
     "dabbed the stain with cold water.", "poured more wine on it to hide the stain.",
     "was pleased that the shirt was now cleaner.", "ironed the stain to remove it."),
    ("It snowed all night, and in the morning the road outside was covered in ice.", "Drivers",
     "went slowly and kept their distance.", "drove faster to get off the ice quickly.",
     "opened their sunroofs to enjoy the heat.", "took off their tyres to get better grip."),
    ("Noah's new shoes were a size too small.", "After walking all day, his feet",
     "were sore and covered in blisters.", "felt rested and comfortable.", "had grown into the shoes.",
     "were a size too big."),
    ("The cinema lights dimmed and the film began.", "The audience",
     "grew quiet and watched the screen.", "turned on all the lights to see the screen better.",
     "started clapping for the end credits.", "put on their coats to go home."),
    ("Hannah's coffee was too hot to drink.", "She",
     "let it cool for a few minutes.", "put it in the microwave for a minute.",
     "drank it all in one gulp to cool down.", "added boiling water to make it cooler."),
    ("The smoke alarm went off while Dev was frying onions.", "He",
     "opened a window and waved a towel under the alarm.", "turned the heat up so the alarm would stop.",
     "sat down to read because the alarm meant dinner was ready.", "sprayed the alarm with cooking oil."),
    ("A stranger on the bus asked Emma what time it was.", "She",
     "checked her watch and told him.", "gave him her watch to keep.", "told him it was Tuesday.",
     "told him the name of the bus driver."),
    ("The paint on the fence was still wet, and a sign said not to touch it.", "The boy",
     "walked past without touching it.", "leaned on it to keep his jacket clean.",
     "painted the sign instead of the fence.", "put his hand on it to dry it faster."),
    ("The library was silent because students were studying for exams.", "When his phone rang, Omar",
     "answered it quietly in the corridor outside.", "put it on speaker so everyone could hear.",
     "turned up the volume so he would not miss it.", "shouted that he was busy studying."),
    ("The cake came out of the oven burnt black on top.", "The baker",
     "threw it away and started again.", "put it back in the oven so the burn would go away.",
     "won first prize for the best-looking cake.", "added more sugar to make the burnt top white again."),
    ("A bee flew in through the open window and buzzed around the kitchen.", "Lucy",
     "opened the window wider so it could fly out.", "closed the window so it could find its way out.",
     "offered it a cup of tea.", "asked it politely to stop making noise."),
    ("The hiker reached the top of the mountain after five hours of climbing.", "She",
     "sat down to rest and enjoy the view.", "started climbing up the mountain.",
     "felt rested after being in bed all day.", "took the lift back up to the top."),
    ("The laundry had been hanging outside all afternoon in the warm sun and wind.", "By evening, the clothes",
     "were dry.", "were wetter than when they were washed.", "had shrunk to the size of dolls' clothes.",
     "had folded themselves."),
    ("Mr Chen's car made a loud grinding noise whenever he braked.", "He",
     "took it to a mechanic.", "braked harder to make the noise stop.",
     "filled the brakes with orange juice.", "painted the car to fix the brakes."),
    ("Two friends were arguing over the last slice of pizza.", "To settle it, they",
     "cut the slice in half.", "ordered a pizza for yesterday.", "each ate the whole slice.",
     "gave the slice to the pizza box."),
    ("The river had risen after a week of heavy rain.", "The town council",
     "piled sandbags along the bank.", "opened the gates to let more water into town.",
     "held a swimming race in the main street.", "asked people to water their gardens more."),
    ("Aisha's plant had yellow leaves and dry soil because she had been away for two weeks.", "She",
     "watered it as soon as she got home.", "put it in a dark cupboard to recover.",
     "gave it a cup of hot coffee.", "painted the leaves green."),
    ("The queue at the post office stretched out of the door.", "Peter",
     "joined the end of the line and waited.", "was served at once because nobody was there.",
     "sent his parcel by shouting the address.", "walked to the front and was thanked for it."),
    ("Nina's alarm did not go off, and she woke up twenty minutes before her interview.", "She",
     "got dressed quickly and rushed out.", "made a big breakfast and read the paper.",
     "went back to sleep to feel fresh for it.", "arrived an hour early."),
    ("The little boy dropped his ice cream on the pavement.", "He",
     "started to cry.", "laughed because now he had two ice creams.", "bought the pavement a new cone.",
     "was happy to have a full cone."),
    ("The football team was losing by one goal with a minute left to play.", "The coach",
     "told the players to push forward and attack.", "told the players to slow down and enjoy the win.",
     "went home to beat the traffic.", "asked the referee to give the other team another goal."),
    # validation (10)
    ("Max's glasses fogged up when he came in from the cold.", "He",
     "took them off and wiped them.", "put on a second pair over them.",
     "went back outside to warm them up.", "read the menu more clearly than ever."),
    ("The printer ran out of paper in the middle of a long report.", "Jenny",
     "put a new stack of paper in the tray.", "sent the report to print again and again.",
     "filled the tray with ink.", "unplugged the computer to save paper."),
    ("A bird had built a nest in the gutter above the front door.", "The family",
     "waited until the chicks had left before cleaning the gutter.", "moved the front door to the back of the house.",
     "asked the bird to pay rent.", "flooded the gutter to give the chicks a bath."),
    ("The swimming pool was closed for cleaning, and the sign said it would reopen on Monday.", "Leo",
     "came back on Monday for his swim.", "swam in the empty pool anyway.",
     "waited at the door until Saturday.", "cleaned the pool with his swimming goggles."),
    ("Zoe was cutting vegetables and nicked her finger with the knife.", "She",
     "rinsed the cut and put on a plaster.", "sprinkled salt on the cut to heal it.",
     "put a plaster on the knife.", "held the finger over the stove to dry it."),
    ("The museum guide said photos were allowed but flash was not.", "The visitors",
     "turned off the flash on their cameras.", "took flash photos of every painting.",
     "left their cameras at home to take pictures.", "asked the paintings to smile."),
    ("Ethan ordered a book online, and the delivery was due on Friday.", "On Friday afternoon, he",
     "heard the doorbell and found a parcel on the step.", "returned the book to the shop before it came.",
     "read the book while waiting for it to arrive.", "ordered the book again on Thursday."),
    ("Rosa added too much salt to the soup.", "To fix it, she",
     "added more water and vegetables.", "added another spoon of salt.", "boiled it until it was saltier.",
     "put it in the freezer to make it less salty."),
    ("The concert tickets went on sale at nine o'clock, and the band was very popular.", "By ten past nine,",
     "all the tickets were sold out.", "nobody had heard of the band.", "the band had played the whole concert.",
     "the tickets had all been returned unused."),
    ("A waiter carried a tray of full glasses across the crowded room.", "He",
     "walked slowly so that nothing spilled.", "ran and jumped over the tables.",
     "turned the tray upside down to hold it better.", "threw the glasses to the guests."),
    # test (10)
    ("Kim wanted to learn to play the guitar.", "She",
     "signed up for lessons and practised every evening.", "bought a piano and never played it.",
     "read about guitars once and played a concert the next day.", "learned by watching people play football."),
    ("The phone screen was cracked after Felix dropped it on the stairs.", "He",
     "took it to a repair shop.", "dropped it again to fix the crack.", "put it in rice to fix the glass.",
     "was glad the screen was clear and unbroken."),
    ("The bus driver saw an old man running toward the stop.", "She",
     "waited a moment with the doors open.", "drove off faster so he could catch it.",
     "asked him to run to the next stop instead.", "lay down on the road to rest."),
    ("Two children were building a sandcastle near the water.", "When a big wave came in, it",
     "washed part of the castle away.", "made the castle twice as tall.", "dried the sand around the castle.",
     "carried the castle up the beach in one piece."),
    ("Ahmed heard that his best friend had been in hospital for a week.", "He",
     "went to visit him and brought some fruit.", "sent him a bill for the visit.",
     "asked him to help move a sofa that afternoon.", "was upset that his friend had missed his party."),
    ("The soup on the stove was boiling over, and foam was spilling onto the hob.", "Clara",
     "turned down the heat and stirred it.", "turned the heat up to stop the foam.",
     "put the lid on tight and left the house.", "added more foam."),
    ("The old ladder creaked, and one of its steps was cracked.", "Before climbing it, Victor",
     "found a sturdier ladder to use instead.", "jumped on the cracked step to test it.",
     "painted over the crack so it would hold.", "took off his shoes to make it stronger."),
    ("The cat knocked a cup of water off the table.", "The water",
     "spread across the floor.", "flew back up into the cup.", "stayed in the air above the table.",
     "made the floor dry."),
    ("It was the first warm day of spring, and the park was full of people.", "Many of them",
     "were sitting on the grass in the sun.", "were wearing thick winter coats and scarves.",
     "were shovelling snow from the paths.", "were waiting for the sun to rise at noon."),
    ("Julia's flight was delayed by three hours.", "At the airport, she",
     "found a seat near the gate and read a book.", "arrived at her destination three hours early.",
     "boarded the plane that had already left.", "flew home on her own."),
]

SPLITS = (("train", 40), ("validation", 10), ("test", 10))
SWAG_NAMES = {"train": "train.csv", "validation": "val.csv", "test": "test.csv"}
CODAH_NAMES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}

# Where the right ending goes, item by item: each block of four items uses every position once, so
# every block, and thus the 40 train items, is balanced; the blocks differ so the sequence has no
# short period a reader would notice.
LABEL_BLOCKS = ((2, 0, 3, 1), (1, 3, 0, 2), (3, 2, 1, 0), (0, 1, 2, 3), (1, 2, 0, 3))
LABEL_ORDER = [label for i in range(len(ITEMS) // 4) for label in LABEL_BLOCKS[i % len(LABEL_BLOCKS)]]

SWAG_HEADER = ["", "video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source",
               "ending0", "ending1", "ending2", "ending3", "label"]
CODAH_CATEGORY = "o"  # CODAH's "other"; the real set also has i, n, p, q, r


def examples() -> dict[str, list[dict]]:
    """Split name -> examples with the right ending placed at its label."""
    out: dict[str, list[dict]] = {}
    start = 0
    for split, n in SPLITS:
        rows = []
        for number in range(start, start + n):
            context, begin, right, *wrong = ITEMS[number]
            label = LABEL_ORDER[number]
            endings = wrong[:label] + [right] + wrong[label:]
            rows.append({"number": number + 1, "context": context, "start": begin,
                         "endings": endings, "label": label})
        out[split] = rows
        start += n
    return out


def check_items() -> None:
    assert len(ITEMS) == sum(n for _, n in SPLITS) == len(LABEL_ORDER), (len(ITEMS), len(LABEL_ORDER))
    contexts = Counter(item[0] for item in ITEMS)
    assert max(contexts.values()) == 1, [c for c, k in contexts.items() if k > 1]
    for item in ITEMS:
        assert len(item) == 6, item
        context, begin, *endings = item
        assert len(set(endings)) == 4, f"repeated ending in {context!r}"
        for text in item:
            assert text == text.strip() and "  " not in text, repr(text)
            assert not any(c in text for c in '\t\n\r"'), repr(text)  # CODAH is read with QUOTE_NONE
        assert context[-1] in ".!?", context
        assert begin and begin[0].isupper(), begin
        assert all(e[0].islower() and e[-1] == "." for e in endings), endings


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def swag_text(rows: list[dict], with_label: bool) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")  # QUOTE_MINIMAL: fields with a comma are quoted
    writer.writerow(SWAG_HEADER if with_label else SWAG_HEADER[:-1])
    for index, row in enumerate(rows):
        line = [index, f"sample-{row['number']:04d}", row["number"], f"{row['context']} {row['start']}",
                row["context"], row["start"], "gold", *row["endings"]]
        writer.writerow(line + [row["label"]] if with_label else line)
    return buf.getvalue()


def codah_text(rows: list[dict]) -> str:
    return "".join("\t".join([CODAH_CATEGORY, f"{row['context']} {row['start']}", *row["endings"],
                              str(row["label"])]) + "\n" for row in rows)


def check_files(splits: dict[str, list[dict]]) -> list[tuple[str, int, Counter]]:
    """Read every file back the way the toolkit reads it; return (file, rows, labels) for the summary."""
    summary = []
    for split, rows in splits.items():
        path = HERE / "swag" / SWAG_NAMES[split]
        with path.open(newline="", encoding="utf-8") as f:
            read = list(csv.DictReader(f))
        columns = SWAG_HEADER if split != "test" else SWAG_HEADER[:-1]
        assert len(read) == len(rows), path
        labels: Counter = Counter()
        for i, (got, row) in enumerate(zip(read, rows)):
            assert list(got) == columns and None not in got.values(), (path, i)
            assert got[""] == str(i) and got["startphrase"] == f"{got['sent1']} {got['sent2']}", (path, i)
            assert [got[f"ending{k}"] for k in range(4)] == row["endings"], (path, i)
            if "label" in got:
                assert got["label"] in ("0", "1", "2", "3"), (path, i)
                labels[got["label"]] += 1
        summary.append((f"swag/{SWAG_NAMES[split]}", len(read), labels))

        path = HERE / "codah" / "fold_0" / CODAH_NAMES[split]
        with path.open(newline="", encoding="utf-8") as f:
            read = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE, strict=True))
        assert len(read) == len(rows) and all(len(r) == 7 for r in read), path
        assert all(r[6] in ("0", "1", "2", "3") and r[2:6] == row["endings"] for r, row in zip(read, rows)), path
        summary.append((f"codah/fold_0/{CODAH_NAMES[split]}", len(read), Counter(r[6] for r in read)))
    train_labels = Counter(row["label"] for row in splits["train"])
    assert len(set(train_labels.values())) == 1, train_labels
    return summary


def main() -> None:
    check_items()
    splits = examples()
    for split, rows in splits.items():
        write(HERE / "swag" / SWAG_NAMES[split], swag_text(rows, with_label=split != "test"))
        write(HERE / "codah" / "fold_0" / CODAH_NAMES[split], codah_text(rows))
    for name, n, labels in check_files(splits):
        spread = ", ".join(f"{k}: {labels[k]}" for k in "0123") if labels else "no labels"
        print(f"{name:26} {n:3} rows   {spread}")


if __name__ == "__main__":
    main()
