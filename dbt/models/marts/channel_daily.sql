{{ config(unique_key='PERIOD_START') }}
-- Per UTC day and channel: sums of CHANNEL_WINDOWS, the day's main game, rank and rank change.
with periods as (
    {{ periods_cte('day', [(source('pulse', 'CHANNEL_WINDOWS'), 'WINDOW_START'),
                           (ref('int_channel_games_daily'), 'PERIOD_START')], and_next=true) }}
),
channels as (
    {{ sum_channels('day', source('pulse', 'CHANNEL_WINDOWS')) }}
),
main_games as ({{ main_game('day') }}),
{{ ranked_channels('day') }}
