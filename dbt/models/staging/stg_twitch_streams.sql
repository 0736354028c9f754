-- The first seed's staging model under its name: one row per stream sample of STREAM_LOGS with
-- typed columns from RAW_DATA (the v1 event), the stream's age at capture in minutes, and no
-- zero-viewer samples. Typed defensively: a value of the wrong type or out of range becomes
-- NULL in its column instead of failing every query of the view (strings stay ::VARCHAR;
-- numbers, booleans and timestamps go through TRY_ functions).
select
    RAW_DATA:stream_id::varchar as STREAM_ID,
    RAW_DATA:user_id::varchar as USER_ID,
    RAW_DATA:user_login::varchar as USER_LOGIN,
    RAW_DATA:user_name::varchar as STREAMER_NAME,
    RAW_DATA:game_id::varchar as GAME_ID,
    RAW_DATA:game_name::varchar as GAME_NAME,
    RAW_DATA:title::varchar as TITLE,
    RAW_DATA:language::varchar as LANGUAGE,
    RAW_DATA:type::varchar as STREAM_TYPE,
    try_cast(RAW_DATA:is_mature::varchar as boolean) as IS_MATURE,
    try_cast(RAW_DATA:viewer_count::varchar as integer) as VIEWER_COUNT,
    try_to_timestamp_ntz(replace(RAW_DATA:started_at::varchar, 'Z', '')) as STARTED_AT,
    CAPTURED_AT,
    datediff('minute', try_to_timestamp_ntz(replace(RAW_DATA:started_at::varchar, 'Z', '')), CAPTURED_AT)
        as STREAM_DURATION_MINUTES,
    RAW_DATA:poll_id::varchar as POLL_ID,
    INGESTED_AT
from {{ source('pulse', 'STREAM_LOGS') }}
where try_cast(RAW_DATA:viewer_count::varchar as integer) > 0
