"""The HTTP edge: the only package (with app.py) that imports aiohttp."""
