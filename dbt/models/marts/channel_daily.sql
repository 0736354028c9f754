{{ config(unique_key='PERIOD_START') }}
-- Per UTC day and channel: sums of CHANNEL_WINDOWS, the day's main game, rank and rank change.
with periods as (
    {{ periods_cte('day', [(source('pulse', 'CHANNEL_WINDOWS'), 'WINDOW_START'),
                           (ref('int_channel_games_daily'), 'PERIOD_START')], and_next=true) }}
),
channels as (
    select
        date_trunc('day', WINDOW_START) as PERIOD_START,
        USER_ID,
        max_by(USER_LOGIN, WINDOW_START) as USER_LOGIN,
        max_by(USER_NAME, WINDOW_START) as USER_NAME,
        {{ hours_sum('WATCH_HOURS') }} as WATCH_HOURS,
        {{ hours_sum('AIR_HOURS') }} as AIR_HOURS,
        max(PEAK_VIEWERS) as PEAK_VIEWERS,
        count(*) as WINDOWS,
        max(INGESTED_AT) as INGESTED_AT
    from {{ source('pulse', 'CHANNEL_WINDOWS') }}
    where {{ in_periods('day') }}
    group by 1, 2
),
main_games as ({{ main_game('day') }}),
{{ ranked_channels('day') }}
