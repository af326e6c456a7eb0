"""Film-title normalisation shared by the Letterboxd side and the MovieLens side of matching.

Two titles are "the same" when their :func:`title_key` is equal. The key is deliberately
blunt: Unicode compatibility-decomposed (NFKD), accents stripped, case-folded, every dash,
colon, comma, bracket and quote turned into a space, apostrophes and single periods dropped,
"&" spelt "and", vulgar fractions spelt with a slash ("33⅓" is "33 1/3"), whitespace collapsed.

MovieLens writes titles its own way: a leading article goes last ("Matrix, The", "Boot, Das",
"Auberge espagnole, L'") and alternate titles follow in brackets ("High Tension (Haute tension)
(Switchblade Romance)", "Hidden (a.k.a. Cache) (Caché)"). :func:`movielens_aliases` turns one
such title into every name a person might know the film by, and :func:`export_name_variants`
does the same for a Letterboxd name that carries a bracket ("Yí (Endless River)").

:func:`loose_key` (numbers as digits, "Vol." and "Part One" dropped, no spaces) and
:func:`title_parts` (series name and subtitle apart) serve the weaker rules of matching, which
also require the same year.
"""

from __future__ import annotations

import functools
import re
import string
import sys
import unicodedata

# Leading articles MovieLens moves to the end of a title, in the languages it does this for.
# Elided forms (l', un') end with an apostrophe and join the next word without a space.
ARTICLES: frozenset[str] = frozenset(
    {
        # English
        "the", "a", "an",
        # French
        "le", "la", "les", "l'", "un", "une",
        # German
        "der", "die", "das", "den", "dem", "des", "ein", "eine",
        # Spanish
        "el", "los", "las", "una", "unos", "unas",
        # Italian
        "il", "lo", "i", "gli", "uno", "un'",
        # Portuguese
        "o", "os", "as", "um", "uma",
        # Dutch, Scandinavian
        "de", "het", "een", "en", "ett", "et", "det",
        # Hungarian
        "az",
    }
)  # fmt: skip

_APOSTROPHES = "'’‘`´ʼ′"
_ARTICLE_WORDS = "|".join(sorted((a for a in ARTICLES if not a.endswith("'")), key=len))
_ELIDED = "|".join(a[:-1] for a in ARTICLES if a.endswith("'"))
_ELIDED_INITIALS = frozenset(a[0] for a in ARTICLES if a.endswith("'"))
# "Matrix, The" / "Auberge espagnole, L'" : the article is the last comma-separated word.
_ARTICLE_LAST = re.compile(
    rf",\s*(?P<art>(?:{_ARTICLE_WORDS})|(?:(?:{_ELIDED})[{_APOSTROPHES}]))\s*$", re.IGNORECASE
)
# "The Matrix" / "L'Auberge espagnole": an article at the front, followed by more title.
_ARTICLE_FIRST = re.compile(
    rf"^\s*(?:(?:{_ARTICLE_WORDS})\s+|(?:{_ELIDED})[{_APOSTROPHES}]\s*)(?=\S)", re.IGNORECASE
)
_AKA = re.compile(r"^\s*(?:a\.k\.a\.|aka\.?|also known as)\s+", re.IGNORECASE)

