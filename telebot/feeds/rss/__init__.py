"""RSS and Atom subscriptions (/rss): feeds polled on a timer whose new items become tasks.

``filters`` (which titles an item must and must not have), ``fetch`` (the feed's bytes through
the guarded HTTP layer, conditional GET), ``items`` (feedparser over those bytes), ``book`` (the
subscriptions and the items already seen, in the bot's SQLite store), ``service`` (what /rss
does and what one check of a feed does) and ``poller`` (the thread that checks feeds when due).
Every item's task enters through :meth:`telebot.intake.desk.Intake.submit`, as its subscriber.
"""
