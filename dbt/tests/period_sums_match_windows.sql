-- Every daily and monthly row's watch and air hours equal the sums of its window rows, and
-- every key with window rows in a period has its row (games, channels, languages).
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
           sum(WATCH_HOURS) as WATCH_HOURS, sum(AIR_HOURS) as AIR_HOURS
    from {{ source('pulse', table) }}
    group by 1, 2, 3
    {%- if not loop.last %}
    union all{% endif %}
    {%- endfor %}
),
actual as (
    {%- for model, grain, table, key in checks %}
    select '{{ model }}' as MODEL, PERIOD_START, {{ key }} as KEY, WATCH_HOURS, AIR_HOURS from {{ ref(model) }}
    {%- if not loop.last %}
    union all{% endif %}
    {%- endfor %}
)
select e.MODEL, a.MODEL as ACTUAL_MODEL, e.PERIOD_START, e.KEY, e.WATCH_HOURS, a.WATCH_HOURS as MODEL_WATCH_HOURS,
       e.AIR_HOURS, a.AIR_HOURS as MODEL_AIR_HOURS
from expected e
full outer join actual a on a.MODEL = e.MODEL and a.PERIOD_START = e.PERIOD_START and a.KEY = e.KEY
where e.MODEL is null or a.MODEL is null
   or abs(e.WATCH_HOURS - a.WATCH_HOURS) > 1e-9 * greatest(1, abs(e.WATCH_HOURS))
   or abs(e.AIR_HOURS - a.AIR_HOURS) > 1e-9 * greatest(1, abs(e.AIR_HOURS))