# Vulgar fractions become " n/d" *with* a leading space, so that "33⅓" reads "33 1/3" rather
# than NFKD's "331⁄3". Superscripts and other compatibility forms are left to NFKD ("³" -> "3").
_FRACTIONS = {
    "½": " 1/2", "⅓": " 1/3", "⅔": " 2/3", "¼": " 1/4", "¾": " 3/4", "⅕": " 1/5",
    "⅖": " 2/5", "⅗": " 3/5", "⅘": " 4/5", "⅙": " 1/6", "⅚": " 5/6", "⅐": " 1/7",
    "⅛": " 1/8", "⅜": " 3/8", "⅝": " 5/8", "⅞": " 7/8", "⅑": " 1/9", "⅒": " 1/10",
    "↉": " 0/3", "⅟": " 1/",
}  # fmt: skip
# Letters NFKD does not decompose into a base letter plus accents (and an acute accent typed as
# an apostrophe, "Don´t").
_LETTERS = {
    "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D",
    "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ı": "i", "ħ": "h",
    "Ħ": "H", "×": "x", "´": "'",
}  # fmt: skip
_PRE_TABLE = str.maketrans({**_FRACTIONS, **_LETTERS})
# After case folding: apostrophes vanish ("don't" = "dont"), "&" is "and", every other ASCII
# punctuation mark is a space. Non-ASCII punctuation (dashes, curly quotes, CJK brackets) is
# caught by _NON_WORD.
_POST_TABLE = str.maketrans(
    {
        **{c: " " for c in string.punctuation if c != "."},
        **dict.fromkeys(_APOSTROPHES, ""),
        "&": " and ",
    }
)
# The part of _POST_TABLE that _NON_WORD does not already do (it makes every other punctuation
# mark a space): str.translate looks up every character of a non-ASCII string in the table,
# a regex finds the few that need it ten times faster.
_POST_MARKS = re.compile(f"[{re.escape(_APOSTROPHES)}&]")
_ASCII_TABLE = bytes.maketrans(
    "".join(c for c in string.punctuation if c not in "'`&.").encode("ascii"),
    b" " * (len(string.punctuation) - 4),
)
_ELLIPSIS = re.compile(r"\.{2,}")
_NON_WORD = re.compile(r"[^\w\s]|_")


@functools.cache
def _mark_candidates() -> re.Pattern[str]:
    """Combining marks of the BMP, or any character of the span beyond it that holds the
    others (U+101FD to U+1E94A, historic scripts): a bitmap and one range, so a search runs at
    C speed and a name without accents (CJK, Hangul, emoji) skips the per-character filter.
    Built on first use (0.2 s)."""
    ranges: list[str] = []
    start = -1
    for code in range(0x10001):
        if code < 0x10000 and unicodedata.combining(chr(code)):
            start = code if start < 0 else start
        elif start >= 0:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = -1
    beyond = [c for c in range(0x10000, sys.maxunicode + 1) if unicodedata.combining(chr(c))]
    if beyond:
        ranges.append(f"{re.escape(chr(beyond[0]))}-{re.escape(chr(beyond[-1]))}")
    return re.compile(f"[{''.join(ranges)}]")


def fold(text: str) -> str:
    """NFKD, accents stripped, case-folded; fractions spelt out. Punctuation is kept."""
    if text.isascii():
        return text.casefold()
    text = unicodedata.normalize("NFKD", text.translate(_PRE_TABLE).casefold())
    if _mark_candidates().search(text) is None:
        return text
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def _post_mark(match: re.Match[str]) -> str:
    return _POST_TABLE[ord(match.group())]


def title_key(text: str) -> str:
    """The comparison key of a title: equal keys mean the same title.

    >>> title_key("Star Wars: Episode III –\\u00a0Revenge of the Sith")
    'star wars episode iii revenge of the sith'
    >>> title_key("33⅓") == title_key("33 1/3")
    True
    """
    folded = fold(text)
    if "." in folded:  # "Tick, tick...BOOM!": an ellipsis separates, a period ("L.A.") does not
        folded = _ELLIPSIS.sub(" ", folded).replace(".", "")
    if folded.isascii():  # fast path, most titles: one byte-level translation
        if "&" in folded:
            folded = folded.replace("&", " and ")
        folded = folded.encode("ascii").translate(_ASCII_TABLE, b"'`").decode("ascii")
    else:
        folded = _NON_WORD.sub(" ", _POST_MARKS.sub(_post_mark, folded))
    key = " ".join(folded.split())
    if key:
        return key
    # A title made only of punctuation ("?", "..."): keep the punctuation, minus spacing.
    return " ".join(fold(text).split())


_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13",
    "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18",
    "nineteen": "19", "twenty": "20",
}  # fmt: skip
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10}
# Words after which a lone "i", "v" or "x" is a numeral ("Part I", "Episode V").
_SEQUEL_WORDS = frozenset({"part", "episode", "chapter", "book"})
# Words that carry no identity in a sequel title ("Vol. 2" = "Volume 2" = "2"; "and" = "&" = "+").
_NOISE_WORDS = frozenset({"vol", "volume", "and"})


def _roman(token: str) -> int | None:
    """The value of a roman numeral made of i, v, x (1 to 39), else ``None``."""
    if not token or len(token) > 6 or any(ch not in _ROMAN_VALUES for ch in token):
        return None
    total = 0
    for i, ch in enumerate(token):
        value = _ROMAN_VALUES[ch]
        nxt = _ROMAN_VALUES[token[i + 1]] if i + 1 < len(token) else 0
        total += -value if value < nxt else value
    return total if 1 <= total < 40 else None


