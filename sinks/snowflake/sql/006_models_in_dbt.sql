-- Derived SQL has one home (issue 19, DESIGN §10): STG_TWITCH_STREAMS and the hourly and daily
-- rollups are models of the dbt project (dbt/), built by `twitch-pulse models build`; the sinks'
-- DDL keeps only the tables the sinks write. The models are tables of the same names, created
-- by dbt after this migration (`models build` waits for this schema version).
DROP VIEW IF EXISTS STG_TWITCH_STREAMS;
DROP VIEW IF EXISTS GAME_HOURLY;
DROP VIEW IF EXISTS GAME_DAILY;
DROP VIEW IF EXISTS CHANNEL_HOURLY;
DROP VIEW IF EXISTS CHANNEL_DAILY;
DROP VIEW IF EXISTS PLATFORM_HOURLY;
DROP VIEW IF EXISTS PLATFORM_DAILY;
