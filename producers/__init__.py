"""Producers: the Helix poller, record and replay (DESIGN §3, §8; the Helix simulator is `devstack`'s)."""
