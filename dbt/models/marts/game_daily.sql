{{ config(unique_key='PERIOD_START') }}
-- Per UTC day and game: sums of GAME_WINDOWS, distinct channels (from CHANNEL_WINDOWS: a
-- channel counts for the game it showed most in a window), rank and rank change.
with periods as (
    {{ periods_cte('day', [(source('pulse', 'GAME_WINDOWS'), 'WINDOW_START'),
                           (ref('int_channel_games_daily'), 'PERIOD_START')], and_next=true) }}
),
windows as (
    select * from {{ source('pulse', 'GAME_WINDOWS') }} where {{ in_periods('day') }}
),
channels as (
    select * from {{ ref('int_channel_games_daily') }} where {{ in_periods('day', 'PERIOD_START') }}
),
sums as ({{ sum_windows('day', 'GAME_ID', ['GAME_NAME']) }}),
covered as ({{ covered_hours('day') }}),
distinct_channels as ({{ distinct_channels('day', 'GAME_ID') }}),
{{ ranked_period_sums('day', 'GAME_ID', ['GAME_NAME']) }}
