"""An offline text-classification data set: synthetic news snippets on 8 topics.

Nothing is downloaded. Each document mixes a main topic (its label) with a second topic
and background words, so some documents are easy and others sit between two topics,
as in real news: the same generator with the same seed gives the same corpus.

Topics share words in pairs (finance/politics share "tax", "budget"; technology/science
share "data", "research"…), which makes neighbouring classes confusable.
"""

from __future__ import annotations

import numpy as np

TOPICS: dict[str, str] = {
    "sports": """match team coach season goal league player score victory defeat striker
        tournament final referee stadium fans championship injury transfer keeper
        sprint marathon medal olympic race training squad captain penalty derby
        trophy halftime overtime rookie playoff pitch court racket""",
    "politics": """election minister parliament vote party senator campaign policy law
        government opposition coalition president debate reform ballot treaty
        diplomat cabinet mayor governor congress bill referendum candidate poll
        tax budget veto lobby constitution democracy sanctions embassy""",
    "technology": """software startup smartphone app cloud server chip processor
        algorithm network internet device laptop platform code developer
        cybersecurity robot gadget browser update battery screen wireless
        data research silicon encryption launch users online""",
    "health": """patient doctor hospital vaccine disease treatment nurse clinic
        symptom virus infection therapy surgery diagnosis medicine pharmacy
        epidemic cancer heart blood pain recovery prescription immune
        diet sleep fitness mental wellbeing study""",
    "finance": """market stock investor bank shares profit revenue inflation interest
        rate bond currency trading earnings dividend merger acquisition loan
        mortgage recession economy growth fund portfolio wall hedge crypto
        tax budget quarterly forecast""",
    "cooking": """recipe kitchen chef oven flour sugar butter garlic onion tomato
        sauce bake roast grill salad soup dessert spice pepper cheese pasta
        dough simmer chop taste flavour dish meal restaurant diet vegetables""",
    "travel": """flight airport hotel beach tourist passport luggage cruise island
        mountain hiking resort booking destination journey train ticket museum
        sightseeing guide adventure backpack visa airline coast village
        restaurant map holiday""",
    "science": """physics chemistry biology experiment laboratory scientist theory
        telescope planet galaxy molecule atom gene evolution climate fossil
        species particle quantum discovery hypothesis microscope orbit
        data research study journal""",
}

_BACKGROUND_TEXT = """the a of to and in for on with at by from about after before over new
    said says year week today people report according more most many some also
    would could first last time day group local world city country national
    officials told news latest major small big good early late still just
    while during three two one million percent number part"""
BACKGROUND = _BACKGROUND_TEXT.split()


_SYLLABLES = ("ka", "lo", "mi", "ren", "tus", "vo", "pra", "del", "in", "sa", "gor", "fe",
              "lu", "nak", "ti", "bro", "ven", "cha", "mo", "ris", "ul", "den", "pa", "kor",
              "zi", "ma", "tel")


def _rare_words(topic_index: int, count: int) -> list[str]:
    """Made-up names (places, people, products) that belong to one topic: the long
    tail of a real vocabulary, each rare, learned only from more labels."""
    rng = np.random.default_rng(1000 + topic_index)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < count:
        n = int(rng.integers(2, 4))
        word = "".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), n))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def make_topic_corpus(
    n_docs: int = 3000,
    *,
    seed: int = 0,
    main_weight: tuple[float, float] = (8.0, 2.0),
    background_rate: float = 0.45,
    length: tuple[int, int] = (12, 40),
    rare_words: int = 300,
) -> tuple[list[str], np.ndarray, list[str]]:
    """``(documents, labels, topic names)``.

    Each document draws its length uniformly in ``length``; each word is background with
    probability ``background_rate``, else from the main topic with a probability drawn
    from Beta(``main_weight``) for that document, else from another topic. Topic words
    follow a Zipf-like law: the hand-written words first, then ``rare_words`` made-up
    words per topic in the tail.
    """
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    vocab = [TOPICS[t].split() + _rare_words(i, rare_words) for i, t in enumerate(names)]
    zipf = [1.0 / np.arange(1, len(v) + 1) ** 0.8 for v in vocab]
    zipf = [z / z.sum() for z in zipf]
    labels = rng.integers(0, len(names), n_docs)
    docs: list[str] = []
    for label in labels:
        other = int(rng.integers(0, len(names) - 1))
        other += other >= label
        w_main = rng.beta(*main_weight)
        n_words = int(rng.integers(length[0], length[1] + 1))
        words = []
        for _ in range(n_words):
            u = rng.random()
            if u < background_rate:
                words.append(BACKGROUND[int(rng.integers(len(BACKGROUND)))])
                continue
            topic = label if rng.random() < w_main else other
            words.append(vocab[topic][int(rng.choice(len(vocab[topic]), p=zipf[topic]))])
        docs.append(" ".join(words))
    return docs, labels, names


if __name__ == "__main__":
    d, y, t = make_topic_corpus(5)
    for doc, label in zip(d, y):
        print(f"{t[label]:>10}: {doc}")
