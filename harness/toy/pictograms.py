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


def giraffe(pen: Pen, c: Colour) -> None:
    for u in (0.2, 0.32, 0.52, 0.64):
        pen.rect(u, 0.6, u + 0.06, 1.0, c)
    pen.ellipse(0.15, 0.45, 0.75, 0.7, c)
    pen.polygon([(0.6, 0.5), (0.78, 0.08), (0.86, 0.1), (0.72, 0.55)], c)  # the long neck
    pen.ellipse(0.76, 0.02, 0.98, 0.14, c)
    for u, v in ((0.3, 0.52), (0.48, 0.56), (0.74, 0.3)):
        pen.ellipse(u, v, u + 0.07, v + 0.06, shade(c, 0.6))  # patches


def frog(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.1, 0.45, 0.9, 0.95, c)
    for u in (0.2, 0.6):
        pen.ellipse(u, 0.3, u + 0.2, 0.55, c)
        pen.ellipse(u + 0.06, 0.36, u + 0.14, 0.46, DARK)  # bulging eyes
    pen.line([(0.3, 0.75), (0.7, 0.75)], shade(c, 0.5), 0.02)


def turtle(pen: Pen, c: Colour) -> None:
    for u in (0.15, 0.65):
        pen.ellipse(u, 0.7, u + 0.15, 0.95, (120, 150, 90))
    pen.ellipse(0.75, 0.55, 1.0, 0.8, (120, 150, 90))  # head
    pen.chord(0.05, 0.3, 0.85, 1.1, c)  # the shell
    pen.line([(0.25, 0.55), (0.65, 0.55)], shade(c, 0.6), 0.03)


def snail(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.0, 1.0), (0.9, 1.0), (0.95, 0.7), (0.85, 0.8), (0.1, 0.9)], (200, 190, 150))  # body
    pen.line([(0.88, 0.78), (0.95, 0.55)], (200, 190, 150), 0.02)
    pen.ellipse(0.15, 0.3, 0.75, 0.92, c)  # shell
    pen.ring(0.3, 0.45, 0.6, 0.77, shade(c, 0.6), 0.03)


def crocodile(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.0, 0.65), (0.3, 0.5), (0.75, 0.5), (1.0, 0.6), (0.75, 0.75), (0.3, 0.8)], c)  # body and jaw
    for u in (0.3, 0.6):
        pen.rect(u, 0.75, u + 0.07, 0.95, c)
    for k in range(5):  # the ridge
        u = 0.15 + 0.12 * k
        pen.polygon([(u, 0.55), (u + 0.05, 0.45), (u + 0.1, 0.55)], shade(c, 0.7))


def octopus(pen: Pen, c: Colour) -> None:
    for k in range(6):  # arms
        u = 0.15 + 0.14 * k
        pen.line([(u + 0.05, 0.55), (u - 0.04, 0.8), (u + 0.05, 1.0)], shade(c, 0.85), 0.05)
    pen.ellipse(0.15, 0.0, 0.85, 0.65, c)
    for u in (0.35, 0.55):
        pen.ellipse(u, 0.3, u + 0.08, 0.38, DARK)


def butterfly(pen: Pen, c: Colour) -> None:
    for left in (True, False):
        sign = -1 if left else 1
        pen.polygon([(0.5, 0.45), (0.5 + sign * 0.48, 0.05), (0.5 + sign * 0.45, 0.5)], c)
        pen.polygon([(0.5, 0.5), (0.5 + sign * 0.4, 0.55), (0.5 + sign * 0.3, 0.9)], shade(c, 0.75))
    pen.rect(0.47, 0.25, 0.53, 0.85, DARK)


def person(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.38, 0.0, 0.62, 0.2, (230, 190, 160))  # head
    pen.polygon([(0.3, 0.22), (0.7, 0.22), (0.78, 0.65), (0.22, 0.65)], c)  # coat
    pen.line([(0.3, 0.25), (0.12, 0.55)], c, 0.06)  # arms
    pen.line([(0.7, 0.25), (0.88, 0.55)], c, 0.06)
    pen.rect(0.32, 0.65, 0.45, 1.0, DARK)  # legs
    pen.rect(0.55, 0.65, 0.68, 1.0, DARK)


