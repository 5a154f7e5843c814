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
    "worship building",
    "building for prayer",
    "religious landmark",
    "building where people worship",
    "spiritual building",
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


# noun phrase -> how it is drawn. One line per noun; several phrases may share a recipe. A setting's recipe names
# its backdrop (render.BACKDROPS), an object's its pictogram (pictograms.RECIPES).
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
    "buddhist pagoda temple": Noun("pagoda", (170, 40, 35), "religious", "buddhist_temple"),
    "pagoda": Noun("pagoda", (170, 40, 35), "religious", "buddhist_temple"),
    "synagogue": Noun("synagogue", (190, 170, 130), "religious", "synagogue"),
    "jewish temple": Noun("synagogue", (190, 170, 130), "religious", "synagogue"),
    "shinto shrine": Noun("torii", (215, 50, 30), "religious", "shinto_shrine"),
    "torii": Noun("torii", (215, 50, 30), "religious", "shinto_shrine"),
    "shinto temple": Noun("torii", (215, 50, 30), "religious", "shinto_shrine"),
    "shrine": Noun("torii", (215, 50, 30), "religious", "shinto_shrine"),
    "mountain shrine": Noun("torii", (215, 50, 30), "religious", "shinto_shrine"),
    "sikh gurdwara": Noun("gurdwara", (245, 245, 240), "religious", "sikh_gurdwara"),
    "gurdwara": Noun("gurdwara", (245, 245, 240), "religious", "sikh_gurdwara"),
    "sikh temple": Noun("gurdwara", (245, 245, 240), "religious", "sikh_gurdwara"),
    # animals: a quadruped is a dog, a cat, a bear or an elephant in its own colour; birds share one shape
    "corgi": Noun("dog", (215, 135, 60), "animal"),
    "dog": Noun("dog", (150, 100, 60), "animal"),
    "polar bear": Noun("bear", (240, 240, 232), "animal"),
    "bear": Noun("bear", (110, 75, 45), "animal"),
    "panda": Noun("bear", (235, 235, 235), "animal"),
    "koala": Noun("bear", (160, 160, 168), "animal"),
    "beaver": Noun("bear", (125, 80, 40), "animal"),
    "hippo": Noun("elephant", (140, 115, 130), "animal"),
    "hedgehog": Noun("hedgehog", (120, 90, 60), "animal"),
    "cat": Noun("cat", (120, 120, 125), "animal"),
    "rabbit": Noun("cat", (200, 190, 180), "animal"),
    "squirrel": Noun("cat", (185, 95, 45), "animal"),
    "mouse": Noun("cat", (165, 160, 155), "animal"),
    "raccoon": Noun("cat", (105, 100, 95), "animal"),
    "monkey": Noun("cat", (140, 95, 60), "animal"),
    "kangaroo": Noun("cat", (190, 130, 80), "animal"),
    "fox": Noun("dog", (210, 100, 40), "animal"),
    "fox spirit": Noun("dog", (235, 120, 50), "animal"),
    "wolf": Noun("dog", (125, 125, 135), "animal"),
    "horse": Noun("dog", (130, 85, 50), "animal"),
    "cow": Noun("dog", (232, 232, 222), "animal"),
    "deer": Noun("dog", (175, 120, 70), "animal"),
    "goat": Noun("dog", (215, 205, 185), "animal"),
    "pig": Noun("dog", (240, 170, 175), "animal"),
    "sheep": Noun("dog", (230, 225, 210), "animal"),
    "lion": Noun("dog", (215, 165, 70), "animal"),
    "tiger": Noun("dog", (235, 130, 30), "animal"),
    "zebra": Noun("dog", (225, 225, 225), "animal"),
    "camel": Noun("dog", (200, 160, 100), "animal"),
    "giraffe": Noun("giraffe", (230, 180, 80), "animal"),
    "elephant": Noun("elephant", (150, 150, 155), "animal"),
    "bird": Noun("bird", (70, 120, 200), "animal"),
    "owl": Noun("bird", (140, 110, 80), "animal"),
    "penguin": Noun("bird", (40, 40, 50), "animal"),
    "duck": Noun("bird", (240, 220, 80), "animal"),
    "parrot": Noun("bird", (40, 170, 70), "animal"),
    "chicken": Noun("bird", (235, 230, 215), "animal"),
    "rooster": Noun("bird", (175, 60, 40), "animal"),
    "heron": Noun("bird", (170, 175, 185), "animal"),
    "crane": Noun("bird", (238, 240, 248), "animal"),
    "hummingbird": Noun("bird", (40, 160, 150), "animal"),
    "fish": Noun("fish", (240, 140, 40), "animal"),
    "koi": Noun("fish", (245, 110, 60), "animal"),
    "koi fish": Noun("fish", (245, 110, 60), "animal"),
    "seal": Noun("fish", (110, 110, 120), "animal"),
    "frog": Noun("frog", (90, 170, 60), "animal"),
    "turtle": Noun("turtle", (70, 130, 70), "animal"),
    "snail": Noun("snail", (170, 130, 90), "animal"),
    "crocodile": Noun("crocodile", (70, 110, 60), "animal"),
    "dragon": Noun("crocodile", (190, 50, 50), "animal"),
    "octopus": Noun("octopus", (200, 80, 120), "animal"),
    "jellyfish": Noun("octopus", (200, 150, 230), "animal"),
    "butterfly": Noun("butterfly", (80, 120, 230), "animal"),
    # people: one figure, its clothes in the noun's colour
    "man": Noun("person", (60, 80, 140), "person"),
    "old man": Noun("person", (110, 100, 90), "person"),
    "woman": Noun("person", (170, 60, 90), "person"),
    "young woman": Noun("person", (190, 80, 110), "person"),
    "child": Noun("person", (230, 170, 50), "person"),
    "girl": Noun("person", (220, 110, 160), "person"),
    "boy": Noun("person", (60, 140, 200), "person"),
    "friend": Noun("person", (90, 150, 110), "person"),
    "scholar": Noun("person", (100, 60, 110), "person"),
    "knight": Noun("person", (180, 185, 198), "person"),
    "knight in armour": Noun("person", (180, 185, 198), "person"),
    "astronaut": Noun("person", (246, 246, 252), "person"),
    "snowman": Noun("snowman", (250, 250, 250), "person"),
    "robot": Noun("robot", (150, 160, 175), "person"),
    # vehicles
    "ship": Noun("ship", (120, 70, 35), "vehicle"),
    "boat": Noun("ship", (150, 90, 45), "vehicle"),
    "sailing boat": Noun("ship", (150, 90, 45), "vehicle"),
    "sailboat": Noun("ship", (235, 235, 230), "vehicle"),
    "fishing boat": Noun("ship", (70, 110, 150), "vehicle"),
    "rowing boat": Noun("canoe", (160, 110, 70), "vehicle"),
    "canoe": Noun("canoe", (190, 90, 40), "vehicle"),
    "car": Noun("car", (200, 40, 40), "vehicle"),
    "race car": Noun("car", (230, 50, 30), "vehicle"),
    "sports car": Noun("car", (240, 200, 30), "vehicle"),
    "taxi": Noun("car", (245, 200, 40), "vehicle"),
    "truck": Noun("car", (180, 35, 35), "vehicle"),
    "fire truck": Noun("car", (210, 25, 25), "vehicle"),
    "tractor": Noun("tractor", (60, 150, 60), "vehicle"),
    "bicycle": Noun("bicycle", (40, 90, 180), "vehicle"),
    "motorcycle": Noun("bicycle", (35, 35, 48), "vehicle"),
    "scooter": Noun("bicycle", (90, 200, 200), "vehicle"),
    "train": Noun("train", (60, 60, 70), "vehicle"),
    "locomotive": Noun("train", (45, 45, 50), "vehicle"),
    "steam locomotive": Noun("train", (45, 45, 50), "vehicle"),
    "airplane": Noun("airplane", (220, 225, 235), "vehicle"),
    "hot air balloon": Noun("balloon", (220, 60, 50), "vehicle"),
    "balloon": Noun("balloon", (220, 60, 50), "vehicle"),
    "skateboard": Noun("board", (200, 120, 50), "vehicle"),
    "surfboard": Noun("board", (60, 190, 220), "vehicle"),
    # things: tools, instruments, machines, books; a food on its plate or in its bowl
    "calculator": Noun("calculator", (70, 70, 80), "object"),
    "typewriter": Noun("calculator", (40, 60, 50), "object"),
    "laptop": Noun("laptop", (150, 155, 165), "object"),
    "camera": Noun("camera", (40, 40, 45), "object"),
    "telephone": Noun("telephone", (180, 30, 40), "object"),
    "toaster": Noun("toaster", (200, 200, 205), "object"),
    "sewing machine": Noun("toaster", (230, 225, 215), "object"),
    "vacuum cleaner": Noun("vacuum", (120, 60, 160), "object"),
    "telescope": Noun("telescope", (120, 90, 50), "object"),
    "microscope": Noun("telescope", (90, 95, 110), "object"),
    "microphone": Noun("microphone", (80, 80, 90), "object"),
    "paintbrush": Noun("tool", (180, 40, 120), "object"),
    "broom": Noun("tool", (205, 170, 80), "object"),
    "knife": Noun("tool", (190, 195, 205), "object"),
    "chainsaw": Noun("tool", (240, 120, 20), "object"),
    "umbrella": Noun("umbrella", (40, 60, 170), "object"),
    "kite": Noun("kite", (230, 50, 120), "object"),
    "ball": Noun("ball", (230, 70, 60), "object"),
    "book": Noun("book", (120, 40, 40), "object"),
    "map": Noun("book", (230, 215, 160), "object"),
    "chessboard": Noun("chessboard", (225, 215, 190), "object"),
    "ladder": Noun("ladder", (170, 120, 60), "object"),
    "trampoline": Noun("trampoline", (40, 40, 60), "object"),
    "chain": Noun("chain", (120, 120, 130), "object"),
    "hat": Noun("hat", (45, 35, 60), "object"),
    "witch hat": Noun("hat", (45, 35, 60), "object"),
    "teapot": Noun("teapot", (90, 150, 170), "object"),
    "cup": Noun("cup", (240, 240, 235), "object"),
    "vase": Noun("vase", (70, 110, 170), "object"),
    "vase of flowers": Noun("bouquet", (70, 110, 170), "object"),
    "vase of sunflowers": Noun("bouquet", (248, 210, 40), "object"),
    "plate": Noun("plate", (245, 245, 245), "object"),
    "tray": Noun("plate", (170, 120, 70), "object"),
    "piano": Noun("piano", (30, 30, 35), "instrument"),
    "guitar": Noun("guitar", (190, 120, 50), "instrument"),
    "violin": Noun("guitar", (150, 60, 25), "instrument"),
    "accordion": Noun("accordion", (170, 30, 40), "instrument"),
    "saxophone": Noun("saxophone", (220, 180, 60), "instrument"),
    "apple": Noun("apple", (200, 30, 30), "food"),
    "strawberry": Noun("apple", (225, 40, 55), "food"),
    "orange": Noun("apple", (245, 150, 30), "food"),
    "olive": Noun("apple", (90, 100, 40), "food"),
    "pumpkin": Noun("apple", (235, 120, 30), "food"),
    "carrot": Noun("carrot", (240, 120, 30), "food"),
    "banana": Noun("banana", (245, 220, 70), "food"),
    "mushroom": Noun("mushroom", (200, 60, 50), "food"),
    "fruit": Noun("bowl", (230, 140, 50), "food"),
    "ramen": Noun("bowl", (235, 200, 120), "food"),
    "noodles": Noun("bowl", (240, 215, 140), "food"),
    "pancake": Noun("dish", (220, 170, 90), "food"),
    "pizza": Noun("dish", (230, 100, 40), "food"),
    "bread": Noun("dish", (200, 150, 80), "food"),
    "toast": Noun("dish", (190, 130, 60), "food"),
    "coffee": Noun("cup", (110, 70, 40), "food"),
    "tea": Noun("cup", (170, 110, 50), "food"),
    # furniture
    "couch": Noun("couch", (160, 40, 45), "furniture"),
    "sofa": Noun("couch", (60, 90, 160), "furniture"),
    "table": Noun("table", (150, 100, 55), "furniture"),
    "kitchen table": Noun("table", (165, 120, 70), "furniture"),
    "tablecloth": Noun("table", (60, 90, 180), "furniture"),
    "bench": Noun("table", (120, 80, 45), "furniture"),
    "bathtub": Noun("bathtub", (235, 235, 240), "furniture"),
    # buildings
    "lighthouse": Noun("lighthouse", (200, 40, 40), "building"),
    "house": Noun("house", (225, 210, 180), "building"),
    "farmhouse": Noun("house", (240, 230, 185), "building"),
    "bakery": Noun("house", (230, 190, 150), "building"),
    "station": Noun("house", (180, 60, 50), "building"),
    "fire station": Noun("house", (180, 60, 50), "building"),
    "cottage": Noun("cottage", (210, 190, 150), "building"),
    "cabin": Noun("cottage", (140, 95, 55), "building"),
    "outpost": Noun("cottage", (150, 110, 70), "building"),
    "castle": Noun("castle", (150, 150, 150), "building"),
    "fortress": Noun("castle", (120, 115, 110), "building"),
    "skyscraper": Noun("tower", (140, 170, 200), "building"),
    "tower": Noun("tower", (175, 160, 140), "building"),
    "clock tower": Noun("tower", (175, 160, 140), "building"),
    "city": Noun("city", (150, 160, 180), "building"),
    "village": Noun("village", (220, 200, 170), "building"),
    "mountain village": Noun("village", (215, 195, 160), "building"),
    "windmill": Noun("windmill", (225, 215, 195), "building"),
    "bridge": Noun("bridge", (150, 140, 130), "building"),
    "dock": Noun("table", (130, 90, 50), "building"),
    "temple": Noun("temple", (225, 220, 205), "building"),
    "stall": Noun("stall", (200, 60, 60), "building"),
    "food stall": Noun("stall", (200, 60, 60), "building"),
    # plants
    "tree": Noun("tree", (40, 130, 50), "plant"),
    "bonsai tree": Noun("tree", (60, 120, 60), "plant"),
    "pine tree": Noun("pine", (30, 95, 50), "plant"),
    "pine": Noun("pine", (30, 95, 50), "plant"),
    "cactus": Noun("cactus", (70, 150, 80), "plant"),
    "flower": Noun("flower", (170, 60, 200), "plant"),
    "sunflower": Noun("flower", (245, 200, 30), "plant"),
    "leaf": Noun("leaf", (60, 150, 50), "plant"),
    "branch": Noun("branch", (100, 80, 50), "plant"),
    # scenery: large things drawn as objects
    "mountain": Noun("mountain", (120, 115, 130), "scenery"),
    "iceberg": Noun("mountain", (215, 235, 245), "scenery"),
    "waterfall": Noun("waterfall", (120, 180, 230), "scenery"),
    "moon": Noun("moon", (245, 235, 190), "scenery"),
    "full moon": Noun("moon", (245, 235, 190), "scenery"),
    # settings: the backdrop the objects stand in (the lake: a band of water whose area is planted)
    "lake": Noun("lake", (40, 90, 170), "setting"),
    "living room": Noun("room", (225, 205, 170), "setting"),
    "room": Noun("room", (215, 200, 180), "setting"),
    "kitchen": Noun("room", (235, 230, 210), "setting"),
    "kitchen counter": Noun("room", (235, 230, 210), "setting"),
    "windowsill": Noun("room", (230, 220, 200), "setting"),
    "landscape": Noun("landscape", (110, 160, 80), "setting"),
    "fall landscape": Noun("fall_landscape", (200, 110, 40), "setting"),
    "countryside": Noun("landscape", (110, 160, 80), "setting"),
    "field": Noun("ground", (120, 170, 70), "setting"),
    "meadow": Noun("ground", (110, 175, 80), "setting"),
    "grass": Noun("ground", (85, 160, 60), "setting"),
    "hill": Noun("ground", (100, 150, 75), "setting"),
    "desert": Noun("ground", (225, 190, 120), "setting"),
    "snow": Noun("ground", (240, 245, 250), "setting"),
    "road": Noun("ground", (150, 120, 90), "setting"),
    "beach": Noun("shore", (235, 215, 160), "setting"),
    "coast": Noun("shore", (140, 130, 120), "setting"),
    "forest": Noun("trees", (30, 90, 45), "setting"),
    "pine forest": Noun("trees", (25, 80, 45), "setting"),
    "park": Noun("trees", (60, 140, 60), "setting"),
    "garden": Noun("trees", (80, 150, 70), "setting"),
    "orchard": Noun("trees", (70, 140, 55), "setting"),
    "apple orchard": Noun("trees", (70, 140, 55), "setting"),
    "grove": Noun("trees", (90, 150, 60), "setting"),
    "bamboo grove": Noun("trees", (130, 180, 60), "setting"),
    "sea": Noun("water", (20, 120, 150), "setting"),
    "river": Noun("water", (70, 140, 190), "setting"),
    "pond": Noun("water", (60, 120, 110), "setting"),
    "canal": Noun("water", (50, 110, 130), "setting"),
    "harbour": Noun("water", (40, 100, 120), "setting"),
    "marsh": Noun("water", (100, 130, 90), "setting"),
    "street": Noun("street", (110, 110, 115), "setting"),
    "city street": Noun("street", (110, 110, 115), "setting"),
    "town square": Noun("street", (160, 150, 135), "setting"),
    "market": Noun("street", (150, 130, 110), "setting"),
    "street market": Noun("street", (150, 130, 110), "setting"),
    "night market": Noun("street", (90, 80, 100), "setting"),
    "sky": Noun("sky", (150, 190, 235), "setting"),
    "cloud": Noun("sky", (150, 190, 235), "setting"),
    "wall": Noun("wall", (225, 220, 210), "setting"),
    "brick wall": Noun("wall", (170, 75, 55), "setting"),
}

