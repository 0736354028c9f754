{{ config(unique_key='PERIOD_START') }}
-- Per UTC day, channel and game: the windows in which the game was the channel's main game
-- (CHANNEL_WINDOWS.GAME_ID, the most air time in the window), with their air and watch hours.
-- Distinct channels per game and a channel's main game of a day or month come from here, at a
-- small fraction of CHANNEL_WINDOWS' rows.
with periods as (
    {{ periods_cte('day', [(source('pulse', 'CHANNEL_WINDOWS'), 'WINDOW_START')]) }}
),
windows as (
    select * from {{ source('pulse', 'CHANNEL_WINDOWS') }}
    where {{ in_periods('day') }}
)
select
    date_trunc('day', WINDOW_START) as PERIOD_START,
    USER_ID,
    GAME_ID,
    max_by(GAME_NAME, WINDOW_START) as GAME_NAME,
    {{ hours_sum('AIR_HOURS') }} as AIR_HOURS,
    {{ hours_sum('WATCH_HOURS') }} as WATCH_HOURS,
    count(*) as WINDOWS,
    max(WINDOW_START) as LAST_WINDOW_START,
    max(INGESTED_AT) as INGESTED_AT
from windows
group by 1, 2, 3