def snowman(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.15, 0.5, 0.85, 1.0, c)
    pen.ellipse(0.27, 0.22, 0.73, 0.6, c)
    pen.ellipse(0.35, 0.0, 0.65, 0.3, c)
    pen.polygon([(0.5, 0.14), (0.72, 0.18), (0.5, 0.2)], (240, 130, 30))  # carrot nose
    pen.rect(0.35, 0.3, 0.65, 0.35, RED)  # scarf


def robot(pen: Pen, c: Colour) -> None:
    pen.line([(0.5, 0.0), (0.5, 0.12)], DARK, 0.02)
    pen.rect(0.3, 0.1, 0.7, 0.35, c)  # head
    for u in (0.37, 0.55):
        pen.rect(u, 0.17, u + 0.08, 0.25, (80, 200, 240))
    pen.rect(0.2, 0.38, 0.8, 0.75, shade(c, 0.85))  # body
    pen.rect(0.05, 0.4, 0.17, 0.7, c)
    pen.rect(0.83, 0.4, 0.95, 0.7, c)
    pen.rect(0.28, 0.75, 0.42, 1.0, c)
    pen.rect(0.58, 0.75, 0.72, 1.0, c)


def canoe(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.0, 0.55), (1.0, 0.55), (0.85, 0.8), (0.15, 0.8)], c)
    pen.line([(0.6, 0.2), (0.8, 0.95)], (150, 110, 60), 0.03)  # the paddle


def tractor(pen: Pen, c: Colour) -> None:
    pen.rect(0.05, 0.45, 0.7, 0.75, c)  # bonnet
    pen.rect(0.5, 0.15, 0.85, 0.6, shade(c, 0.85))  # cab
    pen.rect(0.56, 0.2, 0.8, 0.4, (170, 210, 235))
    pen.line([(0.2, 0.2), (0.2, 0.45)], DARK, 0.04)  # exhaust
    pen.ellipse(0.52, 0.45, 0.98, 0.98, DARK)  # big rear wheel
    pen.ellipse(0.05, 0.68, 0.3, 0.98, DARK)


def train(pen: Pen, c: Colour) -> None:
    pen.rect(0.05, 0.35, 0.65, 0.8, c)  # boiler
    pen.rect(0.6, 0.15, 0.95, 0.8, shade(c, 0.85))  # cab
    pen.rect(0.68, 0.22, 0.87, 0.42, (240, 220, 140))
    pen.rect(0.12, 0.12, 0.22, 0.36, DARK)  # chimney
    pen.polygon([(0.0, 0.8), (0.05, 0.6), (0.05, 0.8)], RED)
    for u in (0.08, 0.33, 0.62):
        pen.ellipse(u, 0.72, u + 0.22, 0.98, RED)


def airplane(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.0, 0.4, 1.0, 0.6, c)  # fuselage
    pen.polygon([(0.35, 0.5), (0.55, 0.5), (0.4, 0.95)], shade(c, 0.8))  # wings
    pen.polygon([(0.35, 0.5), (0.55, 0.5), (0.4, 0.05)], shade(c, 0.85))
    pen.polygon([(0.02, 0.5), (0.12, 0.5), (0.05, 0.2)], shade(c, 0.7))  # tail
    for k in range(5):
        pen.ellipse(0.6 + 0.06 * k, 0.45, 0.63 + 0.06 * k, 0.5, BLUE)


def balloon(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.1, 0.0, 0.9, 0.7, c)  # envelope
    pen.polygon([(0.2, 0.5), (0.8, 0.5), (0.55, 0.78), (0.45, 0.78)], c)
    pen.polygon([(0.45, 0.0), (0.55, 0.0), (0.55, 0.78), (0.45, 0.78)], GOLD)  # a stripe
    pen.line([(0.45, 0.78), (0.42, 0.85)], DARK, 0.01)
    pen.line([(0.55, 0.78), (0.58, 0.85)], DARK, 0.01)
    pen.rect(0.4, 0.85, 0.6, 1.0, (140, 95, 50))  # basket


