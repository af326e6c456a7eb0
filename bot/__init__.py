"""boxdrec's Discord layer: cogs that wire slash commands to ``recommender.service``.

The bot itself is tracked in issue 3; the recommender it calls is complete and usable from the
``boxdrec`` command line today.
"""