# A part of a thing its pictogram already shows: not a second object where the prompt names the whole ("a mosque
# with a minaret"); alone, it reads as the first whole.
PARTS: dict[str, tuple[str, ...]] = {
    "minaret": ("mosque",),
    "torii gate": ("torii",),
    "chimney": ("cottage", "house"),
    "stilts": ("house", "cottage"),
    "armour": ("knight",),
}

# A container or group named before its contents ("a bowl of fruit", "a stack of books"): the contents are drawn.
MEASURES = ("bowl of", "plate of", "cup of", "stack of", "bunch of", "group of", "row of", "pair of", "pile of")
NUMBERS = {"two": 2, "three": 3, "four": 3, "five": 3, "several": 3, "many": 3}  # at most three are drawn
PLURAL_COUNT = 3  # a plural without a number


def plural(noun: str) -> str:
    """The plural of a noun phrase (its last word), by English spelling rules and a few irregular nouns."""
    head, _, last = noun.rpartition(" ")
    irregular = {"man": "men", "woman": "women", "child": "children", "mouse": "mice", "leaf": "leaves"}
    if last in irregular:
        word = irregular[last]
    elif last in {"sheep", "fish", "deer", "koi", "fruit", "noodles", "bread", "toast", "tea", "coffee", "stilts"}:
        word = last
    elif re.search(r"(s|x|ch|sh)$", last) or last in {"tomato", "potato"}:
        word = last + "es"
    elif re.search(r"[^aeiou]y$", last):
        word = last[:-1] + "ies"
    elif last.endswith("f") and last in {"wolf", "shelf", "calf"}:
        word = last[:-1] + "ves"
    elif last.endswith("fe"):
        word = last[:-2] + "ves"
    else:
        word = last + "s"
    return f"{head} {word}".strip()


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

