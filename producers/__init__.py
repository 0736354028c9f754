"""Producers: the Helix poller, the Helix simulator, record and replay (DESIGN §3, §8)."""
