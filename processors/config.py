"""The processor's parameters in the units it computes with (integer milliseconds)."""

from __future__ import annotations

from dataclasses import dataclass

from pulse.settings import Settings

FINAL_WATERMARK = 2**62  # "the source has ended": every window may close


@dataclass(frozen=True)
class ProcessorConfig:
    window_ms: int          # W, tumbling window width
    grace_ms: int           # how long after a window's last poll it still accepts late samples
    interval_ms: int        # I, nominal poll interval
    top_n: int
    threshold_viewers: int  # T
    surge_min_viewers: int  # M
    surge_ratio: float      # R
    game_surge_min_viewers: int  # M_g
    baseline_ms: int        # baseline period (15 min)
    cooldown_ms: int

    @property
    def cap_ms(self) -> int:
        """Δ is clamped to 2·I: a longer gap is a missed poll, not air time."""
        return 2 * self.interval_ms

    @classmethod
    def from_settings(cls, settings: Settings) -> "ProcessorConfig":
        return cls(
            window_ms=settings.processor.window_seconds * 1000,
            grace_ms=settings.processor.window_grace_seconds * 1000,
            interval_ms=settings.producer.poll_interval_seconds * 1000,
            top_n=settings.processor.top_n,
            threshold_viewers=settings.processor.alert_threshold_viewers,
            surge_min_viewers=settings.processor.surge_min_viewers,
            surge_ratio=settings.processor.surge_ratio,
            game_surge_min_viewers=settings.processor.game_surge_min_viewers,
            baseline_ms=settings.processor.surge_baseline_seconds * 1000,
            cooldown_ms=settings.processor.alert_cooldown_seconds * 1000,
        )

    def window_start(self, t_ms: int) -> int:
        return t_ms - t_ms % self.window_ms

    def last_complete_window(self, watermark_ms: int) -> int:
        """Start of the newest window that a partition watermark completes.

        A window [s, s+W) is complete once the next poll after the watermark (at least
        watermark + I) lies at or beyond its end plus grace: no sample for it can follow.
        """
        return self.window_start(watermark_ms + self.interval_ms - self.grace_ms) - self.window_ms

    def window_complete(self, start_ms: int, watermark_ms: int) -> bool:
        return start_ms <= self.last_complete_window(watermark_ms)
