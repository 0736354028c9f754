-- Every daily and monthly row's watch and air hours equal the sums of its window rows, and
-- every key with window rows in a period has its row (games, channels, languages). The sinks
-- write while dbt runs, so a period is checked once the model has caught up with it: its window
-- rows are no newer than the model's rows of that period or, for a period the model lacks, older
-- than the model's newest row by more than the lookback. The rest wait for the next build.
{% set checks = [
    ('game_daily', 'day', 'GAME_WINDOWS', 'GAME_ID'),
    ('game_monthly', 'month', 'GAME_WINDOWS', 'GAME_ID'),
    ('channel_daily', 'day', 'CHANNEL_WINDOWS', 'USER_ID'),
    ('channel_monthly', 'month', 'CHANNEL_WINDOWS', 'USER_ID'),
    ('language_daily', 'day', 'LANGUAGE_WINDOWS', 'LANGUAGE'),
] %}
with expected as (
    {%- for model, grain, table, key in checks %}
    select '{{ model }}' as MODEL, date_trunc('{{ grain }}', WINDOW_START) as PERIOD_START, {{ key }} as KEY,
           sum(WATCH_HOURS) as WATCH_HOURS, sum(AIR_HOURS) as AIR_HOURS,
           max(max(INGESTED_AT)) over (partition by date_trunc('{{ grain }}', WINDOW_START)) as NEWEST
    from {{ source('pulse', table) }}
    group by 1, 2, 3
    {%- if not loop.last %}
    union all{% endif %}
    {%- endfor %}
),
actual as (
    {%- for model, grain, table, key in checks %}
    select '{{ model }}' as MODEL, PERIOD_START, {{ key }} as KEY, WATCH_HOURS, AIR_HOURS,
           max(INGESTED_AT) over (partition by PERIOD_START) as BUILT_THROUGH
    from {{ ref(model) }}
    {%- if not loop.last %}
    union all{% endif %}
    {%- endfor %}
),
built as (
    select distinct MODEL, PERIOD_START, BUILT_THROUGH from actual
),
watermarks as (
    select MODEL, dateadd(minute, -{{ var('lookback_minutes') }}, max(BUILT_THROUGH)) as CAUGHT_UP_TO
    from built group by MODEL
),
checked as (
    select e.MODEL, e.PERIOD_START
    from (select distinct MODEL, PERIOD_START, NEWEST from expected) e
    left join built b on b.MODEL = e.MODEL and b.PERIOD_START = e.PERIOD_START
    left join watermarks w on w.MODEL = e.MODEL
    where e.NEWEST <= coalesce(b.BUILT_THROUGH, w.CAUGHT_UP_TO)
),
expected_checked as (
    select e.* from expected e join checked c on c.MODEL = e.MODEL and c.PERIOD_START = e.PERIOD_START
),
actual_checked as (
    select a.* from actual a join checked c on c.MODEL = a.MODEL and c.PERIOD_START = a.PERIOD_START
)
select e.MODEL, a.MODEL as ACTUAL_MODEL, coalesce(e.PERIOD_START, a.PERIOD_START) as PERIOD_START,
       coalesce(e.KEY, a.KEY) as KEY, e.WATCH_HOURS, a.WATCH_HOURS as MODEL_WATCH_HOURS,
       e.AIR_HOURS, a.AIR_HOURS as MODEL_AIR_HOURS
from expected_checked e
full outer join actual_checked a on a.MODEL = e.MODEL and a.PERIOD_START = e.PERIOD_START and a.KEY = e.KEY
where e.MODEL is null or a.MODEL is null
   or abs(e.WATCH_HOURS - a.WATCH_HOURS) > 1e-9 * greatest(1, abs(e.WATCH_HOURS))
   or abs(e.AIR_HOURS - a.AIR_HOURS) > 1e-9 * greatest(1, abs(e.AIR_HOURS))
