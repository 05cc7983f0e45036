"""Command handlers: parse, hand to intake or the engine, reply."""