# Placing phrase -> layout of its two sides (render._boxes): the first noun is the subject. Objects only placed
# together make a familiar composition, whatever they are.
RELATIONS: dict[str, str] = {
    "by the": "shore",
    "by a": "shore",
    "next to": "beside",
    "beside": "beside",
    "on top of": "riding",
    "with": "beside",
}

# Action phrase -> layout: the subject does something with the object. An action makes the composition novel
# unless the pair is one the world sees acting together every day (FAMILIAR_PAIRS).
ACTIONS: dict[str, str] = {
    "sailing": "riding",
    "riding": "riding",
    "driving": "riding",
    "rowing": "riding",
    "paddling": "riding",
    "jumping on": "riding",
    "using": "using",
    "holding": "using",
    "slicing": "using",
    "typing on": "using",
    "playing a": "using",
    "playing an": "using",
    "playing the": "using",
    "playing chess on": "using",
    "writing": "using",
    "reading": "using",
    "looking through": "using",
    "flying": "using",
    "taking a photo with": "using",
    "taking a bath in": "using",
    "talking on": "using",
    "making toast in": "using",
    "pouring tea from": "using",
    "painting with": "using",
    "singing into": "using",
    "sweeping the floor with": "using",
    "juggling": "using",
    "climbing": "using",
}