def board(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.0, 0.6, 1.0, 0.8, c)
    pen.line([(0.1, 0.7), (0.9, 0.7)], shade(c, 0.7), 0.02)
    for u in (0.15, 0.75):
        pen.ellipse(u, 0.78, u + 0.1, 0.9, DARK)


def laptop(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.15, 0.15), (0.85, 0.15), (0.85, 0.7), (0.15, 0.7)], c)  # lid
    pen.rect(0.2, 0.2, 0.8, 0.65, (60, 110, 170))  # screen
    pen.polygon([(0.05, 0.9), (0.15, 0.7), (0.85, 0.7), (0.95, 0.9)], shade(c, 0.8))  # keyboard


def camera(pen: Pen, c: Colour) -> None:
    pen.rect(0.05, 0.3, 0.95, 0.85, c)
    pen.rect(0.15, 0.2, 0.35, 0.3, c)
    pen.ellipse(0.3, 0.35, 0.7, 0.8, (180, 180, 190))
    pen.ellipse(0.38, 0.45, 0.62, 0.7, (30, 30, 60))  # lens


def telephone(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.15, 1.0), (0.25, 0.45), (0.75, 0.45), (0.85, 1.0)], c)  # base
    pen.ring(0.35, 0.6, 0.65, 0.9, WHITE, 0.03)  # dial
    pen.line([(0.1, 0.35), (0.9, 0.35)], shade(c, 0.8), 0.1)  # handset
    pen.ellipse(0.02, 0.25, 0.22, 0.45, shade(c, 0.8))
    pen.ellipse(0.78, 0.25, 0.98, 0.45, shade(c, 0.8))


def toaster(pen: Pen, c: Colour) -> None:
    pen.rect(0.1, 0.35, 0.9, 1.0, c)
    pen.rect(0.25, 0.3, 0.45, 0.38, DARK)  # slots
    pen.rect(0.55, 0.3, 0.75, 0.38, DARK)
    pen.rect(0.88, 0.55, 0.98, 0.62, DARK)  # lever


def vacuum(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.05, 0.6, 0.5, 1.0, c)  # body
    pen.line([(0.45, 0.75), (0.8, 0.1)], DARK, 0.03)  # hose and handle
    pen.rect(0.7, 0.9, 1.0, 1.0, DARK)  # nozzle
    pen.line([(0.8, 0.1), (0.85, 0.95)], (120, 120, 130), 0.025)


def telescope(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.05, 0.45), (0.85, 0.1), (0.95, 0.3), (0.15, 0.6)], c)  # tube
    pen.ellipse(0.82, 0.08, 0.98, 0.32, shade(c, 0.7))
    for foot in (0.2, 0.5, 0.8):  # tripod
        pen.line([(0.5, 0.4), (foot, 1.0)], DARK, 0.025)


def microphone(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.35, 0.0, 0.65, 0.3, (170, 170, 180))  # the grille
    pen.rect(0.46, 0.28, 0.54, 0.9, c)
    pen.rect(0.3, 0.9, 0.7, 1.0, c)


def tool(pen: Pen, c: Colour) -> None:
    """A handle and a working end: a brush, a broom, a knife, a saw."""
    pen.line([(0.2, 0.95), (0.6, 0.35)], (140, 95, 55), 0.06)
    pen.polygon([(0.55, 0.4), (0.95, 0.0), (1.0, 0.1), (0.65, 0.48)], c)


def umbrella(pen: Pen, c: Colour) -> None:
    pen.chord(0.0, 0.05, 1.0, 0.75, c)
    pen.line([(0.5, 0.4), (0.5, 0.95)], DARK, 0.025)
    pen.line([(0.5, 0.95), (0.6, 0.95), (0.62, 0.88)], DARK, 0.025)  # the crook


def kite(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.5, 0.0), (0.85, 0.3), (0.5, 0.7), (0.15, 0.3)], c)
    pen.line([(0.5, 0.0), (0.5, 0.7)], shade(c, 0.6), 0.02)
    pen.line([(0.5, 0.7), (0.4, 0.85), (0.55, 1.0)], DARK, 0.015)  # the tail


def ball(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.15, 0.3, 0.85, 1.0, c)
    pen.line([(0.2, 0.65), (0.8, 0.65)], WHITE, 0.05)


