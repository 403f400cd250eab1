"""Pseudonyms on the public leaderboard: one name per look, no invisible tricks, nothing offensive.

What a player types goes through `clean_pseudonym`:

1. Unicode NFKC normalisation (full-width ``ＡＢＣ`` and ligatures become ``ABC``; the many
   spaces of Unicode become one).
2. Invisible characters are removed: Unicode's default-ignorable code points (zero-width
   spaces and joiners, the Hangul fillers that render blank, variation selectors, soft hyphens)
   and every control, format, private-use or unassigned character. Runs of spaces become one.
3. What is left must be 1-24 characters with at least one letter or digit (a name of blanks,
   dots or braille blanks is refused).
4. Letters of different scripts that look alike (a Cyrillic ``С`` in a Latin ``Clever``) are
   refused: Unicode's confusables data (`confusable_homoglyphs`).
5. Offensive names are refused: glin-profanity's word lists for every language it ships (the
   lists live inside the package; nothing is downloaded), with its leetspeak and look-alike
   folding, on the whole name and on each of its words (``FuckFace`` is two words to a reader).
6. A name is taken when its *key* is (`pseudonym_key`, unique in the database): every
   character that can pass for an ASCII letter or digit replaced by it, case folded, and the
   ASCII look-alikes ``l``/``I``/``1`` and ``O``/``0`` made one, so ``CleverOtter``,
   ``cleverotter``, ``CIeverOtter`` (capital i), ``C1ever0tter`` and ``Сlever`` with a Cyrillic
   ``С`` are one name.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from pathlib import Path

import regex
from confusable_homoglyphs import confusables

from .errors import ServiceError

PSEUDONYM_MAX = 24
#: characters that never show: default-ignorable code points and every "other" category
#: (controls, format characters, surrogates, private use, unassigned)
_INVISIBLE = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{C}]+")
_SPACES = regex.compile(r"\s+")
_VISIBLE = regex.compile(r"[\p{L}\p{N}]")
#: the words a reader sees in a name: CamelCase parts, runs of letters (with the digits and
#: symbols leetspeak uses inside a word), numbers split off at the end
_WORDS = regex.compile(r"\p{Lu}?[\p{Ll}0-9@$!|]+|\p{Lu}+(?!\p{Ll})|\p{L}+")


def _control_class() -> str:
    """A regex character class body of every control, format and private-use character of the
    Basic Multilingual Plane (Unicode categories Cc, Cf, Co): invisible or direction-changing
    characters that would let a pseudonym impersonate another on the leaderboard. (Unpaired
    surrogates never get this far: `api.errors.json_body` refuses them as invalid text.)"""
    def escape(code: int) -> str:
        return f"\\u{code:04x}"

    parts = []
    for category in ("Cc", "Cf", "Co"):
        codes = [c for c in range(0x10000) if unicodedata.category(chr(c)) == category]
        start = codes[0]
        for prev, cur in zip(codes, codes[1:] + [None]):
            if cur != prev + 1:
                parts.append(escape(start) if start == prev else f"{escape(start)}-{escape(prev)}")
                start = cur
    return "".join(parts)


_C = _control_class()
#: The OpenAPI schema's description of a pseudonym: 1-24 characters after trimming surrounding
#: whitespace, none of them a control or format character. `clean_pseudonym` checks more
#: (invisible letters, look-alikes, offensive words, names taken), which a schema cannot say.
PSEUDONYM_PATTERN = rf"^\s*[^\s{_C}](?:[^{_C}]{{0,{PSEUDONYM_MAX - 2}}}[^\s{_C}])?\s*$"


def clean_pseudonym(value: object) -> str:
    """The pseudonym as it will be stored and shown, or `ServiceError` (400) saying why not.
    Uniqueness is checked where the name is stored (`pseudonym_key`)."""
    if not isinstance(value, str):
        raise ServiceError("pseudonym must be a string")
    name = unicodedata.normalize("NFKC", value)
    name = _INVISIBLE.sub("", _SPACES.sub(" ", name)).strip()
    if not 1 <= len(name) <= PSEUDONYM_MAX or not _VISIBLE.search(name):
        raise ServiceError(f"pseudonym must be 1-{PSEUDONYM_MAX} visible characters with at least "
                           "one letter or digit")
    if confusables.is_dangerous(name):
        raise ServiceError("pseudonym mixes look-alike letters of different scripts")
    if is_offensive(name):
        raise ServiceError("please choose another pseudonym")
    return name


@functools.lru_cache(maxsize=1)
def _profanity_filter():  # noqa: ANN202 - glin_profanity.Filter
    from glin_profanity import Filter

    return Filter({"all_languages": True, "detect_leetspeak": True})


def is_offensive(name: str) -> bool:
    """Whether glin-profanity finds an offensive word in the name or in one of its words."""
    check = _profanity_filter().is_profane
    return check(name) or any(check(word) for word in _WORDS.findall(name))


#: ASCII characters that read alike once case is ignored: ``l``, ``I`` (hence ``i`` and ``L``) and
#: ``1`` (and ``|``); ``O``, ``o`` and ``0``
_ASCII_LOOKALIKES = str.maketrans({"1": "l", "L": "l", "I": "l", "i": "l", "|": "l",
                                   "0": "o", "O": "o"})


@functools.lru_cache(maxsize=1)
def _ascii_for() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letter or digit it can pass for, from Unicode's
    confusables data as confusable_homoglyphs ships it (Cyrillic ``С`` -> ``C``, Greek ``ο`` ->
    ``o``, ...)."""
    data = json.loads((Path(confusables.__file__).parent / "confusables.json").read_text("utf-8"))
    mapping: dict[str, str] = {}
    for char, alternatives in data.items():
        if len(char) != 1 or char.isascii():
            continue
        for alternative in alternatives:
            other = alternative["c"].replace("\u200e", "")
            if len(other) == 1 and other.isascii() and other.isalnum():
                mapping[char] = other
                break
    return mapping


def pseudonym_key(name: str) -> str:
    """What makes two pseudonyms the same name to a reader: characters that can pass for an
    ASCII letter or digit become it, case is ignored, and ``l``/``I``/``1`` and ``O``/``0`` are
    one character each."""
    ascii_for = _ascii_for()
    plain = "".join(ascii_for.get(char, char) for char in name)
    return plain.translate(_ASCII_LOOKALIKES).casefold().translate(_ASCII_LOOKALIKES)[:64]
