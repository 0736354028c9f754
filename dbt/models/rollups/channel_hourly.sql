{{ config(unique_key='PERIOD_START') }}
-- Per UTC hour and channel: sums of CHANNEL_WINDOWS.
with periods as (
    {{ periods_cte('hour', [(source('pulse', 'CHANNEL_WINDOWS'), 'WINDOW_START')]) }}
)
select
    date_trunc('hour', WINDOW_START) as PERIOD_START,
    USER_ID,
    max_by(USER_LOGIN, WINDOW_START) as USER_LOGIN,
    max_by(USER_NAME, WINDOW_START) as USER_NAME,
    {{ hours_sum('WATCH_HOURS') }} as WATCH_HOURS,
    {{ hours_sum('AIR_HOURS') }} as AIR_HOURS,
    iff({{ hours_sum('AIR_HOURS') }} > 0, {{ hours_sum('WATCH_HOURS') }} / {{ hours_sum('AIR_HOURS') }}, null) as AVG_VIEWERS,
    max(PEAK_VIEWERS) as PEAK_VIEWERS,
    count(*) as WINDOWS,
    max(INGESTED_AT) as INGESTED_AT
from {{ source('pulse', 'CHANNEL_WINDOWS') }}
where {{ in_periods('hour') }}
group by 1, 2
