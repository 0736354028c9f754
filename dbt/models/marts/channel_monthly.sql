{{ config(unique_key='PERIOD_START') }}
-- Per UTC month and channel: channel_daily's days added up, the month's main game, the days it
-- was live, rank and rank change.
with periods as (
    {{ periods_cte('month', [(ref('channel_daily'), 'PERIOD_START'),
                             (ref('int_channel_games_daily'), 'PERIOD_START')], and_next=true) }}
),
channels as (
    select
        date_trunc('month', PERIOD_START) as PERIOD_START,
        USER_ID,
        max_by(USER_LOGIN, PERIOD_START) as USER_LOGIN,
        max_by(USER_NAME, PERIOD_START) as USER_NAME,
        {{ hours_sum('WATCH_HOURS') }} as WATCH_HOURS,
        {{ hours_sum('AIR_HOURS') }} as AIR_HOURS,
        max(PEAK_VIEWERS) as PEAK_VIEWERS,
        sum(WINDOWS) as WINDOWS,
        count(*) as DAYS_LIVE,
        max(INGESTED_AT) as INGESTED_AT
    from {{ ref('channel_daily') }}
    where {{ in_periods('month', 'PERIOD_START') }}
    group by 1, 2
),
main_games as ({{ main_game('month') }}),
{{ ranked_channels('month', ['DAYS_LIVE']) }}
