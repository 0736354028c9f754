-- Schema v2 (DESIGN §3): a twitch.streams message is a chunk of stream objects, and STREAM_LOGS keeps
-- one row per stream object. A row's position is (KAFKA_PARTITION, KAFKA_OFFSET, CHUNK_INDEX), the
-- index of the stream in its chunk's `streams` list. Rows written before v2 (one event per message)
-- keep CHUNK_INDEX NULL. IF NOT EXISTS: two workers bootstrapping at once both get here.
ALTER TABLE STREAM_LOGS ADD COLUMN IF NOT EXISTS CHUNK_INDEX INTEGER;
