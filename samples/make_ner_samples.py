"""Write the NER sample files (CoNLL-2003, WNUT-17 and Resume NER layouts) and check them.

    python samples/make_ner_samples.py

Writes nine files, in the layouts of the real data sets, so that the same reader reads both:

    samples/conll2003/train.txt, valid.txt, test.txt                        word POS chunk NER (IOB2)
    samples/wnut17/wnut17train.conll, emerging.dev.conll, emerging.test.annotated   token<TAB>tag (BIO)
    samples/resume_ner/train.char.bmes, dev.char.bmes, test.char.bmes       char tag (BMES)

All text below was written for this project (released with it under the Apache License 2.0); no
sentence was taken from CoNLL-2003, WNUT-17, the Resume NER corpus or any other source. The people,
most companies, clubs, films and songs, and places such as Harbourne are invented. The files exist
only so that the NER configs run offline; scores on them mean nothing.

Entities are marked inline as ``[TYPE words]`` (``[TYPE 字符]`` for Resume NER); the tags are derived
from the marks, never typed by hand. In the CoNLL-2003 text a token can carry its part of speech as
``word/TAG`` where the lexicon below would get it wrong; otherwise the POS tag comes from LEXICON (or is
NNP for a capitalised word inside an entity, CD for a number) and the chunk tag from a few rules over
the POS tags (see ``chunk_tags``). These POS and chunk columns are plausible and well formed, not the
output of a trained tagger: use them for format tests only.

Deterministic: no randomness; running the script twice writes identical bytes.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------------------------------
# CoNLL-2003: documents of sentences. The first sentence of a news document is its headline, the second
# its dateline, as in the real files.
# ---------------------------------------------------------------------------------------------------

CONLL_TRAIN = [
    [  # football
        "SOCCER - [ORG HARBOURNE ROVERS] HOLD [ORG KESTREL TOWN] TO 1-1 DRAW .",
        "[LOC HARBOURNE] , [LOC England] 2024-03-09",
        "[ORG Harbourne Rovers] came from behind to draw 1-1 with [ORG Kestrel Town] in the [MISC Northern League] "
        "on Saturday .",
        "[MISC Welsh] striker [PER Owen Pritchard] put the visitors ahead after 12 minutes with a low shot from the "
        "edge of the area .",
        "[PER Tomas Lindqvist] , who joined from [ORG Malmo Athletic] in January , headed the equaliser ten "
        "minutes from time .",
        "\" We were poor in the first half but the players never gave up , \" [ORG Rovers] manager "
        "[PER Gail Hendry] told reporters .",
        "The result leaves [ORG Kestrel] third in the table , four points behind leaders [ORG Port Ellery] .",
        "[ORG Port Ellery] play away to [ORG Dunmore City] on Wednesday .",
        "[MISC Northern League] results on Saturday :",
        "[ORG Harbourne Rovers] 1 [ORG Kestrel Town] 1",
        "[ORG Dunmore City] 3 [ORG Ashby United] 0",
        "[ORG Port Ellery] 2 [ORG Castlebridge] 2",
        "[ORG Wexley Wanderers] 0 [ORG St Brennan 's] 1",
        "Leading scorers : 11 - [PER Owen Pritchard] ( [ORG Kestrel Town] ) ; 9 - [PER Rafael Osorio] "
        "( [ORG Port Ellery] ) .",
        "[PER Osorio] , a [MISC Brazilian] midfielder , has scored in each of his last four games .",
    ],
    [  # politics
        "[ORG EU] MINISTERS AGREE NEW FISHING RULES FOR [LOC NORTH SEA]",
        "[LOC BRUSSELS] 2024-04-17",
        "Fisheries ministers of the [ORG European Union] agreed on Wednesday to cut catches of cod in the "
        "[LOC North Sea] by a fifth next year .",
        "The deal was reached after talks that/WDT lasted through the night , a spokeswoman for the "
        "[ORG European Commission] said .",
        "[MISC Danish] minister [PER Karen Holmgaard] said the cuts were painful but necessary to protect stocks .",
        "[LOC Spain] and [LOC Portugal] voted against the plan , saying it would cost thousands of jobs in their "
        "fishing ports .",
        "Scientists at the [ORG International Council for the Exploration of the Sea] had called for deeper cuts .",
        "\" This is a compromise that/WDT nobody likes , \" said [PER Henrik Vos] , a [MISC Dutch] member of the "
        "[ORG European Parliament] .",
        "The new quotas take effect on January 1 .",
        "Environmental groups including [ORG Blue Tide] criticised the decision .",
        "[PER Holmgaard] said ministers would review the quotas in [LOC Luxembourg] in June .",
        "Fishermen protested outside the council building in [LOC Brussels] on Tuesday , blocking traffic for "
        "several hours .",
        "Police said the protest was peaceful .",
        "The [ORG Commission] will publish a report on [MISC European] fish stocks in the autumn .",
        "-- [ORG Harbourne Newsdesk] , 44 20 555 0199",
    ],
    [  # business
        "[ORG NORDVIK] SHARES RISE AFTER STRONG RESULTS",
        "[LOC OSLO] 2024-05-02",
        "Shares in [MISC Norwegian] shipping group [ORG Nordvik Lines] rose 6 percent on Thursday after the company "
        "reported higher profits for the first quarter .",
        "[ORG Nordvik] said net profit rose to 412 million crowns from 298 million a year earlier .",
        "Chief executive [PER Ingrid Solberg] said demand on routes between [LOC Asia] and [LOC Europe] had stayed "
        "strong .",
        "Analysts at [ORG Fjordbank Securities] raised their target price for the stock to 180 crowns .",
        "The company plans to order four new ships from a yard in [LOC South Korea] .",
        "[ORG Nordvik] is listed on the [ORG Oslo Stock Exchange] and employs about 3,000 people .",
        "Its largest shareholder is the [PER Berg] family , which owns 34 percent .",
        "[PER Solberg] said the company would keep its dividend unchanged .",
        "Rival [ORG Sea Arrow] will report/VB its results next week .",
        "Trading in [ORG Nordvik] shares was heavy , with 2.1 million shares changing hands .",
        "( $ 1 = 10.65 [MISC Norwegian] crowns )",
        "-- [PER Lars Eide] , [LOC Oslo] newsroom",
    ],
    [  # culture
        "FILM - [MISC GOLDEN HARBOUR] PRIZE GOES TO [MISC MEXICAN] DRAMA",
        "[LOC LISBON] 2024-09-07",
        "[MISC Mexican] director [PER Lucia Arvizu] won the [MISC Golden Harbour] for best film at the "
        "[MISC Lisbon Film Festival] on Saturday .",
        "Her film [MISC The Salt Road] follows two sisters who leave [LOC Oaxaca] to look for their father in "
        "[LOC Los Angeles] .",
        "The jury was led by [MISC French] actress [PER Claire Dumas] .",
        "[MISC Korean] actor [PER Seo Ha-jin] was named best actor for his role in [MISC Night Market] .",
        "The festival , which is paid for by the city and by [ORG Banco Atlantico] , showed 64 films this year .",
        "[PER Arvizu] thanked her crew and said she hoped the prize would help the film find a distributor in "
        "[LOC Europe] .",
    ],
    [  # tennis results
        "TENNIS - RESULTS OF [MISC HARBOURNE OPEN]",
        "[LOC HARBOURNE] , [LOC England] 2024-06-12",
        "Results of second round matches at the [MISC Harbourne Open] on Wednesday ( prefix number denotes "
        "seeding ) :",
        "1 - [PER Marta Kowal] ( [LOC Poland] ) beat [PER Jessie Lund] ( [LOC Australia] ) 6-3 6-4",
        "[PER Nadia Ferreira] ( [LOC Brazil] ) beat 4 - [PER Eva Marsh] ( [LOC Britain] ) 7-5 2-6 6-3",
        "[PER Yuki Tanabe] ( [LOC Japan] ) beat [PER Sofia Reyes] ( [LOC Argentina] ) 6-2 6-1",
        "2 - [PER Hanne Brekke] ( [LOC Norway] ) beat [PER Amy Cole] ( [LOC United States] ) 6-4 7-6 ( 7-4 )",
        "[PER Kowal] will play [PER Ferreira] in the quarter-finals on Friday .",
    ],
]

CONLL_VALID = [
    [  # rugby
        "RUGBY UNION - [ORG CASTLEBRIDGE] SIGN [MISC SAMOAN] FORWARD",
        "[LOC CASTLEBRIDGE] , [LOC England] 2024-07-19",
        "[ORG Castlebridge] have signed [MISC Samoan] forward [PER Peni Falaniko] on a two-year contract , the club "
        "said on Friday .",
        "[PER Falaniko] , 27 , played 14 times for [LOC Samoa] , including at the [MISC Rugby World Cup] , and spent "
        "the last three seasons with [ORG Auckland Harbour] in [LOC New Zealand] .",
        "\" He is a strong ball carrier and a good leader , \" coach [PER Martin Greaves] said .",
        "[ORG Castlebridge] finished sixth in the [MISC Premiership] last season .",
        "They open the new season at home to [ORG Ravensholm] on September 7 .",
        "The club also confirmed that/IN [MISC Irish] scrum-half [PER Declan Moran] has retired .",
        "[PER Moran] , 34 , won two league titles with the club .",
    ],
    [  # science
        "[LOC CHILE] OPENS NEW OBSERVATORY IN [LOC ATACAMA DESERT]",
        "[LOC SANTIAGO] 2024-10-03",
        "[LOC Chile] opened a new observatory in the [LOC Atacama Desert] on Thursday , the government said .",
        "The telescope was built by the [ORG Andes Sky Consortium] , a group of nine universities .",
        "Science minister [PER Elena Cordero] said the project would make [LOC Chile] a world centre for "
        "astronomy .",
        "[MISC Chilean] and [MISC German] engineers worked on the site for six years .",
        "The observatory sits 2,600 metres above sea level , where the air is dry and the sky is clear on most "
        "nights .",
        "Astronomers from the [ORG European Southern Observatory] attended the opening .",
        "The first images will be shown to the public in [LOC Santiago] next month .",
        "The telescope cost about $ 180 million .",
        "[PER Cordero] said [LOC Chile] would also train young astronomers at a new school in [LOC Antofagasta] .",
    ],
]

CONLL_TEST = [
    [  # athletics
        "ATHLETICS - [PER OKAFOR] WINS 10,000 METRES IN [LOC ROME]",
        "[LOC ROME] 2024-06-01",
        "[MISC Nigerian] runner [PER Chidi Okafor] won the men 's 10,000 metres at the [MISC Via Appia Games] on "
        "Friday .",
        "[PER Okafor] finished in 27:14.50 , ahead of [MISC Kenyan] [PER Daniel Kiprono] and [MISC Ethiopian] "
        "[PER Abebe Tesfaye] .",
        "\" The pace was slow at the start so I waited for the last lap , \" he said .",
        "In the women 's 1,500 metres , [PER Anna Lindgren] of [LOC Sweden] set a meeting record .",
        "[PER Lindgren] , who trains in [LOC St Moritz] , said she was ready for the "
        "[MISC European Championships] in August .",
        "The meeting was organised by the [ORG Italian Athletics Federation] .",
        "About 40,000 people watched at the [LOC Olympic Stadium] .",
        "[PER Okafor] will run next/RB in [LOC Paris] on June 20 .",
    ],
    [  # industry
        "[ORG BRIGHTWAVE] TO BUILD FACTORY IN [LOC POLAND]",
        "[LOC WARSAW] 2024-11-20",
        "[MISC Swedish] battery maker [ORG Brightwave Energy] will build a factory near [LOC Wroclaw] , the company "
        "said on Wednesday .",
        "The plant will cost 2 billion euros and create about 1,500 jobs when it opens in 2027 .",
        "[MISC Polish] development minister [PER Tomasz Zielinski] welcomed the decision .",
        "[ORG Brightwave] chose [LOC Poland] over sites in [LOC Hungary] and the [LOC Czech Republic] .",
        "The company supplies batteries to car makers including [ORG Volta Motors] .",
        "Its founder , [PER Erik Sandberg] , said the [ORG European Union] wanted more batteries to be made in "
        "[LOC Europe] .",
        "Shares in [ORG Brightwave] rose 3 percent in [LOC Stockholm] .",
        "Construction will begin next spring .",
    ],
]

# Part-of-speech lexicon for the CoNLL-2003 text. A word is looked up as written, then in lower case, so
# the headlines in capitals and the capitalised first words of sentences find their entry; "DRAW" (the
# noun, in a headline) is listed apart from "draw" (the verb). Each word has one entry: a word used with
# another tag somewhere is written word/TAG there. Two context rules follow the lookup (see
# ``fix_verbs``): a verb after a modal or after "to" is VB, and a past tense after a form of "be" or
# "have" is VBN.
LEXICON_TEXT = """
DT: the a an this all another each
IN: about above after against at behind between by for from in near of on outside over so through with
TO: to
CC: and but
PRP: I he it she they we
PRP$: her his its their
POS: 's
MD: will would
WP: who
WDT: which
WRB: when where
RB: ahead also away earlier never
RP: up
JJ: chief environmental first good heavy last leading low necessary net new next painful peaceful poor \
    ready rival second several sixth slow strong third two-year unchanged young dry clear
