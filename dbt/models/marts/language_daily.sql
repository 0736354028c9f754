{{ config(unique_key='PERIOD_START') }}
-- Per UTC day and language: sums of LANGUAGE_WINDOWS, distinct channels (from STREAM_WINDOWS:
-- a channel counts for each language its streams showed at the end of a window), rank and
-- rank change.
with periods as (
    {{ periods_cte('day', [(source('pulse', 'LANGUAGE_WINDOWS'), 'WINDOW_START'),
                           (source('pulse', 'STREAM_WINDOWS'), 'WINDOW_START')], and_next=true) }}
),
windows as (
    select * from {{ source('pulse', 'LANGUAGE_WINDOWS') }} where {{ in_periods('day') }}
),
channels as (
    select * from {{ source('pulse', 'STREAM_WINDOWS') }} where {{ in_periods('day') }}
),
sums as ({{ sum_windows('day', 'LANGUAGE') }}),
covered as ({{ covered_hours('day') }}),
distinct_channels as ({{ distinct_channels('day', 'LANGUAGE', time='WINDOW_START') }}),
{{ ranked_period_sums('day', 'LANGUAGE') }}
