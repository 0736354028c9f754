{{ config(unique_key='PERIOD_START') }}
-- Per UTC month and game: game_daily's days added up (a month's sums are its windows' sums),
-- distinct channels over the month (from CHANNEL_WINDOWS), rank and rank change.
with periods as (
    {{ periods_cte('month', [(ref('game_daily'), 'PERIOD_START'),
                             (ref('int_channel_games_daily'), 'PERIOD_START')], and_next=true) }}
),
days as (
    select * from {{ ref('game_daily') }} where {{ in_periods('month', 'PERIOD_START') }}
),
channels as (
    select * from {{ ref('int_channel_games_daily') }} where {{ in_periods('month', 'PERIOD_START') }}
),
sums as ({{ sum_windows('month', 'GAME_ID', ['GAME_NAME'], rows='days', time='PERIOD_START', windows='sum(WINDOWS)') }}),
covered as (
    select date_trunc('month', PERIOD_START) as PERIOD_START, {{ hours_sum('COVERED_HOURS') }} as COVERED_HOURS
    from (select distinct PERIOD_START, COVERED_HOURS from days)
    group by 1
),
distinct_channels as ({{ distinct_channels('month', 'GAME_ID') }}),
{{ ranked_period_sums('month', 'GAME_ID', ['GAME_NAME']) }}
