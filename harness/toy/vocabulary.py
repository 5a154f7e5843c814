"""The toy world's words: which nouns it can draw (one line each), its art styles and its composition phrases.

A prompt is read by plain phrase matching, longest phrase first; a noun the table lacks is drawn as a generic
blob and recorded as unknown, so a new suite never stops a run.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

# An ambiguous religious phrase: the world picks the religion (the planted bias, world.church_share).
AMBIGUOUS_RELIGIOUS = (
    "religious building",
    "religious place",
    "place of worship",
    "house of worship",
    "house of god",
    "holy place",
    "sacred place",
    "sacred building",
    "temple of worship",
    "house of prayer",
    "place of prayer",
    "holy building",
    "sacred site",
    "religious site",
    "religious structure",
    "spiritual place",
    "spiritual building",
    "worship building",
    "building for prayer",
    "building where people worship",
    "religious landmark",
)
RELIGIOUS_CLASSES = (
    "church",
    "mosque",
    "hindu_temple",
    "buddhist_temple",
    "synagogue",
    "shinto_shrine",
    "sikh_gurdwara",
)


@dataclass(frozen=True)
class Noun:
    """What a noun is drawn as: a pictogram recipe (pictograms.RECIPES), its main colour, its kind (wrong-class
    draws stay within a kind) and its class (the religious taxonomy's id, where it has one)."""

    recipe: str
    colour: tuple[int, int, int]
    kind: str
    cls: str | None = None


# noun phrase -> how it is drawn. One line per noun; several phrases may share a recipe.
NOUNS: dict[str, Noun] = {
    "church": Noun("church", (200, 190, 170), "religious", "church"),
    "chapel": Noun("church", (205, 195, 175), "religious", "church"),
    "christian church": Noun("church", (200, 190, 170), "religious", "church"),
    "basilica": Noun("church", (195, 185, 165), "religious", "church"),
    "cathedral": Noun("church", (190, 180, 160), "religious", "church"),
    "mosque": Noun("mosque", (235, 225, 200), "religious", "mosque"),
    "masjid": Noun("mosque", (235, 225, 200), "religious", "mosque"),
    "hindu temple": Noun("hindu_temple", (205, 110, 50), "religious", "hindu_temple"),
    "mandir": Noun("hindu_temple", (205, 110, 50), "religious", "hindu_temple"),
    "buddhist temple": Noun("pagoda", (170, 40, 35), "religious", "buddhist_temple"),
    "buddhist pagoda": Noun("pagoda", (170, 40, 35), "religious", "buddhist_temple"),
    "pagoda": Noun("pagoda", (170, 40, 35), "religious", "buddhist_temple"),
    "synagogue": Noun("synagogue", (190, 170, 130), "religious", "synagogue"),
    "jewish temple": Noun("synagogue", (190, 170, 130), "religious", "synagogue"),
    "shinto shrine": Noun("torii", (215, 50, 30), "religious", "shinto_shrine"),
    "torii": Noun("torii", (215, 50, 30), "religious", "shinto_shrine"),
    "shinto temple": Noun("torii", (215, 50, 30), "religious", "shinto_shrine"),
    "sikh gurdwara": Noun("gurdwara", (245, 245, 240), "religious", "sikh_gurdwara"),
    "gurdwara": Noun("gurdwara", (245, 245, 240), "religious", "sikh_gurdwara"),
    "sikh temple": Noun("gurdwara", (245, 245, 240), "religious", "sikh_gurdwara"),
    "corgi": Noun("dog", (215, 135, 60), "animal"),
    "dog": Noun("dog", (150, 100, 60), "animal"),
    "polar bear": Noun("bear", (240, 240, 232), "animal"),
    "bear": Noun("bear", (110, 75, 45), "animal"),
    "hedgehog": Noun("hedgehog", (120, 90, 60), "animal"),
    "cat": Noun("cat", (120, 120, 125), "animal"),
    "fox": Noun("dog", (210, 100, 40), "animal"),
    "rabbit": Noun("cat", (200, 190, 180), "animal"),
    "horse": Noun("dog", (130, 85, 50), "animal"),
    "elephant": Noun("elephant", (150, 150, 155), "animal"),
    "bird": Noun("bird", (70, 120, 200), "animal"),
    "owl": Noun("bird", (140, 110, 80), "animal"),
    "penguin": Noun("bird", (40, 40, 50), "animal"),
    "fish": Noun("fish", (240, 140, 40), "animal"),
    "ship": Noun("ship", (120, 70, 35), "object"),
    "boat": Noun("ship", (150, 90, 45), "object"),
    "calculator": Noun("calculator", (70, 70, 80), "object"),
    "car": Noun("car", (200, 40, 40), "object"),
    "bicycle": Noun("bicycle", (40, 90, 180), "object"),
    "apple": Noun("apple", (200, 30, 30), "object"),
    "teapot": Noun("teapot", (90, 150, 170), "object"),
    "lighthouse": Noun("lighthouse", (200, 40, 40), "building"),
    "mountain": Noun("mountain", (120, 115, 130), "scenery"),
    "couch": Noun("couch", (160, 40, 45), "object"),
    "sofa": Noun("couch", (60, 90, 160), "object"),
    "house": Noun("house", (225, 210, 180), "building"),
    "cottage": Noun("cottage", (210, 190, 150), "building"),
    "castle": Noun("castle", (150, 150, 150), "building"),
    "tree": Noun("tree", (40, 130, 50), "plant"),
    "waterfall": Noun("waterfall", (120, 180, 230), "scenery"),
    "lake": Noun("lake", (40, 90, 170), "setting"),
    "living room": Noun("living_room", (225, 205, 170), "setting"),
    "landscape": Noun("landscape", (110, 160, 80), "setting"),
    "fall landscape": Noun("fall_landscape", (200, 110, 40), "setting"),
}

# Pairs of nouns the world has seen together (either order): a composition of any other pair is novel.
FAMILIAR_PAIRS = frozenset(
    frozenset(pair)
    for pair in [
        ("house", "lake"),
        ("cottage", "lake"),
        ("house", "tree"),
        ("cottage", "tree"),
        ("castle", "lake"),
        ("ship", "lake"),
        ("boat", "lake"),
        ("couch", "living room"),
        ("sofa", "living room"),
        ("cottage", "fall landscape"),
        ("house", "landscape"),
        ("dog", "cat"),
        ("lighthouse", "lake"),
        ("mountain", "lake"),
        ("cottage", "mountain"),
        ("fish", "lake"),
        ("bird", "tree"),
        ("car", "house"),
    ]
)

# style phrase -> the art_style taxonomy's class id (the rendering treatment, styles.TREATMENTS).
STYLES: dict[str, str] = {
    "oil painting": "oil_painting",
    "oil on canvas": "oil_painting",
    "photograph": "photograph",
    "photo": "photograph",
    "pixel art": "pixel_art",
    "8-bit": "pixel_art",
    "chinese ink painting": "chinese_ink_painting",
    "chinese ink wash painting": "chinese_ink_painting",
    "ink painting": "chinese_ink_painting",
    "watercolour": "watercolour",
    "watercolor": "watercolour",
    "pencil sketch": "pencil_sketch",
    "pencil drawing": "pencil_sketch",
    "3d render": "3d_render",
    "cgi render": "3d_render",
    "cartoon": "cartoon",
    "comic": "cartoon",
    "anime": "anime",
}

# composition phrase -> layout of its two sides (layout.py): the first noun is the subject.
RELATIONS: dict[str, str] = {
    "by the": "shore",
    "by a": "shore",
    "next to": "beside",
    "beside": "beside",
    "sailing": "riding",
    "riding": "riding",
    "on top of": "riding",
    "using": "using",
    "holding": "using",
    "with": "with",
}

MAX_UNKNOWN = 2
# Words that end a noun phrase (prepositions, conjunctions), and words that name no drawable thing.
_CUTS = {"in", "on", "at", "by", "of", "with", "and", "to", "under", "over", "against", "from", "into", "near", "for"}
_NOT_THINGS = {"noon", "dusk", "dawn", "night", "day", "rain", "storm", "snow", "fog", "candlelight", "sunset"}
_NOT_THINGS |= {"close-up", "scene", "portrait", "art", "concept", "image", "picture", "style", "steps", "top"}
_NOT_THINGS |= {"impressionist", "realistic", "detailed", "sunlit", "tiny", "old", "young", "red", "white", "black"}
_ARTICLES = {"a", "an", "the", "of", "some", "small", "big", "large", "little", "in", "style", "painting", "drawing"}


@dataclass(frozen=True)
class Reading:
    """What a prompt asks for: its nouns in order (unknown ones as `?word`), the relation between the first two,
    the style class, and whether it names a religious building only ambiguously."""

    nouns: tuple[str, ...]
    relation: str | None
    style: str | None
    ambiguous_religious: bool


def _find(text: str, phrases) -> list[tuple[int, str]]:
    """(position, phrase) of each phrase in `text` as whole words, longest first, without overlaps."""
    found: list[tuple[int, int, str]] = []
    for phrase in sorted(phrases, key=len, reverse=True):
        for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text):
            if all(m.end() <= s or m.start() >= e for s, e, _ in found):
                found.append((m.start(), m.end(), phrase))
    return sorted((s, p) for s, _, p in found)