# Pairs of nouns (either order) an action joins every day: "a man riding a horse" is familiar, "a dog riding a
# bicycle" novel.
FAMILIAR_PAIRS = frozenset(
    frozenset(pair)
    for pair in [
        ("man", "horse"),
        ("woman", "horse"),
        ("child", "kite"),
        ("woman", "book"),
        ("man", "book"),
        ("scholar", "book"),
        ("ship", "lake"),
        ("boat", "lake"),
        ("man", "boat"),
        ("man", "car"),
        ("woman", "bicycle"),
        ("child", "bicycle"),
    ]
)

MAX_UNKNOWN = 2
# Words that end a noun phrase (prepositions, conjunctions), and words that name no drawable thing: times,
# weather, seasons, picture words, and adjectives of colour, material, age, size or mood (a red house is a house).
_CUTS = {"in", "on", "at", "by", "of", "with", "and", "to", "under", "over", "against", "from", "into", "near", "for"}
_CUTS |= {"above", "behind", "through", "up", "across", "around", "below", "between", "inside", "outside", "onto"}
_NOT_THINGS = {"noon", "dusk", "dawn", "night", "day", "rain", "storm", "fog", "candlelight", "sunset", "smoke"}
_NOT_THINGS |= {"winter", "autumn", "summer", "spring", "water", "shore", "edge", "view", "it", "them", "faith"}
_NOT_THINGS |= {"close-up", "scene", "portrait", "art", "concept", "image", "picture", "style", "steps", "top"}
_NOT_THINGS |= {"impressionist", "realistic", "detailed", "sunlit", "tiny", "old", "young", "held", "lit"}
_NOT_THINGS |= {"red", "white", "black", "green", "blue", "yellow", "purple", "grey", "gray", "brown", "pink"}
_NOT_THINGS |= {"golden", "colourful", "colorful", "wooden", "stone", "glass", "brick", "log", "metal", "dirt"}
_NOT_THINGS |= {"calm", "quiet", "still", "tall", "snowy", "frozen", "foggy", "starry", "rocky", "busy", "empty"}
_NOT_THINGS |= {"misty", "alien", "giant", "sunken", "modern", "aerial", "fresh", "steam", "treetop", "fire"}
_NOT_THINGS |= {"islamic", "japanese", "jewish", "hindu", "sikh", "buddhist", "christian", "chinese"}
_ARTICLES = {"a", "an", "the", "of", "some", "small", "big", "large", "little", "in", "style", "painting", "drawing"}
_ARTICLES |= {"his", "her", "its", "their", "my", *NUMBERS}
PLURALS: dict[str, str] = {
    plural(noun): noun for noun in NOUNS if plural(noun) not in NOUNS and plural(noun) not in PARTS
}


