"""Title normalisation: keys, articles, brackets, loose keys and subtitle parts (no data needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recommender.titles import (
    article_to_front,
    export_name_variants,
    loose_key,
    movielens_aliases,
    split_brackets,
    strip_leading_article,
    title_key,
    title_parts,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Amélie", "Amelie"),  # accents
        ("ÉCOLE", "école"),  # case
        ("Mädchen in Uniform", "Madchen in Uniform"),
        ("Smultronstället", "Smultronstallet"),
        ("Æon Flux", "Aeon Flux"),  # letters NFKD cannot split
        ("Ødegaard", "Odegaard"),
        ("Die Blechtrommel – Ein Film", "Die Blechtrommel - Ein Film"),  # en dash
        (
            "Star Wars: Episode III –\u00a0Revenge of the Sith",
            "Star Wars: Episode III - Revenge of the Sith",
        ),
        ("A\u2014B", "A-B"),  # em dash
        ("A\u2010B", "A - B"),  # Unicode hyphen
        ("The Naked Gun 33⅓", "The Naked Gun 33 1/3"),  # vulgar fraction after a digit
        ("8½", "8 1/2"),
        ("Alien³", "Alien3"),  # superscript
        ("Tom & Viv", "Tom and Viv"),
        ("Don’t Look Up", "Don't Look Up"),  # curly apostrophe
        ("Don't Look Up", "Dont Look Up"),
        ("Monsters, Inc.", "Monsters Inc"),
        ("L.A. Confidential", "LA Confidential"),
        ("Tick, tick...BOOM!", "Tick Tick Boom"),  # an ellipsis separates words
        ("Tick, tick…BOOM!", "tick tick boom"),
        ("What’s Up,  Doc?", "whats up doc"),  # whitespace collapsed
        ("\u00a0Heat\t", "heat"),
        ("Frost/Nixon", "Frost Nixon"),
        ("“Quoted”", "Quoted"),
    ],
)
def test_title_key_equal(a: str, b: str) -> None:
    assert title_key(a) == title_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Heat", "Heath"),
        ("Alien", "Aliens"),
        ("33 1/3", "331/3"),  # a fraction keeps its space, so these stay apart
        ("Don't Look Up", "Don Look Up"),
    ],
)
def test_title_key_different(a: str, b: str) -> None:
    assert title_key(a) != title_key(b)


def test_title_key_exact_forms() -> None:
    assert title_key("Star Wars: Episode III –\u00a0Revenge of the Sith") == (
        "star wars episode iii revenge of the sith"
    )
    assert title_key("The Naked Gun 33⅓: The Final Insult") == (
        "the naked gun 33 1 3 the final insult"
    )
    assert title_key("Dìdi (弟弟)") == "didi 弟弟"  # CJK letters are kept
    assert title_key("?") == "?"  # a title of punctuation only keeps it
    assert title_key("") == ""


@given(st.text(max_size=60))
def test_title_key_never_fails_and_is_tidy(text: str) -> None:
    key = title_key(text)
    assert key == key.strip()
    assert "  " not in key


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_title_key_ignores_ascii_case(text: str) -> None:
    assert title_key(text.upper()) == title_key(text.lower())


@pytest.mark.parametrize(
    ("movielens", "front"),
    [
        ("Matrix, The", "The Matrix"),
        ("Boot, Das", "Das Boot"),
        ("Cité des enfants perdus, La", "La Cité des enfants perdus"),
        ("Enfer, L'", "L'Enfer"),
        ("Auberge espagnole, L’", "L’Auberge espagnole"),
        ("Lord of the Rings: The Two Towers, The", "The Lord of the Rings: The Two Towers"),
        ("Vitelloni, I", "I Vitelloni"),
        ("Heat", "Heat"),
        ("Crouching Tiger, Hidden Dragon", "Crouching Tiger, Hidden Dragon"),
        (", The", ", The"),
    ],
)
def test_article_to_front(movielens: str, front: str) -> None:
    assert article_to_front(movielens) == front


@pytest.mark.parametrize(
    ("title", "bare"),
    [
        ("The Matrix", "Matrix"),
        ("L'Enfer", "Enfer"),
        ("Das Boot", "Boot"),
        ("A Bug's Life", "Bug's Life"),
        ("The", "The"),  # nothing would be left
        ("Theodora", "Theodora"),
        ("Heat", "Heat"),
    ],
)
def test_strip_leading_article(title: str, bare: str) -> None:
    assert strip_leading_article(title) == bare


def test_split_brackets() -> None:
    assert split_brackets("High Tension (Haute tension) (Switchblade Romance)") == (
        "High Tension",
        ["Haute tension", "Switchblade Romance"],
    )
    assert split_brackets("(500) Days of Summer") == ("(500) Days of Summer", [])
    assert split_brackets("A (B (C)) (D)") == ("A", ["B (C)", "D"])
    assert split_brackets("(Untitled)") == ("(Untitled)", [])
    assert split_brackets("Broken (") == ("Broken (", [])


def test_movielens_aliases_cover_alternates_and_articles() -> None:
    aliases = movielens_aliases("City of Lost Children, The (Cité des enfants perdus, La)")
    keys = {title_key(a) for a in aliases}
    assert {"the city of lost children", "la cite des enfants perdus"} <= keys
    assert title_key("City of Lost Children, The (Cité des enfants perdus, La)") in keys

    keys = {
        title_key(a)
        for a in movielens_aliases("High Tension (Haute tension) (Switchblade Romance)")
    }
    assert {"high tension", "haute tension", "switchblade romance"} <= keys

    keys = {title_key(a) for a in movielens_aliases("Hidden (a.k.a. Cache) (Caché)")}
    assert {"hidden", "cache"} <= keys
    assert not any(k.startswith("aka") for k in keys)

    assert movielens_aliases("Heat") == ["Heat"]


def test_export_name_variants() -> None:
    assert export_name_variants("Yí (Endless River)") == [
        "Yí (Endless River)",
        "Yí",
        "Endless River",
    ]
    assert export_name_variants("Dìdi (弟弟)") == ["Dìdi (弟弟)", "Dìdi", "弟弟"]
    assert export_name_variants("Julia(s)") == ["Julia(s)"]  # the bracket is part of the word
    assert export_name_variants("(500) Days of Summer") == ["(500) Days of Summer"]
    assert export_name_variants("Heat") == ["Heat"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Men in Black 3", "Men in Black III"),
        ("Ocean's Eight", "Ocean's 8"),
        ("Guardians of the Galaxy Vol. 2", "Guardians of the Galaxy 2"),
        ("Guardians of the Galaxy Vol. 3", "Guardians of the Galaxy Volume 3"),
        ("Avengers: Infinity War", "Avengers: Infinity War - Part I"),
        ("Fear Street: 1994", "Fear Street Part One: 1994"),
        ("Friday the 13th: A New Beginning", "Friday the 13th Part V: A New Beginning"),
        ("Oldboy", "Old Boy"),
        ("Romeo + Juliet", "Romeo & Juliet"),
    ],
)
def test_loose_key_equal(a: str, b: str) -> None:
    assert loose_key(title_key(a)) == loose_key(title_key(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "Harry Potter and the Deathly Hallows: Part 1",
            "Harry Potter and the Deathly Hallows: Part 2",
        ),
        ("Kill Bill: Vol. 1", "Kill Bill: Vol. 2"),
        ("I, Robot", "1 Robot"),  # a lone "i" is a numeral only after "part", "episode" ...
        ("Rocky II", "Rocky III"),
    ],
)
def test_loose_key_different(a: str, b: str) -> None:
    assert loose_key(title_key(a)) != loose_key(title_key(b))


def test_title_parts() -> None:
    parts = title_parts("Star Wars: Episode VII - The Force Awakens")
    assert {"Star Wars", "The Force Awakens", "Star Wars: The Force Awakens"} <= set(parts)
    assert title_parts("Glass Onion: A Knives Out Mystery") == [
        "Glass Onion",
        "A Knives Out Mystery",
    ]
    assert title_parts("Heat") == []
    assert title_parts("Spider-Man") == []  # a hyphen inside a word is no separator
    assert title_parts(": Nothing before") == []
