"""boxdrec's Discord layer: slash commands wired to ``recommender.service``.

``python -m bot`` runs it (see ``bot/__main__.py``); ``bot.client`` holds the Bot, ``bot.cogs``
the commands, ``bot.embeds``/``bot.views``/``bot.letterboxd_csv`` what users see.
"""