def book(pen: Pen, c: Colour) -> None:
    pen.rect(0.05, 0.55, 0.95, 0.9, WHITE)  # pages
    pen.rect(0.0, 0.5, 1.0, 0.58, c)  # cover
    pen.rect(0.0, 0.88, 1.0, 0.96, c)
    pen.rect(0.0, 0.5, 0.08, 0.96, shade(c, 0.7))  # spine


def chessboard(pen: Pen, c: Colour) -> None:
    for row in range(4):
        for col in range(4):
            pen.rect(0.05 + 0.225 * col, 0.4 + 0.14 * row, 0.275 + 0.225 * col, 0.54 + 0.14 * row,
                     c if (row + col) % 2 else DARK)  # fmt: skip


def ladder(pen: Pen, c: Colour) -> None:
    pen.line([(0.3, 0.0), (0.25, 1.0)], c, 0.05)
    pen.line([(0.7, 0.0), (0.75, 1.0)], c, 0.05)
    for v in (0.1, 0.3, 0.5, 0.7, 0.9):
        pen.line([(0.28, v), (0.72, v)], c, 0.04)


def trampoline(pen: Pen, c: Colour) -> None:
    for u in (0.15, 0.45, 0.8):
        pen.line([(u, 0.65), (u, 1.0)], (120, 120, 130), 0.03)
    pen.ellipse(0.0, 0.5, 1.0, 0.75, (40, 140, 200))  # the frame
    pen.ellipse(0.06, 0.53, 0.94, 0.72, c)  # the mat


def chain(pen: Pen, c: Colour) -> None:
    for k in range(4):
        pen.ring(0.35, 0.02 + 0.24 * k, 0.65, 0.3 + 0.24 * k, c, 0.05)


def hat(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.0, 0.8, 1.0, 1.0, c)  # brim
    pen.polygon([(0.25, 0.9), (0.55, 0.0), (0.75, 0.9)], c)  # pointed crown
    pen.rect(0.3, 0.78, 0.72, 0.86, GOLD)


def cup(pen: Pen, c: Colour) -> None:
    """A cup and saucer; the cup's contents, seen from above, in the noun's colour."""
    pen.ellipse(0.0, 0.85, 1.0, 1.0, WHITE)  # saucer
    pen.ring(0.65, 0.45, 0.95, 0.75, (235, 235, 235), 0.05)  # handle
    pen.polygon([(0.15, 0.4), (0.8, 0.4), (0.7, 0.92), (0.25, 0.92)], (235, 235, 235))
    pen.ellipse(0.15, 0.33, 0.8, 0.47, c)


def vase(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.2, 0.45, 0.8, 1.0, c)
    pen.rect(0.38, 0.3, 0.62, 0.55, c)
    pen.rect(0.33, 0.28, 0.67, 0.33, shade(c, 0.8))


def bouquet(pen: Pen, c: Colour) -> None:
    for u in (0.25, 0.5, 0.75):
        pen.line([(0.5, 0.6), (u, 0.2)], GREEN, 0.02)
        pen.ellipse(u - 0.12, 0.05, u + 0.12, 0.3, c)
        pen.ellipse(u - 0.04, 0.13, u + 0.04, 0.22, (110, 70, 30))
    pen.ellipse(0.28, 0.55, 0.72, 1.0, (70, 110, 170))  # the vase
    pen.rect(0.42, 0.48, 0.58, 0.6, (70, 110, 170))


def plate(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.0, 0.65, 1.0, 0.95, c)
    pen.ellipse(0.15, 0.7, 0.85, 0.9, shade(c, 0.92))


def bowl(pen: Pen, c: Colour) -> None:
    """A bowl heaped with its contents in the noun's colour."""
    pen.chord(0.12, 0.2, 0.88, 0.75, c)
    for u in (0.25, 0.45, 0.62):
        pen.ellipse(u, 0.38, u + 0.16, 0.52, shade(c, 0.8))
    pen.polygon([(0.05, 0.5), (0.95, 0.5), (0.75, 0.9), (0.25, 0.9)], WHITE)
    pen.rect(0.38, 0.9, 0.62, 0.97, shade(WHITE, 0.9))


