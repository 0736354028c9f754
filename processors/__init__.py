"""Processors: the Quix Streams topology for windows, ranks and spike alerts (DESIGN §4, §5)."""
