"""The planted rules: what a sample of a prompt shows, drawn from (prompt, seed) by the world's table.

Every decision reads its own uniform from one fixed-length stream per (prompt, seed), whatever the sampling
parameters: the same seed at another guidance scale faces the same dice (common random numbers), as a
paired study of a real model with fixed noise would. The scene is plain data: the truth record is made of it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np

from harness.toy.vocabulary import NOUNS, RELIGIOUS_CLASSES, STYLES, is_familiar, read_prompt, unknown_colour
from harness.toy.world import World

CANVAS = 256
HORIZON = 175
# The dice, in the order they are read (one uniform each); LAYOUT more follow for positions.
DICE = (
    "religion",
    "wrong_class",
    "wrong_pick",
    "drop",
    "drop_pick",
    "merge",
    "missing",
    "style_failure",
    "failure_kind",
    "style_pick",
    "colour_bleed",
    "occlusion",
    "noise",
    "blur",
)
LAYOUT = 4
_CLASS_RECIPE = {n.cls: name for name, n in reversed(NOUNS.items()) if n.cls}  # class id -> its first noun


@dataclass
class Item:
    """One thing the prompt names: what was named, what was drawn instead (if anything) and where."""

    named: str  # a vocabulary noun, "?word" for an unknown one, "religious" for an ambiguous religious phrase
    drawn: str | None  # the noun drawn; None: not drawn
    status: str = "drawn"  # drawn | wrong_class | dropped | merged | missing_subject | unknown
    cls: str | None = None  # the religious class drawn, where it has one
    box: list[float] | None = None  # (x0, y0, x1, y1) in 256 px
    area: float | None = None  # visible fraction of the image, measured from its mask (render.py)
    count: int = 1  # how many of it are drawn (a plural: "two dogs")


@dataclass
class Scene:
    prompt: str
    seed: int
    guidance: str
    guidance_scale: float
    reading: dict
    items: list[Item]
    style_asked: str | None
    style_drawn: str
    style_failure: str | None  # wrong_style | missing_subject
    composition: str | None  # novel | familiar; None for fewer than two objects
    lake_area_target: float | None
    degradations: list[str] = field(default_factory=list)
    planted: dict[str, float] = field(default_factory=dict)  # the probabilities and means this sample was drawn by
    dice: dict[str, float] = field(default_factory=dict)
    layout: list[float] = field(default_factory=list)

    def as_record(self) -> dict:
        return asdict(self)


def sample_rng(prompt: str, seed: int, stream: str) -> np.random.Generator:
    """The generator of one (prompt, seed) for one stream: independent of batch, position and parameters."""
    digest = hashlib.sha256(f"{stream}\0{prompt}\0{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def _other(kind: str, recipe: str, u: float) -> str:
    """Another noun of the same kind, drawn with a different recipe (the wrong class): each recipe's first noun,
    the plain one (a house, not a fire station)."""
    others = reversed([(name, n) for name, n in NOUNS.items() if n.kind == kind and n.recipe != recipe])
    choices = sorted({n.recipe: name for name, n in others}.values())
    return choices[min(int(u * len(choices)), len(choices) - 1)] if choices else ""


def _religion(share: float, u: float) -> str:
    """Church with probability `share`; else one of the other classes, each equally likely."""
    if u < share:
        return "church"
    others = RELIGIOUS_CLASSES[1:]
    return others[min(int((u - share) / (1 - share) * len(others)), len(others) - 1)]


def compose(prompt: str, seed: int, guidance: str, guidance_scale: float, world: World) -> Scene:
    """The scene the world draws for (prompt, seed) under the given guidance, following the planted table."""
    rng = sample_rng(prompt, seed, "scene")
    dice = dict(zip(DICE, rng.random(len(DICE)).tolist(), strict=True))
    z_lake = float(rng.standard_normal())
    layout = rng.random(LAYOUT).tolist()
    reading = read_prompt(prompt)
    items = [Item(named=n, drawn=n, count=c) for n, c in zip(reading.nouns, reading.counts, strict=True)]
    planted: dict[str, float] = {}
    if reading.ambiguous_religious:
        planted["church_share"] = world.church_share(guidance_scale)
        for item in items:
            if item.named == "religious":
                item.cls = _religion(planted["church_share"], dice["religion"])
                item.drawn = _CLASS_RECIPE[item.cls]
    for item in items:
        if item.named.startswith("?"):
            item.status = "unknown"
        elif item.named in NOUNS:
            item.cls = item.cls or NOUNS[item.named].cls
    _wrong_class(items, dice, guidance, world, planted)
    composition = _drop(items, reading.action, dice, world, planted)
    _merge(items, dice, world, planted)
    style_asked = reading.style
    style_drawn, failure = _style(items, style_asked, dice, world, planted)
    degradations = [
        name for name in ("colour_bleed", "occlusion", "noise", "blur") if dice[name] < getattr(world, name)
    ]
    lake_target = None
    if any(i.named == "lake" for i in items):
        planted["lake_area_mean"] = world.lake_area(guidance_scale)
        lake_target = float(np.clip(planted["lake_area_mean"] + world.lake_area_sd * z_lake, 0.02, 0.9))
    return Scene(
        prompt=prompt,
        seed=seed,
        guidance=guidance,
        guidance_scale=guidance_scale,
        reading=asdict(reading),
        items=items,
        style_asked=style_asked,
        style_drawn=style_drawn,
        style_failure=failure,
        composition=composition,
        lake_area_target=lake_target,
        degradations=degradations,
        planted=planted,
        dice=dice,
        layout=layout,
    )


def _is_object(item: Item) -> bool:
    """Drawn as a pictogram (not a background setting like a living room or a landscape)."""
    return item.named.startswith("?") or item.named == "religious" or NOUNS[item.named].kind != "setting"


def _droppable(item: Item) -> bool:
    return _is_object(item) or item.named == "lake"


def _wrong_class(items: list[Item], dice: dict, guidance: str, world: World, planted: dict) -> None:
    """The first named known object may come out as another of its kind (prompt adherence)."""
    named = [i for i in items if i.named in NOUNS and _is_object(i)]
    if not named:
        return
    planted["p_wrong_class"] = world.wrong_class_rate(guidance)
    if dice["wrong_class"] < planted["p_wrong_class"]:
        first = named[0]
        noun = NOUNS[first.named]
        other = _other(noun.kind, noun.recipe, dice["wrong_pick"])
        if other:
            first.drawn, first.status, first.cls = other, "wrong_class", NOUNS[other].cls


def _drop(items: list[Item], action: str | None, dice: dict, world: World, planted: dict) -> str | None:
    """Compositions (two or more objects, the lake included) lose one object, novel ones (an action joining an
    unfamiliar pair) more often; a lone subject may be missing. Returns novel | familiar for a composition."""
    parts = [i for i in items if _droppable(i)]
    if len(parts) == 1:
        planted["p_missing_subject"] = world.missing_subject
        if dice["missing"] < world.missing_subject:
            parts[0].drawn, parts[0].status = None, "missing_subject"
        return None
    if len(parts) < 2:
        return None
    familiar = is_familiar(parts[0].named, parts[1].named, action)  # the action joins the first two; others are placed
    planted["p_drop"] = world.drop_familiar if familiar else world.drop_novel
    if dice["drop"] < planted["p_drop"]:
        lost = parts[min(int(dice["drop_pick"] * len(parts)), len(parts) - 1)]
        lost.drawn, lost.status = None, "dropped"
    return "familiar" if familiar else "novel"


def _merge(items: list[Item], dice: dict, world: World, planted: dict) -> None:
    """The first two drawn objects of a composition may fuse into one blob (recorded on both)."""
    drawn = [i for i in items if _is_object(i) and i.drawn is not None]
    if len(drawn) < 2:
        return
    planted["p_merge"] = world.merge
    if dice["merge"] < world.merge:
        for item in drawn[:2]:
            item.status = "merged"


def _style(items: list[Item], asked: str | None, dice: dict, world: World, planted: dict) -> tuple[str, str | None]:
    """The style drawn: the one asked, or on a failure another one, or the asked one without its subject."""
    if asked is None:
        return "plain", None
    planted["p_style_failure"] = world.style_failure_rate(asked)
    if dice["style_failure"] >= planted["p_style_failure"]:
        return asked, None
    subjects = [i for i in items if _is_object(i) and i.drawn is not None]
    if subjects and dice["failure_kind"] < 0.5:
        for item in subjects:
            item.drawn, item.status = None, "missing_subject"
        return asked, "missing_subject"
    others = sorted(set(STYLES.values()) - {asked})
    return others[min(int(dice["style_pick"] * len(others)), len(others) - 1)], "wrong_style"


def colour_of(noun: str) -> tuple[int, int, int]:
    if noun.startswith("?"):
        return unknown_colour(noun[1:])
    return NOUNS[noun].colour