def _all_romans() -> dict[str, str]:
    out: dict[str, str] = {}
    letters = "ivx"
    for length in range(2, 7):
        stack = [""]
        for _ in range(length):
            stack = [w + ch for w in stack for ch in letters]
        for word in stack:
            value = _roman(word)
            if value is not None and _to_roman(value) == word:
                out[word] = str(value)
    return out


def _to_roman(value: int) -> str:
    out = ""
    for number, numeral in ((10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while value >= number:
            out += numeral
            value -= number
    return out


# Tokens loose_key rewrites: number words, roman numerals of two letters or more ("ii" to
# "xxxix"), noise words (to ""). A lone "i", "v", "x" is handled apart.
_TOKEN_MAP: dict[str, str] = {**_NUMBER_WORDS, **_all_romans(), **dict.fromkeys(_NOISE_WORDS, "")}
_SPECIAL_TOKENS = frozenset({*_TOKEN_MAP, "i", "v", "x", "part"})


def loose_tokens(key: str) -> list[str]:
    """The words of :func:`loose_key` before they are joined."""
    tokens = key.split()
    if _SPECIAL_TOKENS.isdisjoint(tokens):
        return tokens
    out: list[str] = []
    for token in tokens:
        word = _TOKEN_MAP.get(token)
        if word is None and token in _ROMAN_VALUES and out and out[-1] in _SEQUEL_WORDS:
            word = str(_ROMAN_VALUES[token])
        if word != "":
            out.append(word or token)
    # "Fear Street Part One: 1994" is "Fear Street: 1994"; "Dead Reckoning Part One" is
    # "Dead Reckoning"; but "Deathly Hallows Part 2" keeps its number.
    i = 1
    while i < len(out) - 1:
        if out[i] == "part" and out[i + 1].isdigit() and (i + 2 < len(out) or out[i + 1] == "1"):
            del out[i : i + 2]
            continue
        i += 1
    return out or tokens


def loose_key(key: str) -> str:
    """A looser form of a :func:`title_key`, for matching *with* the same year only.

    Numbers are spelt as digits (``"iii"``, ``"three"`` -> ``"3"``; a lone ``"i"``, ``"v"``
    or ``"x"`` only after "part", "episode", "chapter" or "book"), "vol", "volume" and "and"
    are dropped, "part N" is dropped before a subtitle ("Fear Street Part One: 1994" is "Fear
    Street: 1994") and at the end when N is 1 ("Dead Reckoning Part One" is "Dead Reckoning"
    until there is a part two), and the spaces go ("Spider Man" = "Spiderman").
    """
    return "".join(loose_tokens(key)) or key


# Words too common to say two titles are alike.
_STOP_WORDS = frozenset({"the", "a", "an", "of", "in", "on", "to", "at"})


def significant_words(title: str) -> frozenset[str]:
    """The words of a title that tell films apart: its loose tokens without stop words."""
    return frozenset(loose_tokens(title_key(title))).difference(_STOP_WORDS)


def words_overlap(wa: frozenset[str], wb: frozenset[str]) -> float:
    """Jaccard overlap of two sets of :func:`significant_words` (0 to 1)."""
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def word_overlap(a: str, b: str) -> float:
    """Jaccard overlap of the significant words of two titles (0 to 1)."""
    return words_overlap(significant_words(a), significant_words(b))


def article_to_front(title: str) -> str:
    """Move a trailing article back to the front: ``"Matrix, The"`` -> ``"The Matrix"``.

    ``"Auberge espagnole, L'"`` gives ``"L'Auberge espagnole"``. Titles that do not end in
    ", <article>" come back unchanged.
    """
    m = _ARTICLE_LAST.search(title)
    if not m or m.start() == 0:
        return title
    article = m.group("art")
    rest = title[: m.start()].strip()
    joiner = "" if article[-1] in _APOSTROPHES else " "
    return f"{article}{joiner}{rest}"


def strip_leading_article(title: str) -> str:
    """``"The Matrix"`` -> ``"Matrix"``; a title that is only an article stays as it is."""
    first = title.lstrip()[:4].casefold()
    if not (first.split(" ", 1)[0] in ARTICLES or first[:1] in _ELIDED_INITIALS):
        return title  # fast path: the first word is no article
    return _ARTICLE_FIRST.sub("", title, count=1)


def split_brackets(title: str) -> tuple[str, list[str]]:
    """Split trailing bracket groups off a title: ``"A (B) (C)"`` -> ``("A", ["B", "C"])``.

    Only brackets at the end count, so "(500) Days of Summer" stays whole; nested brackets are
    kept inside their group. A title that is nothing but brackets is returned whole.
    """
    rest = title.rstrip()
    groups: list[str] = []
    while rest.endswith(")"):
        depth = 0
        start = -1
        for i in range(len(rest) - 1, -1, -1):
            ch = rest[i]
            if ch == ")":
                depth += 1
            elif ch == "(":
                depth -= 1
                if depth == 0:
                    start = i
                    break
        if start <= 0:
            break
        groups.append(rest[start + 1 : -1].strip())
        rest = rest[:start].rstrip()
    if not rest:
        return title.strip(), []
    groups.reverse()
    return rest, [g for g in groups if g]


def _unaka(alias: str) -> str:
    return _AKA.sub("", alias).strip()


def movielens_aliases(title: str) -> list[str]:
    """Every name a MovieLens title (year already removed) stands for, most literal first.

    ``"City of Lost Children, The (Cité des enfants perdus, La)"`` gives the whole string, the
    main title and the bracketed alternate, each also with its article moved back to the front:
    "The City of Lost Children", "La Cité des enfants perdus", ... "a.k.a." is dropped.
    """
    if "," not in title and not title.endswith(")"):
        return [title.strip()]  # most titles: no article moved last, no alternate
    main, alternates = split_brackets(title)
    forms = [title.strip(), main, *(_unaka(a) for a in alternates)]
    out: list[str] = []
    for form in forms:
        for variant in (form, article_to_front(form)):
            if variant and variant not in out:
                out.append(variant)
    return out


# Where a title splits into a series name and a subtitle: "Star Wars: Episode IV - A New Hope".
_PART_SEPARATOR = re.compile(r"\s*:\s+|\s+[-–—]+\s+")
# MovieLens titles have at most 3 separators; a name with more is no series and subtitle.
_MAX_CUTS = 6


def title_parts(title: str) -> list[str]:
    """The pieces of a title with a subtitle, for the weakest rule of matching.

    ``"Star Wars: Episode VII - The Force Awakens"`` gives every prefix ("Star Wars", "Star
    Wars: Episode VII"), every suffix ("Episode VII - The Force Awakens", "The Force Awakens")
    and the first piece with the last ("Star Wars: The Force Awakens"). A title without a
    separator gives nothing.
    """
    prefixes, others = split_parts(title)
    return list(dict.fromkeys(prefixes + others))


def split_parts(title: str) -> tuple[list[str], list[str]]:
    """:func:`title_parts` as (prefixes: the series name alone, the others: with a subtitle)."""
    text = title.strip()
    if ":" not in text and " -" not in text and "–" not in text and "—" not in text:
        return [], []
    cuts = [m for m in _PART_SEPARATOR.finditer(text) if m.start() > 0 and m.end() < len(text)]
    if len(cuts) > _MAX_CUTS:  # every piece is most of the name: its pieces cost its square
        return [], []
    prefixes = [text[: cut.start()] for cut in cuts]
    others = [text[cut.end() :] for cut in cuts]
    if len(cuts) > 1:
        others.append(f"{text[: cuts[0].start()]}: {text[cuts[-1].end() :]}")
    return prefixes, others


def export_name_variants(name: str) -> list[str]:
    """Names to try for a Letterboxd film, in order: the whole name, then without brackets.

    ``"Yí (Endless River)"`` gives ``["Yí (Endless River)", "Yí", "Endless River"]``; the last
    ones are only tried when the earlier ones find nothing.
    """
    whole = name.strip()
    if not whole.endswith(")"):
        return [whole]
    main, groups = split_brackets(whole)
    out = [whole]
    if not whole[len(main) : len(main) + 1].isspace():
        return out  # "Julia(s)": the bracket is part of the word, not an alternate title
    for variant in (main, *groups):
        if variant and variant not in out:
            out.append(variant)
    return out
