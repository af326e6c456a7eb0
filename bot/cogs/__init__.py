"""One module per feature; each has ``async def setup(bot)``. The list is bot.client.EXTENSIONS."""