def dish(pen: Pen, c: Colour) -> None:
    """A food on a white plate, in the noun's colour."""
    pen.ellipse(0.0, 0.7, 1.0, 1.0, WHITE)
    pen.ellipse(0.15, 0.55, 0.85, 0.88, c)
    pen.ellipse(0.25, 0.6, 0.45, 0.7, shade(c, 1.2))


def piano(pen: Pen, c: Colour) -> None:
    pen.rect(0.05, 0.1, 0.95, 0.6, c)  # case
    pen.rect(0.05, 0.6, 0.95, 0.72, WHITE)  # the keys
    for k in range(9):
        u = 0.1 + 0.095 * k
        pen.rect(u, 0.6, u + 0.04, 0.66, DARK)
    pen.rect(0.08, 0.72, 0.15, 1.0, c)
    pen.rect(0.85, 0.72, 0.92, 1.0, c)


def guitar(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.2, 0.55, 0.8, 1.0, c)
    pen.ellipse(0.28, 0.35, 0.72, 0.7, c)
    pen.ellipse(0.43, 0.65, 0.57, 0.78, DARK)  # sound hole
    pen.rect(0.46, 0.0, 0.54, 0.5, (90, 55, 30))  # neck


def accordion(pen: Pen, c: Colour) -> None:
    pen.rect(0.0, 0.25, 0.25, 0.95, (40, 40, 45))
    pen.rect(0.75, 0.25, 1.0, 0.95, (40, 40, 45))
    for k in range(6):  # the bellows' folds
        u = 0.25 + 0.0833 * k
        pen.rect(u, 0.3, u + 0.0833, 0.9, c if k % 2 else shade(c, 0.7))
    for v in (0.35, 0.5, 0.65, 0.8):
        pen.rect(0.05, v, 0.2, v + 0.08, WHITE)


def saxophone(pen: Pen, c: Colour) -> None:
    pen.line([(0.45, 0.0), (0.45, 0.8), (0.6, 0.95), (0.75, 0.8), (0.75, 0.55)], c, 0.09)
    pen.polygon([(0.65, 0.58), (0.85, 0.58), (0.9, 0.4), (0.6, 0.4)], c)  # the bell
    for v in (0.25, 0.4, 0.55):
        pen.ellipse(0.4, v, 0.5, v + 0.06, shade(c, 0.6))


def carrot(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.3, 0.25), (0.7, 0.25), (0.52, 1.0)], c)
    for u in (0.38, 0.5, 0.62):
        pen.line([(0.5, 0.25), (u, 0.0)], GREEN, 0.04)


def banana(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.05, 0.3), (0.3, 0.75), (0.7, 0.8), (0.95, 0.45), (0.7, 0.65), (0.35, 0.6)], c)
    pen.line([(0.02, 0.25), (0.08, 0.33)], (90, 70, 30), 0.04)


def mushroom(pen: Pen, c: Colour) -> None:
    pen.rect(0.38, 0.45, 0.62, 1.0, (235, 225, 200))
    pen.chord(0.05, 0.1, 0.95, 0.8, c)
    for u, v in ((0.25, 0.25), (0.55, 0.2), (0.7, 0.35)):
        pen.ellipse(u, v, u + 0.1, v + 0.08, WHITE)


def table(pen: Pen, c: Colour) -> None:
    """A top on legs: a table, a bench, a dock."""
    pen.rect(0.0, 0.45, 1.0, 0.57, c)
    for u in (0.06, 0.86):
        pen.rect(u, 0.57, u + 0.08, 1.0, shade(c, 0.75))


def bathtub(pen: Pen, c: Colour) -> None:
    pen.rect(0.0, 0.4, 1.0, 0.68, c)  # the tub: straight sides, a rounded bottom
    pen.ellipse(0.0, 0.4, 1.0, 0.95, c)
    pen.rect(0.0, 0.4, 1.0, 0.47, shade(c, 0.9))  # its rim
    pen.line([(0.85, 0.4), (0.85, 0.2), (0.75, 0.2)], (170, 170, 180), 0.03)  # the tap
    for u in (0.1, 0.82):
        pen.rect(u, 0.85, u + 0.08, 1.0, GOLD)


