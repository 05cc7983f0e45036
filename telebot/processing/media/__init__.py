"""Media helpers for leech: byte and keyframe splits, upload attributes, /mediainfo."""