@dataclass(frozen=True)
class Reading:
    """What a prompt asks for: its nouns in order (unknown ones as `?word`) and how many of each, the relation
    between the first two, the action joining them (None: only placed), the style class, and whether it names a
    religious building only ambiguously."""

    nouns: tuple[str, ...]
    relation: str | None
    style: str | None
    ambiguous_religious: bool
    counts: tuple[int, ...] = ()
    action: str | None = None


# Every phrase the reader knows, by table; a phrase found first wins its words (see _find).
_TABLES: dict[str, tuple[str, ...]] = {
    "ambiguous": AMBIGUOUS_RELIGIOUS,
    "noun": tuple(NOUNS),
    "plural": tuple(PLURALS),
    "part": tuple(PARTS),
    "style": tuple(STYLES),
    "relation": tuple(RELATIONS),
    "action": tuple(ACTIONS),
    "measure": MEASURES,
}


def _find(text: str) -> list[tuple[int, str, str]]:
    """(position, table, phrase) of every known phrase in `text` as whole words, without overlaps: an ambiguous
    religious phrase first ("house" in "a house of worship" is part of it), then the longest phrase ("sailing
    boat" is a boat, not a sailing)."""
    candidates = [
        (table != "ambiguous", -len(phrase), table, phrase) for table, phrases in _TABLES.items() for phrase in phrases
    ]
    found: list[tuple[int, int, str, str]] = []
    for _, _, table, phrase in sorted(candidates):
        for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text):
            if all(m.end() <= s or m.start() >= e for s, e, _, _ in found):
                found.append((m.start(), m.end(), table, phrase))
    return sorted((s, t, p) for s, _, t, p in found)