JJR: deeper higher more
JJS: best largest most
VB: be begin build create cut draw find help keep look make order protect publish review run train
VBD: agreed attended beat built called came chose confirmed cost criticised finished gave had headed hoped \
     joined lasted led named opened organised played protested put raised reached reported retired rose \
     said scored set showed signed spent stayed thanked told voted waited wanted was watched welcomed were \
     won worked
VBN: been listed made paid shown
VBG: blocking changing including saying
VBZ: denotes employs follows goes has is leaves likes opens owns plans sits supplies trains wins
VBP: agree have hold leave open play rise sign take
NN: actor actress air area astronomy athletics autumn ball battery building car carrier centre city club \
    coach cod company compromise construction contract council crew deal decision demand development \
    director distributor dividend DRAW drama edge effect equaliser executive factory family father festival \
    fifth film fish fishing founder forward government group half home jury lap leader league level maker \
    manager meeting member midfielder minister month newsroom night nobody number observatory opening pace \
    percent plan plant prefix price prize profit project protest public quarter record report result role \
    round rugby runner school science scrum-half sea season seeding shareholder shipping shot site sky soccer \
    spokeswoman spring start stock striker table target telescope tennis time trading traffic union week \
    world yard year
NNS: analysts astronomers batteries catches crowns cuts engineers euros films fisheries fishermen games \
     groups hands hours images jobs leaders makers matches men metres ministers minutes nights people \
     players points police ports profits quarter-finals quotas reporters results routes rules scientists \
     scorers seasons shares ships sisters sites stocks talks thousands times titles universities visitors \
     women years
