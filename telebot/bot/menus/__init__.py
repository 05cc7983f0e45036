"""Button menus (callback queries routed by pattern)."""
