"""The chat front: the only package that uses python-telegram-bot."""
