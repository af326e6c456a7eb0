"""boxdrec's recommender core: Letterboxd import, MovieLens matching, NMF training and fold-in.

This package never imports discord; the bot, the CLI and the evaluation all call
:class:`recommender.service.RecommenderService`.
"""

__version__ = "0.1.0"