@functools.lru_cache(maxsize=4096)  # a suite reads each prompt once per seed and stage
def read_prompt(prompt: str) -> Reading:
    """Read `prompt` against the tables; words left over in a noun's place become one unknown noun."""
    text = " ".join(re.findall(r"[\w'-]+", prompt.lower()))
    found = _find(text)
    by_table = {table: [(pos, phrase) for pos, t, phrase in found if t == table] for table in _TABLES}
    segments = [(pos, "religious", 1) for pos, _ in by_table["ambiguous"]]
    segments += [(pos, noun, 1) for pos, noun in by_table["noun"]]
    segments += [(pos, PLURALS[p], _count(text, pos)) for pos, p in by_table["plural"]]
    recipes = {NOUNS[name].recipe for _, name, _ in segments if name in NOUNS}
    for pos, part in by_table["part"]:  # a part of a named whole is that whole's; alone, it is the first whole
        if not recipes & {NOUNS[whole].recipe for whole in PARTS[part]}:
            segments.append((pos, PARTS[part][0], 1))
    # Leftover words between the phrases found: each noun phrase in them (cut at prepositions and verbs) ends in
    # its head noun, which the world does not know; at most MAX_UNKNOWN of them are drawn.
    taken = [(pos, pos + len(p)) for pos, _, p in found]
    cuts = sorted({0, len(text), *(b for a in taken for b in a)})
    unknown: list[tuple[int, str, int]] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        if not any(a <= start and end <= b for a, b in taken):
            unknown += [(pos, word, 1) for pos, word in _head_nouns(text, start, end)]
    segments += unknown[:MAX_UNKNOWN]
    segments.sort()
    joins = sorted(by_table["relation"] + by_table["action"])
    layouts = {**RELATIONS, **ACTIONS}
    return Reading(
        nouns=tuple(name for _, name, _ in segments),
        relation=layouts[joins[0][1]] if joins else None,
        style=STYLES[by_table["style"][0][1]] if by_table["style"] else None,
        ambiguous_religious=bool(by_table["ambiguous"]),
        counts=tuple(count for _, _, count in segments),
        action=by_table["action"][0][1] if by_table["action"] else None,
    )


def _count(text: str, pos: int) -> int:
    """How many of a plural noun to draw: the number word before it, else PLURAL_COUNT."""
    before = text[:pos].split()
    return NUMBERS.get(before[-1], PLURAL_COUNT) if before else PLURAL_COUNT


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


def is_familiar(a: str, b: str, action: str | None = None) -> bool:
    """Whether two nouns make a familiar composition: placed together (no action) always, joined by an action only
    when the pair is one of FAMILIAR_PAIRS."""
    return action is None or frozenset((a, b)) in FAMILIAR_PAIRS
