"""Pictograms: each noun's recipe draws a simple, recognisable shape into a box, on the image and on its mask.

Recipes work in unit coordinates ((0, 0) top left, (1, 1) bottom right of the object's box) so one recipe serves
every size; `Pen` maps them to pixels and paints the object's mask with the same shapes.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image, ImageDraw

Colour = tuple[int, int, int]
Box = tuple[float, float, float, float]

GOLD, WHITE, DARK, RED, BLUE, GREEN = (
    (220, 180, 60),
    (245, 245, 245),
    (50, 40, 35),
    (190, 40, 35),
    (60, 110, 190),
    (50, 120, 60),
)


def shade(colour: Colour, factor: float) -> Colour:
    return tuple(max(0, min(255, round(c * factor))) for c in colour)  # type: ignore[return-value]


class Pen:
    """Draws unit-box shapes into `box` of an RGB image and paints them white on an L mask of the same size."""

    def __init__(self, image: Image.Image, mask: Image.Image, box: Box):
        self.draw, self.mask_draw = ImageDraw.Draw(image), ImageDraw.Draw(mask)
        self.box = box

    def _xy(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        x0, y0, x1, y1 = self.box
        return [(x0 + u * (x1 - x0), y0 + v * (y1 - y0)) for u, v in points]

    def polygon(self, points: list[tuple[float, float]], fill: Colour) -> None:
        xy = self._xy(points)
        self.draw.polygon(xy, fill=fill)
        self.mask_draw.polygon(xy, fill=255)

    def rect(self, u0: float, v0: float, u1: float, v1: float, fill: Colour) -> None:
        self.polygon([(u0, v0), (u1, v0), (u1, v1), (u0, v1)], fill)

    def ellipse(self, u0: float, v0: float, u1: float, v1: float, fill: Colour) -> None:
        xy = self._xy([(u0, v0), (u1, v1)])
        self.draw.ellipse(xy, fill=fill)
        self.mask_draw.ellipse(xy, fill=255)

    def chord(self, u0: float, v0: float, u1: float, v1: float, fill: Colour) -> None:
        """The upper half of an ellipse: a dome."""
        xy = self._xy([(u0, v0), (u1, v1)])
        self.draw.chord(xy, 180, 360, fill=fill)
        self.mask_draw.chord(xy, 180, 360, fill=255)

    def ring(self, u0: float, v0: float, u1: float, v1: float, fill: Colour, width: float) -> None:
        """An ellipse's outline, `width` a fraction of the box's width (a wheel)."""
        xy = self._xy([(u0, v0), (u1, v1)])
        pixels = max(1, round(width * (self.box[2] - self.box[0])))
        self.draw.ellipse(xy, outline=fill, width=pixels)
        self.mask_draw.ellipse(xy, outline=255, width=pixels)

    def line(self, points: list[tuple[float, float]], fill: Colour, width: float) -> None:
        xy = self._xy(points)
        pixels = max(1, round(width * (self.box[2] - self.box[0])))
        self.draw.line(xy, fill=fill, width=pixels)
        self.mask_draw.line(xy, fill=255, width=pixels)


def church(pen: Pen, c: Colour) -> None:
    pen.rect(0.05, 0.55, 0.65, 1.0, c)  # nave
    pen.polygon([(0.0, 0.58), (0.35, 0.35), (0.7, 0.58)], shade(c, 0.6))  # its gable roof
    pen.rect(0.66, 0.3, 0.9, 1.0, shade(c, 0.9))  # tower
    pen.polygon([(0.64, 0.31), (0.78, 0.08), (0.92, 0.31)], shade(c, 0.5))  # steeple
    pen.line([(0.78, 0.0), (0.78, 0.1)], DARK, 0.03)  # the cross
    pen.line([(0.74, 0.03), (0.82, 0.03)], DARK, 0.03)
    pen.ellipse(0.26, 0.72, 0.4, 1.0, DARK)  # door


def mosque(pen: Pen, c: Colour) -> None:
    pen.rect(0.2, 0.55, 0.8, 1.0, c)
    pen.chord(0.25, 0.25, 0.75, 0.85, shade(c, 0.85))  # the dome
    pen.line([(0.5, 0.18), (0.5, 0.3)], GOLD, 0.02)
    for u in (0.05, 0.85):  # minarets
        pen.rect(u, 0.15, u + 0.09, 1.0, c)
        pen.polygon([(u - 0.01, 0.16), (u + 0.045, 0.02), (u + 0.1, 0.16)], shade(c, 0.7))
    pen.ellipse(0.43, 0.75, 0.57, 1.0, shade(c, 0.5))


def hindu_temple(pen: Pen, c: Colour) -> None:
    for i in range(6):  # the stepped tower (shikhara)
        inset, top = 0.06 * i, 1.0 - 0.15 * (i + 1)
        pen.rect(0.1 + inset, top, 0.9 - inset, top + 0.16, shade(c, 1.0 - 0.06 * i))
    pen.polygon([(0.42, 0.12), (0.5, 0.0), (0.58, 0.12)], GOLD)
    pen.rect(0.42, 0.8, 0.58, 1.0, DARK)


def pagoda(pen: Pen, c: Colour) -> None:
    for i in range(4):  # stacked flared roofs, narrowing upwards
        inset, top = 0.07 * i, 0.78 - 0.2 * i
        pen.rect(0.22 + inset, top + 0.06, 0.78 - inset, top + 0.22, shade(c, 1.2))
        pen.polygon(
            [(0.0 + inset, top + 0.08), (0.2 + inset, top), (0.8 - inset, top), (1.0 - inset, top + 0.08)], DARK
        )
    pen.line([(0.5, 0.0), (0.5, 0.2)], GOLD, 0.03)


def synagogue(pen: Pen, c: Colour) -> None:
    pen.rect(0.1, 0.35, 0.9, 1.0, c)
    pen.polygon([(0.05, 0.37), (0.5, 0.15), (0.95, 0.37)], shade(c, 0.7))
    star = [(0.5, 0.4), (0.62, 0.6), (0.38, 0.6)], [(0.5, 0.67), (0.38, 0.47), (0.62, 0.47)]
    for triangle in star:  # the star of David
        pen.polygon(triangle, BLUE)
    for u in (0.18, 0.72):
        pen.ellipse(u, 0.7, u + 0.1, 0.9, DARK)


def torii(pen: Pen, c: Colour) -> None:
    pen.rect(0.18, 0.2, 0.28, 1.0, c)  # pillars
    pen.rect(0.72, 0.2, 0.82, 1.0, c)
    pen.polygon([(0.0, 0.1), (1.0, 0.1), (0.95, 0.2), (0.05, 0.2)], DARK)  # kasagi
    pen.rect(0.08, 0.32, 0.92, 0.4, c)  # nuki


def gurdwara(pen: Pen, c: Colour) -> None:
    pen.rect(0.15, 0.4, 0.85, 0.8, c)
    pen.chord(0.3, 0.15, 0.7, 0.6, GOLD)  # golden dome
    pen.line([(0.5, 0.05), (0.5, 0.16)], GOLD, 0.02)
    for u in (0.13, 0.81):
        pen.chord(u, 0.3, u + 0.08, 0.45, GOLD)
    pen.rect(0.0, 0.84, 1.0, 1.0, BLUE)  # the pool


def dog(pen: Pen, c: Colour) -> None:
    for u in (0.22, 0.35, 0.62, 0.75):
        pen.rect(u, 0.75, u + 0.08, 1.0, shade(c, 0.8))  # short legs
    pen.ellipse(0.12, 0.45, 0.85, 0.85, c)
    pen.ellipse(0.3, 0.62, 0.7, 0.85, WHITE)  # white belly
    pen.ellipse(0.62, 0.22, 0.98, 0.55, c)  # head
    pen.polygon([(0.65, 0.3), (0.68, 0.05), (0.78, 0.25)], c)  # pointed ears
    pen.polygon([(0.82, 0.25), (0.9, 0.05), (0.95, 0.3)], c)
    pen.ellipse(0.86, 0.36, 0.9, 0.4, DARK)


def cat(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.15, 0.45, 0.75, 0.95, c)
    pen.ellipse(0.5, 0.2, 0.9, 0.55, c)
    pen.polygon([(0.52, 0.3), (0.56, 0.08), (0.66, 0.24)], c)
    pen.polygon([(0.74, 0.24), (0.84, 0.08), (0.88, 0.3)], c)
    pen.line([(0.15, 0.7), (0.02, 0.4)], c, 0.05)


def bear(pen: Pen, c: Colour) -> None:
    for u in (0.15, 0.3, 0.6, 0.75):
        pen.rect(u, 0.7, u + 0.12, 1.0, shade(c, 0.92))
    pen.ellipse(0.05, 0.3, 0.9, 0.85, c)
    pen.ellipse(0.65, 0.15, 1.0, 0.5, c)
    for u in (0.68, 0.88):
        pen.ellipse(u, 0.1, u + 0.1, 0.22, shade(c, 0.85))  # round ears
    pen.ellipse(0.92, 0.3, 0.98, 0.36, DARK)


def hedgehog(pen: Pen, c: Colour) -> None:
    spikes = [(0.05 + 0.08 * i, 0.85) for i in range(10)]
    pen.polygon(
        [(0.05, 0.85), *[(x + 0.04, 0.3 + 0.25 * abs(i - 4.5) / 4.5) for i, (x, _) in enumerate(spikes)], (0.85, 0.85)],
        DARK,
    )
    pen.chord(0.05, 0.4, 0.85, 1.3, c)
    pen.ellipse(0.7, 0.6, 1.0, 0.9, (215, 185, 150))  # face
    pen.ellipse(0.95, 0.72, 1.0, 0.78, DARK)


def ship(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.0, 0.7), (1.0, 0.7), (0.85, 1.0), (0.15, 1.0)], c)  # hull
    pen.line([(0.5, 0.0), (0.5, 0.7)], DARK, 0.025)  # mast
    pen.polygon([(0.52, 0.05), (0.52, 0.65), (0.9, 0.65)], WHITE)  # sail
    pen.polygon([(0.48, 0.1), (0.48, 0.65), (0.15, 0.65)], shade(WHITE, 0.9))


def calculator(pen: Pen, c: Colour) -> None:
    pen.rect(0.15, 0.0, 0.85, 1.0, c)
    pen.rect(0.22, 0.06, 0.78, 0.25, (170, 200, 160))  # display
    for row in range(4):
        for col in range(3):
            u, v = 0.24 + 0.19 * col, 0.32 + 0.16 * row
            pen.rect(u, v, u + 0.13, v + 0.11, (210, 210, 215) if col < 2 else (230, 140, 50))


def house(pen: Pen, c: Colour) -> None:
    pen.rect(0.1, 0.45, 0.9, 1.0, c)
    pen.polygon([(0.0, 0.47), (0.5, 0.05), (1.0, 0.47)], RED)
    pen.rect(0.42, 0.7, 0.58, 1.0, DARK)
    for u in (0.18, 0.66):
        pen.rect(u, 0.56, u + 0.16, 0.7, (170, 210, 235))


def cottage(pen: Pen, c: Colour) -> None:
    pen.rect(0.1, 0.5, 0.9, 1.0, c)
    pen.rect(0.68, 0.12, 0.78, 0.4, (120, 60, 45))  # chimney
    pen.polygon([(0.0, 0.55), (0.25, 0.2), (0.75, 0.2), (1.0, 0.55)], (150, 110, 50))  # thatch
    pen.rect(0.2, 0.7, 0.35, 1.0, DARK)
    pen.rect(0.55, 0.65, 0.75, 0.8, (240, 210, 120))


def castle(pen: Pen, c: Colour) -> None:
    pen.rect(0.15, 0.35, 0.85, 1.0, c)
    for u in (0.0, 0.78):
        pen.rect(u, 0.15, u + 0.22, 1.0, shade(c, 0.9))
        pen.polygon([(u - 0.02, 0.16), (u + 0.11, 0.0), (u + 0.24, 0.16)], RED)
    pen.chord(0.4, 0.7, 0.6, 1.3, DARK)


def tree(pen: Pen, c: Colour) -> None:
    pen.rect(0.42, 0.55, 0.58, 1.0, (110, 70, 40))
    pen.ellipse(0.1, 0.0, 0.9, 0.7, c)


def waterfall(pen: Pen, c: Colour) -> None:
    pen.rect(0.0, 0.0, 0.35, 0.85, (110, 105, 100))  # cliffs
    pen.rect(0.65, 0.0, 1.0, 0.85, (95, 90, 85))
    pen.rect(0.35, 0.0, 0.65, 0.9, c)  # falling water
    for u in (0.4, 0.5, 0.58):
        pen.line([(u, 0.05), (u, 0.85)], WHITE, 0.02)
    pen.ellipse(0.1, 0.78, 0.9, 1.0, shade(c, 0.8))  # the pool


def couch(pen: Pen, c: Colour) -> None:
    pen.rect(0.1, 0.2, 0.9, 0.6, shade(c, 0.85))  # back
    pen.rect(0.1, 0.55, 0.9, 0.85, c)  # seat
    for u in (0.0, 0.85):
        pen.rect(u, 0.4, u + 0.15, 0.9, shade(c, 0.75))  # arms
    for u in (0.08, 0.85):
        pen.rect(u, 0.9, u + 0.07, 1.0, DARK)


def bird(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.15, 0.35, 0.75, 0.8, c)
    pen.ellipse(0.6, 0.2, 0.9, 0.5, c)
    pen.polygon([(0.88, 0.32), (1.0, 0.38), (0.88, 0.42)], GOLD)  # beak
    pen.polygon([(0.25, 0.5), (0.55, 0.45), (0.35, 0.72)], shade(c, 0.7))  # wing
    pen.polygon([(0.18, 0.55), (0.0, 0.45), (0.05, 0.7)], shade(c, 0.8))  # tail
    pen.line([(0.4, 0.8), (0.4, 1.0)], DARK, 0.02)
    pen.line([(0.55, 0.8), (0.55, 1.0)], DARK, 0.02)


def fish(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.25, 0.5), (0.0, 0.25), (0.0, 0.75)], shade(c, 0.8))  # tail
    pen.ellipse(0.15, 0.25, 0.95, 0.75, c)
    pen.ellipse(0.75, 0.4, 0.82, 0.48, DARK)


def elephant(pen: Pen, c: Colour) -> None:
    for u in (0.15, 0.3, 0.55, 0.68):
        pen.rect(u, 0.65, u + 0.13, 1.0, c)
    pen.ellipse(0.05, 0.25, 0.8, 0.8, c)
    pen.ellipse(0.6, 0.15, 0.95, 0.55, c)
    pen.line([(0.9, 0.45), (0.95, 0.75), (0.88, 0.9)], c, 0.07)  # trunk
    pen.ellipse(0.52, 0.2, 0.72, 0.55, shade(c, 0.85))  # ear


def car(pen: Pen, c: Colour) -> None:
    pen.rect(0.0, 0.45, 1.0, 0.8, c)
    pen.polygon([(0.2, 0.47), (0.3, 0.15), (0.7, 0.15), (0.82, 0.47)], shade(c, 0.85))
    pen.rect(0.33, 0.22, 0.67, 0.42, (170, 210, 235))
    for u in (0.1, 0.68):
        pen.ellipse(u, 0.65, u + 0.22, 0.98, DARK)


def bicycle(pen: Pen, c: Colour) -> None:
    for u in (0.0, 0.6):
        pen.ring(u, 0.55, u + 0.4, 0.95, DARK, 0.03)
    pen.line([(0.2, 0.75), (0.45, 0.45), (0.8, 0.75)], c, 0.035)  # frame
    pen.line([(0.45, 0.45), (0.7, 0.45), (0.8, 0.75)], c, 0.035)
    pen.line([(0.7, 0.45), (0.75, 0.3)], DARK, 0.03)
    pen.line([(0.4, 0.4), (0.5, 0.4)], DARK, 0.04)  # saddle


def apple(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.15, 0.25, 0.85, 0.95, c)
    pen.line([(0.5, 0.1), (0.5, 0.3)], (100, 70, 40), 0.04)
    pen.ellipse(0.52, 0.08, 0.75, 0.22, GREEN)


def teapot(pen: Pen, c: Colour) -> None:
    pen.line([(0.8, 0.6), (1.0, 0.35)], c, 0.07)  # spout
    pen.ellipse(0.0, 0.4, 0.25, 0.75, shade(c, 0.85))  # handle
    pen.ellipse(0.08, 0.48, 0.2, 0.68, (240, 240, 240))
    pen.ellipse(0.15, 0.3, 0.85, 0.95, c)
    pen.chord(0.35, 0.18, 0.65, 0.42, shade(c, 0.8))  # lid


def lighthouse(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.3, 1.0), (0.38, 0.2), (0.62, 0.2), (0.7, 1.0)], WHITE)
    for v in (0.35, 0.6, 0.85):  # stripes
        pen.polygon([(0.33, v + 0.1), (0.35, v), (0.65, v), (0.67, v + 0.1)], c)
    pen.rect(0.36, 0.08, 0.64, 0.2, (250, 230, 120))  # the lamp
    pen.polygon([(0.34, 0.09), (0.5, 0.0), (0.66, 0.09)], DARK)


def mountain(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.0, 1.0), (0.5, 0.05), (1.0, 1.0)], c)
    pen.polygon([(0.38, 0.28), (0.5, 0.05), (0.62, 0.28)], WHITE)  # snow cap


def blob(pen: Pen, c: Colour) -> None:
    """What the world draws for a noun it does not know (and for two objects merged into one)."""
    pen.ellipse(0.05, 0.2, 0.95, 1.0, c)
    pen.ellipse(0.25, 0.05, 0.75, 0.5, shade(c, 0.85))


RECIPES: dict[str, Callable[[Pen, Colour], None]] = {
    "church": church,
    "mosque": mosque,
    "hindu_temple": hindu_temple,
    "pagoda": pagoda,
    "synagogue": synagogue,
    "torii": torii,
    "gurdwara": gurdwara,
    "dog": dog,
    "cat": cat,
    "bear": bear,
    "hedgehog": hedgehog,
    "ship": ship,
    "calculator": calculator,
    "house": house,
    "cottage": cottage,
    "castle": castle,
    "tree": tree,
    "waterfall": waterfall,
    "couch": couch,
    "bird": bird,
    "fish": fish,
    "elephant": elephant,
    "car": car,
    "bicycle": bicycle,
    "apple": apple,
    "teapot": teapot,
    "lighthouse": lighthouse,
    "mountain": mountain,
    "blob": blob,
}