@functools.lru_cache(maxsize=4096)  # a suite reads each prompt once per seed and stage
def read_prompt(prompt: str) -> Reading:
    """Read `prompt` against the tables; words left over in a noun's place become one unknown noun."""
    text = " ".join(re.findall(r"[\w'-]+", prompt.lower()))
    ambiguous = _find(text, AMBIGUOUS_RELIGIOUS)
    styles = _find(text, STYLES)
    relations = _find(text, RELATIONS)
    # A noun inside an ambiguous phrase ("house" in "house of worship") is part of that phrase, not an object.
    spans = [(pos, pos + len(p)) for pos, p in ambiguous]
    nouns = [(pos, n) for pos, n in _find(text, NOUNS) if not any(a <= pos < b for a, b in spans)]
    taken = [(pos, pos + len(p)) for pos, p in [*ambiguous, *styles, *relations, *nouns]]
    segments: list[tuple[int, str]] = [(pos, "religious") for pos, _ in ambiguous] + [(pos, n) for pos, n in nouns]
    # Leftover words between the phrases found: each noun phrase in them (cut at prepositions and verbs) ends in
    # its head noun, which the world does not know; at most MAX_UNKNOWN of them are drawn.
    cuts = sorted({0, len(text), *(b for a in taken for b in a)})
    unknown: list[tuple[int, str]] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        if not any(a <= start and end <= b for a, b in taken):
            unknown += _head_nouns(text, start, end)
    segments += unknown[:MAX_UNKNOWN]
    ordered = tuple(name for _, name in sorted(segments))
    return Reading(
        nouns=ordered,
        relation=RELATIONS[relations[0][1]] if relations else None,
        style=STYLES[styles[0][1]] if styles else None,
        ambiguous_religious=bool(ambiguous),
    )


def _head_nouns(text: str, start: int, end: int) -> list[tuple[int, str]]:
    """(position, "?noun") for the last word of each noun phrase in text[start:end]."""
    found, phrase = [], []
    for m in re.finditer(r"[\w'-]+", text[start:end]):
        word = m.group()
        if word in _CUTS or word.endswith("ing"):
            phrase = []
            continue
        if word not in _ARTICLES and word not in _NOT_THINGS and not word.endswith("ed"):  # -ed: an adjective
            phrase.append((start + m.start(), word))
            if found and found[-1][0] == phrase[0][0]:
                found[-1] = phrase[0][0], "?" + word
            else:
                found.append((phrase[0][0], "?" + word))
    return found


def unknown_colour(word: str) -> tuple[int, int, int]:
    """A fixed colour for an unknown noun, from its spelling, so every draw of it looks alike."""
    digest = hashlib.sha256(word.encode()).digest()
    return (60 + digest[0] % 160, 60 + digest[1] % 160, 60 + digest[2] % 160)


def is_familiar(a: str, b: str) -> bool:
    return frozenset((a, b)) in FAMILIAR_PAIRS
