-- STG_TWITCH_STREAMS typed defensively (issue 10 §2): a value of the wrong type or out of
-- range (viewer_count 1e40, "abc", an object) becomes NULL in its column instead of failing
-- every query of the view. Strings stay ::VARCHAR (any JSON value converts); numbers,
-- booleans and timestamps go through TRY_ functions. The rollup views read the typed window
-- tables only, so no raw row reaches them.
CREATE OR REPLACE VIEW STG_TWITCH_STREAMS AS
SELECT
    RAW_DATA:stream_id::VARCHAR AS STREAM_ID,
    RAW_DATA:user_id::VARCHAR AS USER_ID,
    RAW_DATA:user_login::VARCHAR AS USER_LOGIN,
    RAW_DATA:user_name::VARCHAR AS STREAMER_NAME,
    RAW_DATA:game_id::VARCHAR AS GAME_ID,
    RAW_DATA:game_name::VARCHAR AS GAME_NAME,
    RAW_DATA:title::VARCHAR AS TITLE,
    RAW_DATA:language::VARCHAR AS LANGUAGE,
    RAW_DATA:type::VARCHAR AS STREAM_TYPE,
    TRY_CAST(RAW_DATA:is_mature::VARCHAR AS BOOLEAN) AS IS_MATURE,
    TRY_CAST(RAW_DATA:viewer_count::VARCHAR AS INTEGER) AS VIEWER_COUNT,
    TRY_TO_TIMESTAMP_NTZ(REPLACE(RAW_DATA:started_at::VARCHAR, 'Z', '')) AS STARTED_AT,
    CAPTURED_AT,
    DATEDIFF('minute', TRY_TO_TIMESTAMP_NTZ(REPLACE(RAW_DATA:started_at::VARCHAR, 'Z', '')), CAPTURED_AT)
        AS STREAM_DURATION_MINUTES,
    RAW_DATA:poll_id::VARCHAR AS POLL_ID,
    INGESTED_AT
FROM STREAM_LOGS
WHERE TRY_CAST(RAW_DATA:viewer_count::VARCHAR AS INTEGER) > 0;
