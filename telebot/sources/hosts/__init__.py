"""File-host share links (MediaFire, Pixeldrain, Google Drive, ...): one resolver per host; the
contract is in :mod:`telebot.sources.hosts.base`."""
