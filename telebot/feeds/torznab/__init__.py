"""Torrent search through Torznab (Jackett, Prowlarr): :mod:`.categories` maps ``-cat`` words to
category ids, :mod:`.parse` reads an answer safely, :mod:`.client` asks every configured indexer in
parallel, :mod:`.results` keeps the answers of recent searches for their buttons. The protocol
facts are in docs/FEEDS.md. Nothing here knows Telegram: the chat side is
``telebot/bot/handlers/search.py``, and a result becomes a task only through the intake."""