def tower(pen: Pen, c: Colour) -> None:
    pen.rect(0.3, 0.1, 0.7, 1.0, c)
    for v in (0.2, 0.35, 0.5, 0.65, 0.8):
        pen.rect(0.37, v, 0.47, v + 0.07, (240, 220, 140))
        pen.rect(0.53, v, 0.63, v + 0.07, (240, 220, 140))
    pen.polygon([(0.28, 0.11), (0.5, 0.0), (0.72, 0.11)], shade(c, 0.7))


def city(pen: Pen, c: Colour) -> None:
    for u, top in ((0.0, 0.4), (0.2, 0.1), (0.45, 0.3), (0.7, 0.0)):
        pen.rect(u, top, u + 0.26, 0.9, shade(c, 0.85 + 0.1 * (top > 0.2)))
        for v in range(int((0.85 - top) / 0.12)):
            pen.rect(u + 0.06, top + 0.06 + 0.12 * v, u + 0.12, top + 0.1 + 0.12 * v, (240, 220, 140))
    pen.ellipse(0.0, 0.8, 1.0, 1.0, (130, 110, 90))  # the rock it stands on


def village(pen: Pen, c: Colour) -> None:
    for u, v, s in ((0.0, 0.35, 0.4), (0.55, 0.3, 0.45), (0.28, 0.5, 0.45)):
        pen.rect(u + 0.05 * s, v + 0.45 * s, u + 0.95 * s, v + s, c)
        pen.polygon([(u, v + 0.47 * s), (u + s / 2, v), (u + s, v + 0.47 * s)], RED)
        pen.rect(u + 0.4 * s, v + 0.7 * s, u + 0.6 * s, v + s, DARK)


def windmill(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.3, 1.0), (0.38, 0.35), (0.62, 0.35), (0.7, 1.0)], c)
    pen.chord(0.36, 0.25, 0.64, 0.45, shade(c, 0.6))
    for end in ((0.1, 0.0), (0.9, 0.0), (0.1, 0.7), (0.9, 0.7)):  # the sails
        pen.line([(0.5, 0.35), end], (140, 95, 55), 0.05)
    pen.rect(0.44, 0.8, 0.56, 1.0, DARK)


def bridge(pen: Pen, c: Colour) -> None:
    pen.rect(0.0, 0.45, 1.0, 0.6, c)  # deck
    for u in (0.0, 0.33, 0.66):
        pen.chord(u + 0.03, 0.55, u + 0.31, 1.3, (120, 170, 220))  # the arches' water
    for u in (0.3, 0.63):
        pen.rect(u, 0.55, u + 0.07, 1.0, c)
    pen.rect(0.0, 0.55, 0.04, 1.0, c)
    pen.rect(0.96, 0.55, 1.0, 1.0, c)


def temple(pen: Pen, c: Colour) -> None:
    """A classical temple: a pediment on columns, no faith named."""
    pen.polygon([(0.0, 0.3), (0.5, 0.05), (1.0, 0.3)], shade(c, 0.85))
    pen.rect(0.0, 0.3, 1.0, 0.38, c)
    for k in range(5):
        pen.rect(0.06 + 0.2 * k, 0.38, 0.14 + 0.2 * k, 0.92, c)
    pen.rect(0.0, 0.92, 1.0, 1.0, shade(c, 0.8))


def stall(pen: Pen, c: Colour) -> None:
    for k in range(5):  # a striped awning
        pen.polygon([(0.2 * k, 0.15), (0.2 * k + 0.2, 0.15), (0.2 * k + 0.2, 0.35), (0.2 * k, 0.35)],
                    c if k % 2 else WHITE)  # fmt: skip
    pen.line([(0.05, 0.35), (0.05, 1.0)], DARK, 0.03)
    pen.line([(0.95, 0.35), (0.95, 1.0)], DARK, 0.03)
    pen.rect(0.0, 0.6, 1.0, 0.75, (150, 100, 55))  # counter
    for u in (0.15, 0.4, 0.65):
        pen.ellipse(u, 0.5, u + 0.15, 0.62, (230, 150, 40))


