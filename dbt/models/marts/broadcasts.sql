{{ config(unique_key='STREAM_ID') }}
-- One row per broadcast (stream_id), rolled up from STREAM_WINDOWS. A build recomputes the
-- streams with window rows new to it (from all their windows) and re-judges every broadcast
-- not yet ended: ENDED once the stream has been unseen for more than 2 x the poll interval
-- after the newest poll (the newest LAST_SEEN of STREAM_WINDOWS).
with
{% if is_incremental() %}
fresh as (
    select STREAM_ID, min(WINDOW_START) as SINCE
    from {{ source('pulse', 'STREAM_WINDOWS') }}
    where INGESTED_AT > {{ ingested_since() }}
    group by STREAM_ID
),
touched as (
    -- a stream's earlier windows start no earlier than a day before its known first sample
    select f.STREAM_ID, least(f.SINCE, coalesce(dateadd(day, -1, b.FIRST_SEEN), f.SINCE)) as SINCE
    from fresh f
    left join {{ this }} b on b.STREAM_ID = f.STREAM_ID
),
{% endif %}
windows as (
    select w.*
    from {{ source('pulse', 'STREAM_WINDOWS') }} w
    {%- if is_incremental() %}
    join touched t on t.STREAM_ID = w.STREAM_ID and w.WINDOW_START >= t.SINCE
    where w.WINDOW_START >= (select min(SINCE) from touched)
    {%- endif %}
),
streams as (
    select
        STREAM_ID,
        max_by(USER_ID, LAST_SEEN) as USER_ID,
        max_by(USER_LOGIN, LAST_SEEN) as USER_LOGIN,
        max_by(USER_NAME, LAST_SEEN) as USER_NAME,
        max_by(STARTED_AT, LAST_SEEN) as STARTED_AT,
        min(FIRST_SEEN) as FIRST_SEEN,
        max(LAST_SEEN) as LAST_SEEN,
        {{ hours_sum('WATCH_HOURS') }} as WATCH_HOURS,
        {{ hours_sum('AIR_HOURS') }} as AIR_HOURS,
        max(PEAK_VIEWERS) as PEAK_VIEWERS,
        min(iff(PEAK_VIEWERS = STREAM_PEAK, PEAK_AT, null)) as PEAK_AT,
        max(GAMES) as MOST_GAMES_IN_A_WINDOW,
        max_by(TITLE, LAST_SEEN) as TITLE,
        max_by(LANGUAGE, LAST_SEEN) as LANGUAGE,
        max_by(IS_MATURE, LAST_SEEN) as IS_MATURE,
        sum(SAMPLES) as SAMPLES,
        count(*) as WINDOWS,
        max(INGESTED_AT) as INGESTED_AT
    from (select *, max(PEAK_VIEWERS) over (partition by STREAM_ID) as STREAM_PEAK from windows)
    group by STREAM_ID
),
stream_games as (
    -- each window's main game with that window's air hours
    select
        STREAM_ID,
        GAME_ID,
        max_by(GAME_NAME, LAST_SEEN) as GAME_NAME,
        {{ hours_sum('AIR_HOURS') }} as AIR_HOURS,
        max(LAST_SEEN) as LAST_SEEN,
        count(*) over (partition by STREAM_ID) as MAIN_GAMES
    from windows
    group by STREAM_ID, GAME_ID
),
main_games as (
    select * from stream_games
    qualify row_number() over (partition by STREAM_ID order by AIR_HOURS desc, LAST_SEEN desc) = 1
),
rolled as (
    select
        s.STREAM_ID, s.USER_ID, s.USER_LOGIN, s.USER_NAME, s.STARTED_AT, s.FIRST_SEEN, s.LAST_SEEN,
        s.WATCH_HOURS, s.AIR_HOURS, s.PEAK_VIEWERS, s.PEAK_AT, g.GAME_ID, g.GAME_NAME,
        greatest(g.MAIN_GAMES, s.MOST_GAMES_IN_A_WINDOW) as GAMES,
        s.TITLE, s.LANGUAGE, s.IS_MATURE, s.SAMPLES, s.WINDOWS, s.INGESTED_AT
    from streams s
    join main_games g on g.STREAM_ID = s.STREAM_ID
    {%- if is_incremental() %}
    union all
    select
        STREAM_ID, USER_ID, USER_LOGIN, USER_NAME, STARTED_AT, FIRST_SEEN, LAST_SEEN,
        WATCH_HOURS, AIR_HOURS, PEAK_VIEWERS, PEAK_AT, GAME_ID, GAME_NAME,
        GAMES, TITLE, LANGUAGE, IS_MATURE, SAMPLES, WINDOWS, INGESTED_AT
    from {{ this }}
    where not ENDED and STREAM_ID not in (select STREAM_ID from touched)
    {%- endif %}
),
newest as (
    select max(LAST_SEEN) as NEWEST_POLL from {{ source('pulse', 'STREAM_WINDOWS') }}
),
judged as (
    select r.*, datediff('millisecond', r.LAST_SEEN, n.NEWEST_POLL) > 2000 * {{ var('poll_interval_seconds') }} as ENDED
    from rolled r
    cross join newest n
)
select
    STREAM_ID,
    USER_ID,
    USER_LOGIN,
    USER_NAME,
    STARTED_AT,
    FIRST_SEEN,
    LAST_SEEN,
    ENDED,
    iff(ENDED, LAST_SEEN, null) as ENDED_AT,
    datediff('millisecond', STARTED_AT, LAST_SEEN) / 3600000.0 as DURATION_HOURS,
    WATCH_HOURS,
    AIR_HOURS,
    iff(AIR_HOURS > 0, WATCH_HOURS / AIR_HOURS, null) as AVG_VIEWERS,
    PEAK_VIEWERS,
    PEAK_AT,
    GAME_ID,
    GAME_NAME,
    GAMES,
    TITLE,
    LANGUAGE,
    IS_MATURE,
    SAMPLES,
    WINDOWS,
    INGESTED_AT
from judged
