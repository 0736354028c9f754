{{ config(unique_key='PERIOD_START') }}
-- Per UTC hour and game: game_daily's columns an hour at a time (distinct channels straight
-- from CHANNEL_WINDOWS).
with periods as (
    {{ periods_cte('hour', [(source('pulse', 'GAME_WINDOWS'), 'WINDOW_START'),
                            (source('pulse', 'CHANNEL_WINDOWS'), 'WINDOW_START')], and_next=true) }}
),
windows as (
    select * from {{ source('pulse', 'GAME_WINDOWS') }} where {{ in_periods('hour') }}
),
channels as (
    select * from {{ source('pulse', 'CHANNEL_WINDOWS') }} where {{ in_periods('hour') }}
),
sums as ({{ sum_windows('hour', 'GAME_ID', ['GAME_NAME']) }}),
covered as ({{ covered_hours('hour') }}),
distinct_channels as ({{ distinct_channels('hour', 'GAME_ID', time='WINDOW_START') }}),
{{ ranked_period_sums('hour', 'GAME_ID', ['GAME_NAME']) }}
