{{ config(unique_key='PERIOD_START') }}
-- Per UTC month and channel: channel_daily's days added up, the month's main game, the days it
-- was live, rank and rank change.
with periods as (
    {{ periods_cte('month', [(ref('channel_daily'), 'PERIOD_START'),
                             (ref('int_channel_games_daily'), 'PERIOD_START')], and_next=true) }}
),
channels as (
    {{ sum_channels('month', ref('channel_daily'), time='PERIOD_START', windows='sum(WINDOWS)',
                    extra=['count(*) as DAYS_LIVE']) }}
),
main_games as ({{ main_game('month') }}),
{{ ranked_channels('month', ['DAYS_LIVE']) }}
