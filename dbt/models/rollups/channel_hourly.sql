{{ config(unique_key='PERIOD_START') }}
-- Per UTC hour and channel: sums of CHANNEL_WINDOWS.
with periods as (
    {{ periods_cte('hour', [(source('pulse', 'CHANNEL_WINDOWS'), 'WINDOW_START')]) }}
)
select *, iff(AIR_HOURS > 0, WATCH_HOURS / AIR_HOURS, null) as AVG_VIEWERS
from ({{ sum_channels('hour', source('pulse', 'CHANNEL_WINDOWS')) }})
