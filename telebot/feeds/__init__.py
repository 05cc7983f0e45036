"""Work that enters from outside a chat command: RSS subscriptions (feeds/rss/) and torrent search (feeds/torznab/)."""
