"""Product pictures drawn here, one SVG per product: the seed's image URLs point nowhere and
no request may leave the machine. The drawing depends only on the SKU, the name and the
first category, so it is the same on every instance and can be cached for long."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from xml.sax.saxutils import escape

# One motif per seed category: simple shapes in a 400x300 picture, drawn in white.
MOTIFS = {
    "books": '<rect x="150" y="70" width="100" height="130" rx="6"/>'
    '<rect x="160" y="80" width="8" height="110" opacity="0.5"/>',
    "electronics": '<rect x="135" y="80" width="130" height="90" rx="10"/>'
    '<rect x="185" y="175" width="30" height="20"/>',
    "kitchen": '<circle cx="200" cy="135" r="55"/>'
    '<rect x="255" y="125" width="60" height="16" rx="8"/>',
    "outdoor": '<polygon points="120,200 190,80 260,200"/>'
    '<polygon points="200,200 250,120 300,200"/>',
    "garden-tools": '<path d="M200 200 C140 170 140 100 200 70 C260 100 260 170 200 200 Z"/>',
    "home-office": '<rect x="130" y="150" width="140" height="14" rx="4"/>'
    '<rect x="150" y="164" width="10" height="40"/><rect x="240" y="164" width="10" height="40"/>'
    '<rect x="160" y="90" width="80" height="55" rx="4"/>',
}
DEFAULT_MOTIF = '<rect x="150" y="80" width="100" height="100" rx="14"/>'


@dataclass(frozen=True)
class Picture:
    sku: str
    name: str
    category: str


def hue_of(sku: str) -> int:
    return int.from_bytes(hashlib.sha256(sku.encode()).digest()[:2], "big") % 360


def initials(name: str) -> str:
    """Up to three capitals from the name's words that start with a letter."""
    letters = [word[0] for word in name.split() if word[:1].isalpha()]
    return "".join(letters[:3]).upper() or "?"


def product_svg(picture: Picture) -> str:
    # Dark enough (HSL lightness 30%) that white text on it passes WCAG AA.
    hue = hue_of(picture.sku)
    background = f"hsl({hue} 45% 30%)"
    accent = f"hsl({(hue + 40) % 360} 50% 40%)"
    motif = MOTIFS.get(picture.category, DEFAULT_MOTIF)
    title = escape(picture.name)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" width="400" '
        f'height="300" role="img" aria-label="{escape(picture.name, {chr(34): "&quot;"})}">'
        f"<title>{title}</title>"
        f'<rect width="400" height="300" fill="{background}"/>'
        f'<circle cx="340" cy="50" r="90" fill="{accent}"/>'
        f'<g fill="#ffffff" opacity="0.9">{motif}</g>'
        '<text x="200" y="265" text-anchor="middle" font-family="system-ui, sans-serif" '
        f'font-size="40" font-weight="700" fill="#ffffff">{escape(initials(picture.name))}</text>'
        "</svg>"
    )


class PictureCache:
    """What the pages have seen of each product's picture, so the image route seldom asks
    the catalog: a listing's twenty images would otherwise be twenty API calls."""

    def __init__(self, capacity: int = 2000) -> None:
        self._capacity = capacity
        self._pictures: OrderedDict[str, Picture] = OrderedDict()

    def remember(self, picture: Picture) -> None:
        self._pictures[picture.sku] = picture
        self._pictures.move_to_end(picture.sku)
        while len(self._pictures) > self._capacity:
            self._pictures.popitem(last=False)

    def get(self, sku: str) -> Picture | None:
        return self._pictures.get(sku)
