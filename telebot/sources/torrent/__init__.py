"""Torrents and magnets through in-process libtorrent (issue 12).

``session`` owns the one libtorrent session, ``source`` is the pipeline Source, ``download``
drives one torrent, ``safety`` checks file lists, ``resume`` keeps resume data, ``metainfo``
fetches .torrent files, ``choose`` is the ``-s`` file-selection interface.
"""