def pine(pen: Pen, c: Colour) -> None:
    pen.rect(0.44, 0.8, 0.56, 1.0, (110, 70, 40))
    for k in range(3):
        pen.polygon(
            [(0.1 + 0.1 * k, 0.85 - 0.25 * k), (0.5, 0.3 - 0.25 * k + 0.1), (0.9 - 0.1 * k, 0.85 - 0.25 * k)], c
        )


def cactus(pen: Pen, c: Colour) -> None:
    pen.rect(0.4, 0.1, 0.6, 1.0, c)
    pen.rect(0.15, 0.35, 0.25, 0.6, c)
    pen.rect(0.15, 0.55, 0.4, 0.63, c)
    pen.rect(0.75, 0.25, 0.85, 0.5, c)
    pen.rect(0.6, 0.45, 0.85, 0.53, c)
    pen.rect(0.3, 0.9, 0.7, 1.0, (180, 90, 50))  # the pot


def flower(pen: Pen, c: Colour) -> None:
    pen.line([(0.5, 0.4), (0.5, 1.0)], GREEN, 0.04)
    pen.ellipse(0.5, 0.65, 0.7, 0.75, GREEN)  # a leaf
    for u, v in ((0.3, 0.05), (0.5, 0.05), (0.3, 0.3), (0.5, 0.3), (0.2, 0.17), (0.6, 0.17)):
        pen.ellipse(u, v, u + 0.2, v + 0.2, c)  # petals
    pen.ellipse(0.38, 0.17, 0.62, 0.4, (110, 70, 30))


def leaf(pen: Pen, c: Colour) -> None:
    pen.polygon([(0.1, 0.9), (0.3, 0.4), (0.9, 0.1), (0.7, 0.6)], c)
    pen.line([(0.1, 0.9), (0.9, 0.1)], shade(c, 0.6), 0.02)


def branch(pen: Pen, c: Colour) -> None:
    pen.line([(0.0, 0.9), (1.0, 0.75)], c, 0.06)
    pen.line([(0.5, 0.83), (0.75, 0.6)], c, 0.04)
    for u, v in ((0.7, 0.5), (0.25, 0.75), (0.85, 0.65)):
        pen.ellipse(u, v, u + 0.12, v + 0.08, GREEN)


def moon(pen: Pen, c: Colour) -> None:
    pen.ellipse(0.1, 0.05, 0.9, 0.85, c)
    for u, v, s in ((0.3, 0.25, 0.12), (0.55, 0.5, 0.08), (0.5, 0.2, 0.06)):
        pen.ellipse(u, v, u + s, v + s, shade(c, 0.85))  # craters


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
    "giraffe": giraffe,
    "frog": frog,
    "turtle": turtle,
    "snail": snail,
    "crocodile": crocodile,
    "octopus": octopus,
    "butterfly": butterfly,
    "person": person,
    "snowman": snowman,
    "robot": robot,
    "canoe": canoe,
    "tractor": tractor,
    "train": train,
    "airplane": airplane,
    "balloon": balloon,
    "board": board,
    "laptop": laptop,
    "camera": camera,
    "telephone": telephone,
    "toaster": toaster,
    "vacuum": vacuum,
    "telescope": telescope,
    "microphone": microphone,
    "tool": tool,
    "umbrella": umbrella,
    "kite": kite,
    "ball": ball,
    "book": book,
    "chessboard": chessboard,
    "ladder": ladder,
    "trampoline": trampoline,
    "chain": chain,
    "hat": hat,
    "cup": cup,
    "vase": vase,
    "bouquet": bouquet,
    "plate": plate,
    "bowl": bowl,
    "dish": dish,
    "piano": piano,
    "guitar": guitar,
    "accordion": accordion,
    "saxophone": saxophone,
    "carrot": carrot,
    "banana": banana,
    "mushroom": mushroom,
    "table": table,
    "bathtub": bathtub,
    "tower": tower,
    "city": city,
    "village": village,
    "windmill": windmill,
    "bridge": bridge,
    "temple": temple,
    "stall": stall,
    "pine": pine,
    "cactus": cactus,
    "flower": flower,
    "leaf": leaf,
    "branch": branch,
    "moon": moon,
    "blob": blob,
}
