{{ config(unique_key='PERIOD_START') }}
-- The platform per UTC day: watch and air hours of every channel, and the channels live in it.
{{ platform_totals('day') }}