NNP: Monday Tuesday Wednesday Thursday Friday Saturday Sunday January June August September
CD: one two three four six nine ten million billion
""".strip()

PENN_TAGS = {
    "CC", "CD", "DT", "EX", "FW", "IN", "JJ", "JJR", "JJS", "LS", "MD", "NN", "NNS", "NNP", "NNPS", "PDT", "POS",
    "PRP", "PRP$", "RB", "RBR", "RBS", "RP", "SYM", "TO", "UH", "VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "WDT",
    "WP", "WP$", "WRB", "$", "''", "``", '"', "(", ")", ",", ".", ":",
}
PUNCT_POS = {".": ".", ",": ",", ":": ":", ";": ":", "-": ":", "--": ":", "(": "(", ")": ")", '"': '"', "$": "$",
             "=": "SYM"}
NNPS_WORDS = {"Rovers", "Wanderers", "Games", "Championships", "Lines", "Securities", "Motors", "ROVERS"}
NATIONALITY_JJ = {
    "Welsh", "Brazilian", "Danish", "Dutch", "European", "Norwegian", "Mexican", "MEXICAN", "French", "Korean",
    "Samoan", "SAMOAN", "Irish", "Chilean", "German", "Nigerian", "Kenyan", "Ethiopian", "Swedish", "Polish",
}
NUMBER = re.compile(r"[0-9][0-9,.:\-]*")


def _lexicon() -> dict[str, str]:
    lex: dict[str, str] = {}
    for line in LEXICON_TEXT.replace("\\\n", " ").splitlines():
        tag, words = line.split(":", 1)
        assert tag in PENN_TAGS, tag
        for word in words.split():
            assert word not in lex, f"{word!r} listed twice"
            lex[word] = tag
    return lex


LEXICON = _lexicon()

# ---------------------------------------------------------------------------------------------------
# WNUT-17: tweet-like sentences (lower case, @user, #hashtags, no emoji). "@names" are never entities.
# ---------------------------------------------------------------------------------------------------

WNUT_TRAIN = [
    "@jess_rides just landed in [location new york] and it is freezing",
    "watching [creative-work the night garden] again because my little sister wont let me change the channel",
    "my [product galaxy s9] screen cracked after one drop #fml",
    "[corporation starbucks] spelled my name wrong again . it 's ellie not ollie",
    "cannot believe [person marcus webb] scored twice tonight ! what a player",
    "[group the lumen kids] are playing a free show in [location brighton] on friday",
    "anyone know if [corporation greyline buses] are running today ? stuck at the station",
    "new [product nintendo switch] game came out and i have not slept",
    "happy birthday to my bro [person danny] ! have a good one",
    "just finished reading [creative-work the glass orchard] and i am not ok",
    "rt @citynewsdesk : road closed near [location king street] after a water main burst",
    "[group red valley fc] fans are so loud in the pub right now lol",
    "who else is going to [location camden market] this weekend ?",
    "lol my mum just discovered [product snapchat] filters",
    "[person nina hollis] new song is on repeat all day #obsessed",
    "[corporation amazon] delivered my parcel to the wrong house again",
    "so proud of my cousin [person aaliyah] for graduating today",
    "the queue for the [creative-work stranger ways] premiere is insane #bingewatch",
    "@tomfromwork are you coming to [location the red lion] later ?",
    "[group the hollow saints] just announced a world tour !!!",
    "my [product macbook air] keeps freezing , any tips ?",
    "[corporation skyline air] lost my bag again . third time this year",
    "rainy day in [location seattle] , perfect for coffee and a book",
    "listening to [creative-work blue hours] by [person maya ortiz] on repeat",
    "[person jamie] and [person rob] got lost on the way to [location lake tahoe] lol",
    "[corporation netflix] please bring back my favourite show",
    "wearing my new [product air max 90] to work , feel like a king",
    "#nowplaying [creative-work midnight in the harbour] - [group the ferrymen]",
    "big congrats to [group the eastside eagles] on winning the league !",
    "traffic on [location i-95] is a nightmare right now",
    "my dad still uses a [product blackberry] in 2024 , legend",
    "[corporation tesco] has run out of bread again , what is happening",
    "cant wait for [creative-work guardians of the deep] to come out next month",
    "@mia_loves_tea omg did [person chris] really say that on live tv ??",
    "greetings from [location lisbon] ! the food here is amazing",
    "[group greenpeace] volunteers cleaning up the beach this morning , respect",
    "who needs sleep when you have a [product ps5]",
    "just got my first [product kindle] and i love it",
    "[person grandma rose] just learned how to send a voice note lol",
    "[product google maps] sent me down a dirt road for 20 minutes",
    "[group harbour city choir] sounded amazing tonight",
    "[location central park] is so pretty in the snow",
    "[corporation uber] driver played jazz the whole way home , 5 stars",
    "finally watched [creative-work the last lighthouse] , why did nobody warn me about the ending",
    "[person aunt sofia] made her famous lasagne tonight #blessed",
    "heading to [location manchester] for the weekend , any food tips ?",
    "rt @techbyte : [corporation nova mobile] announces the [product nova x2] , out in june",
    "[group westbrook rovers] won 3-0 tonight , what a game",
    "[product fitbit] says i walked 20k steps today , my feet agree",
    "my brother thinks [creative-work space cadets] is the best film ever made and i cannot argue",
    "[person leo] just told me he is moving to [location tokyo] next year !!",
    "does anyone have a spare charger for a [product pixel 7] ?",
    "[corporation ikea] trip turned into a 4 hour adventure",
    "[group the night owls] crew , meet at the usual place at 8",
    "sunset over [location lake geneva] tonight was something else",
    "[person ameena shah] gave the best talk at the library today",
    "reading [creative-work a year of small things] on the bus , highly recommend",
    "[corporation spotify] wrapped says i listened to the same album 300 times",
    "just saw [group the paper boats] live in [location glasgow] , what a night",
    "#mondaymotivation coffee first , then world domination",
]

WNUT_DEV = [
    "@kev_runs see you at the [location harbour bridge] at 6 for the run",
    "[person olivia grant] just won best actress , so deserved",
    "[corporation pizza palace] is open late tonight , sorted",
    "my [product apple watch] thinks i am asleep when i am watching tv lol",
    "[creative-work the river kings] finale made me cry on the train",
    "[group the copper bells] are back with a new album #newmusic",
    "snow in [location vancouver] again ? it is april",
    "shoutout to [person mrs patel] , best teacher ever",
    "[corporation northsea airways] cancelled my flight , now what",
    "anyone tried the new [product xbox series s] ? worth it ?",
    "[group harlow city fc] need a new manager asap",
    "finished [creative-work lanterns at dawn] in one sitting",
    "weekend trip to [location the lake district] , no signal , bliss",
    "[person sam] and [person priya] are getting married !!!",
    "[corporation greenleaf pharmacy] closed early again",
    "loving my new [product kindle paperwhite]",
    "[group the river otters] won again , unbeaten in 10",
    "#tbt to that summer in [location barcelona]",
    "[person nana joy] turns 90 today , send her some love",
    "who is watching [creative-work cooking with ruth] tonight ?",
]

WNUT_TEST = [
    "[location dublin] airport is packed today , allow extra time",
    "[person ruby chen] posted the cutest puppy video",
    "[corporation bluebird bank] app is down again #help",
    "got a [product samsung galaxy watch] for my birthday",
    "[creative-work house of paper moons] is the best show this year",
    "[group the salt sisters] sound even better live",
    "walking the dog in [location hyde park] , perfect morning",
    "[person tom] forgot his keys again , classic",
    "[corporation metro rail] strike tomorrow , working from home",
    "my old [product ipod classic] still works !!",
    "[group eastfield united] fans celebrating in the street right now",
    "anyone seen [creative-work the quiet field] yet ? no spoilers pls",
    "moving to [location san diego] next month , any tips ?",
    "[person jordan blake] just signed for a new club",
    "[corporation sunny foods] recalled their cereal ? wow",
    "the [product kindle] battery lasts forever",
    "[group st marys choir] carols tonight at 7",
    "rt @weatherwatch : storm warning for [location north wales] tonight",
    "[person auntie meg] sent me a 5 minute voice note",
    "#nowreading [creative-work salt and thunder] by [person ines moreau]",
]

# In the real wnut17train.conll the lines between the first 2,394 sentences hold a single TAB ("\t"),
# the later ones are empty; dev and test use empty lines only. The sample train file does the same
# for its first WNUT_TRAIN_TAB_SEPARATORS sentences, so a reader must treat a whitespace-only line as a
# sentence break, as it must for the real file.
WNUT_TRAIN_TAB_SEPARATORS = 42

# ---------------------------------------------------------------------------------------------------
# Resume NER: Chinese résumé sentences, one character per line. Everyone and every company, school and
# firm below is invented ("公司" alone refers to the listing company, as in prospectuses).
# ---------------------------------------------------------------------------------------------------

RESUME_TRAIN = [
    "[NAME 周明远]，男，1972年5月出生，[RACE 汉族]，[CONT 中国国籍]，无境外永久居留权，[EDU 本科学历]，[TITLE 高级工程师]。",
    "1994年毕业于[ORG 东湖理工学院][PRO 机械设计与制造]专业。",
    "1994年7月至2003年6月任[ORG 江城重型机械厂][TITLE 技术员]、[TITLE 车间主任]；",
    "2003年7月至今任[ORG 华信精密仪器股份有限公司][TITLE 副总经理]、[TITLE 总工程师]。",
    "[NAME 李]女士：1980年出生，[CONT 中国国籍]，[EDU 硕士研究生学历]，[TITLE 注册会计师]。",
    "曾任[ORG 南岭会计师事务所][TITLE 审计经理]，",
    "2012年加入[ORG 公司]，现任[ORG 公司][TITLE 财务总监]、[TITLE 董事会秘书]。",
    "[NAME 欧阳晓峰]，男，[LOC 浙江台州人]，1968年出生，[RACE 汉族]，[TITLE 中共党员]，[EDU 大专学历]，[TITLE 经济师]。",
    "历任[ORG 台州市第二纺织厂][TITLE 销售科长]、[TITLE 副厂长]，[ORG 海澄纺织集团有限公司][TITLE 总经理]；",
    "现任[ORG 海澄纺织集团有限公司][TITLE 董事长]，兼任[ORG 台州市纺织行业协会][TITLE 副会长]。",
    "[NAME 陈嘉欣]，女，1985年出生，[CONT 新加坡国籍]，[EDU 博士研究生学历]。",
    "2008年毕业于[ORG 滨海大学]，获[PRO 经济学][EDU 学士学位]；",
    "2013年获[ORG 北岸大学][PRO 金融学][EDU 博士学位]。",
    "2013年至2018年任[ORG 明德资本管理有限公司][TITLE 研究员]、[TITLE 投资总监]；",
    "2018年至今任[ORG 公司][TITLE 独立董事]。",
    "[NAME 马建国]，男，[RACE 回族]，1963年10月生，[CONT 中国国籍]，[EDU 大学本科学历]，[TITLE 教授级高级工程师]。",
    "1985年至1999年在[ORG 西部电力设计院]工作，历任[TITLE 工程师]、[TITLE 主任工程师]、[TITLE 副院长]；",
    "1999年至今任[ORG 宁川电力建设股份有限公司][TITLE 董事]、[TITLE 总经理]。",
    "[NAME 王]女士，1976年生，民族：[RACE 汉]，[CONT 中国籍]，[EDU 硕士学位]，[TITLE 高级经济师]。",
    "毕业于[ORG 江南财经学院][PRO 工商管理]专业，",
    "2001年3月至2009年12月任[ORG 远航物流有限公司][TITLE 人力资源部经理]；",
    "2010年1月至今任[ORG 公司][TITLE 副总裁]。",
    "[NAME 赵一鸣]，男，1990年出生，[CONT 中国国籍]，[EDU 本科]，[PRO 计算机科学与技术]专业。",
    "2012年7月至2016年5月任[ORG 星河网络科技有限公司][TITLE 软件工程师]；",
    "2016年6月至今任[ORG 云帆数据技术有限公司][TITLE 技术总监]。",
    "[NAME 张丽华]，女，[LOC 四川绵阳人]，1971年生，[RACE 汉族]，[EDU 研究生学历]，[TITLE 律师]。",
    "1993年毕业于[ORG 蜀山政法学院][PRO 法学]专业，",
    "曾任[ORG 锦城律师事务所][TITLE 合伙人]，",
    "现任[ORG 天府律师事务所][TITLE 主任]、[ORG 公司][TITLE 独立董事]。",
    "[NAME 彼得·林德]，男，1969年出生，[CONT 瑞典国籍]，[EDU 博士]，[TITLE 教授]。",
    "1998年至2010年任[ORG 北欧材料研究所][TITLE 研究员]；",
    "2010年起任[ORG 中瑞新材料有限公司][TITLE 首席科学家]。",
    "[NAME 刘晨]，男，1982年8月出生，[RACE 汉族]，[CONT 中国国籍]，[EDU 大专学历]，[TITLE 助理工程师]。",
    "2003年至2010年在[ORG 宏达汽车配件厂]任[TITLE 质检员]、[TITLE 质检组长]；",
    "2010年至今任[ORG 公司][TITLE 生产部经理]。",
    "[NAME 孙雅琴]，女，[RACE 满族]，1978年出生，[TITLE 中共党员]，[EDU 硕士研究生]，[PRO 会计学]专业，[TITLE 高级会计师]。",
    "曾任[ORG 北方钢铁集团有限公司][TITLE 财务部副部长]、[TITLE 审计部部长]，",
    "现任[ORG 公司][TITLE 监事会主席]。",
    "[NAME 黄志强]先生，1975年出生，[CONT 中国国籍]，[PRO 高级工商管理][EDU 硕士]，[TITLE 经济师]。",
    "2005年至今任[ORG 粤海电子科技股份有限公司][TITLE 董事长]兼[TITLE 总裁]。",
]

RESUME_DEV = [
    "[NAME 吴建平]，男，1966年出生，[RACE 汉族]，[CONT 中国国籍]，[EDU 大学本科学历]，[TITLE 高级经济师]。",
    "1988年毕业于[ORG 青川大学][PRO 经济管理]专业；",
    "历任[ORG 青川市第一建筑公司][TITLE 项目经理]、[TITLE 副总经理]；",
    "现任[ORG 青川城建集团有限公司][TITLE 董事长]、[TITLE 党委书记]。",
    "[NAME 杨]女士：1983年出生，[CONT 中国国籍]，[LOC 湖南岳阳人]，[EDU 硕士学位]。",
    "2008年至2015年任[ORG 潇湘证券股份有限公司][TITLE 分析师]；",
    "2015年至今任[ORG 公司][TITLE 投资者关系总监]。",
    "[NAME 古丽娜尔·艾力]，女，[RACE 维吾尔族]，1987年出生，[CONT 中国国籍]，[EDU 本科学历]，[PRO 国际贸易]专业。",
    "2010年至今就职于[ORG 天山农产品进出口有限公司]，现任[TITLE 销售总监]。",
    "[NAME 郑浩]，男，1979年出生，[CONT 中国国籍]，无境外永久居留权，[EDU 博士研究生学历]，[TITLE 研究员]。",
    "2006年毕业于[ORG 北岸大学][PRO 材料科学]专业，获[EDU 博士学位]；",
    "2006年至2014年在[ORG 国家新材料工程中心]从事研究工作；",
    "2014年至今任[ORG 公司][TITLE 首席技术官]。",
    "[NAME 高峰]，男，1970年生，[RACE 汉族]，[EDU 大专]，[TITLE 工程师]。",
    "现任[ORG 恒远建材有限公司][TITLE 总经理]。",
]

RESUME_TEST = [
    "[NAME 何静]，女，1974年10月出生，[RACE 汉族]，[CONT 中国国籍]，[TITLE 中共党员]，[EDU 研究生学历]，[TITLE 高级会计师]。",
    "1997年毕业于[ORG 江南财经学院][PRO 会计]专业，",
    "1997年至2006年任[ORG 华南纸业有限公司][TITLE 会计]、[TITLE 财务科长]；",
    "2006年至今任[ORG 公司][TITLE 财务总监]。",
    "[NAME 林]先生：1961年出生，[CONT 中国国籍]，[LOC 福建莆田人]，[EDU 大学学历]，[TITLE 高级工程师]。",
    "历任[ORG 闽江船舶修造厂][TITLE 技术科长]、[TITLE 总工程师]，",
    "现任[ORG 海峡船舶重工股份有限公司][TITLE 副董事长]。",
    "[NAME 罗桑次仁]，男，[RACE 藏族]，1981年出生，[CONT 中国国籍]，[EDU 本科学历]，[PRO 旅游管理]专业。",
    "2004年至今在[ORG 雪域文化旅游发展有限公司]工作，现任[TITLE 副总经理]。",
    "[NAME 安娜·米勒]，女，1977年出生，[CONT 德国国籍]，[EDU 硕士]，[TITLE 工程师]。",
    "2002年至2012年任[ORG 莱茵汽车技术有限公司][TITLE 项目经理]；",
    "2012年至今任[ORG 公司][TITLE 董事]、[TITLE 技术顾问]。",
    "[NAME 许文博]，男，1988年出生，[CONT 中国国籍]，[EDU 硕士研究生学历]，[PRO 软件工程]专业。",
    "2013年至2019年任[ORG 蓝海信息技术有限公司][TITLE 产品经理]；",
    "2019年至今任[ORG 公司][TITLE 总经理助理]。",
]

CONLL_TYPES = ("PER", "LOC", "ORG", "MISC")
WNUT_TYPES = ("person", "location", "corporation", "product", "creative-work", "group")
RESUME_TYPES = ("NAME", "ORG", "TITLE", "EDU", "CONT", "PRO", "RACE", "LOC")

MARK = re.compile(r"\[(\S+) ([^\[\]]+)\]")


def segments(text: str, types: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """Split marked text into (piece, entity type or None); entities are ``[TYPE text]``."""
    out: list[tuple[str, str | None]] = []
    pos = 0
    for m in MARK.finditer(text):
        out.append((text[pos:m.start()], None))
        assert m.group(1) in types, (m.group(1), text)
        out.append((m.group(2), m.group(1)))
        pos = m.end()
    out.append((text[pos:], None))
    assert not any(c in piece for piece, _ in out for c in "[]"), f"unbalanced mark in {text!r}"
    return out


def word_tokens(text: str, types: tuple[str, ...]) -> list[tuple[str, str]]:
    """Whitespace tokens of a marked sentence with IOB2 tags."""
    tokens = []
    for piece, typ in segments(text, types):
        words = piece.split()
        if typ is not None:
            assert words, text
        for i, word in enumerate(words):
            tokens.append((word, "O" if typ is None else ("B-" if i == 0 else "I-") + typ))
    assert tokens, text
    return tokens


def char_tokens(text: str) -> list[tuple[str, str]]:
    """Characters of a marked Chinese sentence with BMES tags."""
    tokens = []
    for piece, typ in segments(text, RESUME_TYPES):
        assert not any(c.isspace() for c in piece), text
        if typ is None:
            tokens += [(c, "O") for c in piece]
        elif len(piece) == 1:
            tokens.append((piece, "S-" + typ))
        else:
            tokens += [(c, ("B-" if i == 0 else "E-" if i == len(piece) - 1 else "M-") + typ)
                       for i, c in enumerate(piece)]
    assert tokens, text
    return tokens


def pos_tag(word: str, ner: str) -> str:
    if word in PUNCT_POS:
        return PUNCT_POS[word]
    if NUMBER.fullmatch(word):
        return "CD"
    if ner != "O":
        if word in NNPS_WORDS:
            return "NNPS"
        if ner.endswith("MISC") and word in NATIONALITY_JJ:
            return "JJ"
        if word[0].isupper():
            return "NNP"
    for key in (word, word.lower()):
        if key in LEXICON:
            return LEXICON[key]
    raise KeyError(f"no part of speech for {word!r}: add it to LEXICON_TEXT or write {word}/TAG")


NOMINAL = {"NN", "NNS", "NNP", "NNPS", "CD", "JJ", "JJS", "JJR", "$"}
VERBS = {"VB", "VBD", "VBG", "VBN", "VBP", "VBZ"}
BE_HAVE = {"be", "been", "is", "are", "was", "were", "has", "have", "had"}


def fix_verbs(words: list[str], pos: list[str], fixed: list[bool]) -> list[str]:
    """A verb after a modal or "to" is VB; a past tense after a form of "be" / "have" is VBN."""
    pos = list(pos)
    for i in range(1, len(pos)):
        if fixed[i] or pos[i] not in VERBS:
            continue
        j = i - 1
        while j > 0 and pos[j] == "RB":  # "would also train"
            j -= 1
        if pos[j] in {"MD", "TO"}:
            pos[i] = "VB"
        elif pos[i] == "VBD" and words[j].lower() in BE_HAVE:
            pos[i] = "VBN"
    return pos


def chunk_tags(pos: list[str], words: list[str]) -> list[str]:
    """IOB2 chunk tags (NP, VP, PP, ADVP, ADJP, SBAR, PRT) from a few rules over the POS tags."""
    tags: list[str] = []
    prev = None  # type of the previous chunk, None after a token outside any chunk
    for i, p in enumerate(pos):
        nxt = pos[i + 1] if i + 1 < len(pos) else None
        before = pos[i - 1] if i else None
        if p in {".", ",", ":", "(", ")", '"', "SYM", "CC"}:
            typ, new = None, True
        elif p in VERBS or p == "MD":
            typ, new = "VP", prev != "VP"
        elif p == "TO":
            typ, new = ("VP", prev != "VP") if nxt == "VB" else ("PP", True)
        elif p == "RB":
            typ, new = ("VP", False) if prev == "VP" and nxt in VERBS else ("ADVP", True)
        elif p == "WRB":
            typ, new = "ADVP", True
        elif p == "RP":
            typ, new = "PRT", True
        elif p == "IN":
            typ, new = ("SBAR", True) if words[i].lower() in {"that", "so"} else ("PP", True)
        elif p in {"JJ", "JJR", "JJS"} and nxt not in NOMINAL and (nxt != "CC" or prev == "VP"):
            # predicative: "were painful but necessary", "ready for"; not "Chilean and German engineers"
            typ, new = "ADJP", True
        else:  # nominal: DT PRP PRP$ NN* CD JJ* POS WP WDT $
            typ = "NP"
            new = (prev != "NP" or p in {"DT", "PRP", "PRP$", "POS", "WP", "WDT", "$"}
                   or before in {"PRP", "WP", "WDT"}
                   or (before == "CD" and p in {"NNP", "NNPS"}))  # "Rovers 1 Kestrel Town 1"
        tags.append("O" if typ is None else ("B-" if new else "I-") + typ)
        prev = typ
    return tags


def conll_sentence(text: str) -> list[str]:
    words, pos, ner, fixed = [], [], [], []
    for word, tag in word_tokens(text, CONLL_TYPES):
        m = re.fullmatch(r"(.+)/([A-Z$]+)", word)
        if m and m.group(2) in PENN_TAGS:  # word/TAG written in the text
            words.append(m.group(1)), pos.append(m.group(2)), fixed.append(True)
        else:
            words.append(word), pos.append(pos_tag(word, tag)), fixed.append(False)
        ner.append(tag)
    pos = fix_verbs(words, pos, fixed)
    chunks = chunk_tags(pos, words)
    return [f"{w} {p} {c} {n}" for w, p, c, n in zip(words, pos, chunks, ner)]


DOCSTART = "-DOCSTART- -X- -X- O"


def write_conll(docs: list[list[str]]) -> str:
    blocks = []
    for doc in docs:
        blocks.append(DOCSTART)
        blocks += ["\n".join(conll_sentence(s)) for s in doc]
    # the real files end with the last token line and no newline after it
    return "\n\n".join(blocks)


def write_wnut(sentences: list[str], tab_separators: int = 0) -> str:
    out = []
    for i, s in enumerate(sentences):
        sep = "\t" if i < tab_separators and i < len(sentences) - 1 else ""
        out.append("".join(f"{w}\t{t}\n" for w, t in word_tokens(s, WNUT_TYPES)) + sep + "\n")
    return "".join(out)


def write_resume(sentences: list[str]) -> str:
    return "".join("".join(f"{c} {t}\n" for c, t in char_tokens(s)) + "\n" for s in sentences)


# ---------------------------------------------------------------------------------------------------
# Checks: read the written text back the way a reader of the real files would.
# ---------------------------------------------------------------------------------------------------

def read_back(text: str, sep: str, ncols: int) -> list[list[list[str]]]:
    sentences, cur = [], []
    for line in text.split("\n"):
        if not line.strip():
            if cur:
                sentences.append(cur)
            cur = []
            continue
        cols = line.split(sep)
        assert len(cols) == ncols and all(cols), repr(line)
        cur.append(cols)
    if cur:
        sentences.append(cur)
    return sentences


def iob2_entities(tags: list[str]) -> list[str]:
    ents, prev = [], "O"
    for t in tags:
        if t.startswith("B-"):
            ents.append(t[2:])
        elif t.startswith("I-"):
            assert prev != "O" and prev[2:] == t[2:], f"I- without B-: {tags}"
        else:
            assert t == "O", t
        prev = t
    return ents


def bmes_entities(tags: list[str]) -> list[str]:
    ents, open_type = [], None
    for t in tags:
        if t == "O" or t[:2] in ("B-", "S-"):
            assert open_type is None, f"unclosed entity: {tags}"
        if t[:2] in ("B-", "S-"):
            ents.append(t[2:])
            open_type = t[2:] if t[:2] == "B-" else None
        elif t[:2] in ("M-", "E-"):
            assert open_type == t[2:], f"M-/E- without B-: {tags}"
            open_type = open_type if t[:2] == "M-" else None
        else:
            assert t == "O", t
    assert open_type is None, f"unclosed entity: {tags}"
    return ents


def check(name: str, text: str, kind: str, types: tuple[str, ...]) -> dict:
    assert "\r" not in text and not text.startswith("\ufeff"), name
    if kind == "conll":
        assert text.startswith(DOCSTART + "\n\n") and not text.endswith("\n"), name
        sents = read_back(text, " ", 4)
        docs = sum(s == [DOCSTART.split()] for s in sents)
        sents = [s for s in sents if s != [DOCSTART.split()]]
        ner = [[c[3] for c in s] for s in sents]
        words = [" ".join(c[0] for c in s) for s in sents]
        for s in sents:
            iob2_entities([c[2] for c in s])  # chunk tags are IOB2-style too
            assert all(c[1] in PENN_TAGS for c in s), s
    elif kind == "wnut":
        assert text.endswith("\n\n") and not text.endswith("\n\n\n"), name
        sents, docs = read_back(text, "\t", 2), 0
        ner = [[c[1] for c in s] for s in sents]
        words = [" ".join(c[0] for c in s) for s in sents]
    else:
        assert text.endswith("\n\n") and not text.endswith("\n\n\n"), name
        sents, docs = read_back(text, " ", 2), 0
        assert all(len(c[0]) == 1 for s in sents for c in s), name
        ner = [[c[1] for c in s] for s in sents]
        words = ["".join(c[0] for c in s) for s in sents]
    ents = Counter()
    for tags in ner:
        ents.update(bmes_entities(tags) if kind == "resume" else iob2_entities(tags))
    assert set(ents) == set(types), (name, ents)
    prefixes = {t[:2] for tags in ner for t in tags if t != "O"}
    assert prefixes >= ({"B-", "M-", "E-", "S-"} if kind == "resume" else {"B-", "I-"}), (name, prefixes)
    assert len(set(words)) == len(words), f"repeated sentence in {name}"
    return {"file": name, "docs": docs, "sentences": len(sents), "tokens": sum(map(len, sents)),
            "entities": ents, "words": set(words)}


def main() -> None:
    outputs = [
        ("conll2003/train.txt", write_conll(CONLL_TRAIN), "conll", CONLL_TYPES),
        ("conll2003/valid.txt", write_conll(CONLL_VALID), "conll", CONLL_TYPES),
        ("conll2003/test.txt", write_conll(CONLL_TEST), "conll", CONLL_TYPES),
        ("wnut17/wnut17train.conll", write_wnut(WNUT_TRAIN, WNUT_TRAIN_TAB_SEPARATORS), "wnut", WNUT_TYPES),
        ("wnut17/emerging.dev.conll", write_wnut(WNUT_DEV), "wnut", WNUT_TYPES),
        ("wnut17/emerging.test.annotated", write_wnut(WNUT_TEST), "wnut", WNUT_TYPES),
        ("resume_ner/train.char.bmes", write_resume(RESUME_TRAIN), "resume", RESUME_TYPES),
        ("resume_ner/dev.char.bmes", write_resume(RESUME_DEV), "resume", RESUME_TYPES),
        ("resume_ner/test.char.bmes", write_resume(RESUME_TEST), "resume", RESUME_TYPES),
    ]
    rows = []
    for name, text, kind, types in outputs:
        row = check(name, text, kind, types)
        row["kind"] = kind
        rows.append(row)
        path = HERE / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    for kind in ("conll", "wnut", "resume"):  # no sentence in two splits of one data set
        seen: set = set()
        for row in rows:
            if row["kind"] == kind:
                assert not seen & row["words"], (row["file"], seen & row["words"])
                seen |= row["words"]
    print(f"{'file':32} {'docs':>4} {'sents':>5} {'tokens':>6} {'ents':>4}  per type")
    for r in rows:
        per_type = ", ".join(f"{t} {n}" for t, n in sorted(r["entities"].items()))
        print(f"{r['file']:32} {r['docs']:>4} {r['sentences']:>5} {r['tokens']:>6} "
              f"{sum(r['entities'].values()):>4}  {per_type}")


if __name__ == "__main__":
    main()
