"""Read a Letterboxd export: ``ratings.csv``, any single export CSV, or the whole export zip.

The result is a :class:`~recommender.export.LetterboxdExport`: one :class:`ExportFilm` per film,
merged across ratings.csv, watched.csv, watchlist.csv, diary.csv and likes/films.csv.

Everything a user uploads is untrusted. Any problem with the upload becomes an
:class:`~recommender.errors.ExportError` whose message is one line saying what is wrong and what
to do; no other exception type leaves :func:`read_export`.

What is never read: ``profile.csv`` (it holds the user's email), reviews, comments, lists and the
``deleted/`` and ``orphaned/`` folders of the zip, and zips nested inside the zip.

Files re-saved by a spreadsheet are accepted: ``;`` or tab delimiters, a UTF-8 BOM, CRLF line
ends, UTF-16 with a BOM, cp1252 bytes, and UTF-8 that was read as cp1252 and saved again
("AmÃ©lie", repaired to "Amélie" with ftfy).
"""

from recommender.letterboxd.messages import EXPORT_PATH as EXPORT_PATH
from recommender.letterboxd.parsed import FileKind as FileKind
from recommender.letterboxd.reader import read_export, read_export_file

__all__ = ["read_export", "read_export_file"]
