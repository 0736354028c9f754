{#- The building blocks of the period models: sums of window rows (DESIGN §6: watch and air
    hours add, peaks take the max). -#}

{#- Per period and `key`, over the CTE `rows` of GAME_WINDOWS-shaped rows (window rows, or the
    period rows of a finer grain: then `time` is PERIOD_START and `windows` sums their WINDOWS):
    the sums, the peak and when (the earliest PEAK_AT at the period's maximum), the latest value
    of each of `names`, and the newest INGESTED_AT. -#}
{% macro sum_windows(grain, key, names=[], rows='windows', time='WINDOW_START', windows='count(*)') -%}
select
    date_trunc('{{ grain }}', {{ time }}) as PERIOD_START,
    {{ key }},
    {%- for name in names %}
    max_by({{ name }}, {{ time }}) as {{ name }},
    {%- endfor %}
    {{ hours_sum('WATCH_HOURS') }} as WATCH_HOURS,
    {{ hours_sum('AIR_HOURS') }} as AIR_HOURS,
    max(PEAK_VIEWERS) as PEAK_VIEWERS,
    min(iff(PEAK_VIEWERS = PERIOD_PEAK, PEAK_AT, null)) as PEAK_AT,
    max(PEAK_CHANNELS) as PEAK_CHANNELS,
    sum(NEW_STREAMS) as NEW_STREAMS,
    {{ windows }} as WINDOWS,
    max(INGESTED_AT) as INGESTED_AT
from (
    select *, max(PEAK_VIEWERS) over (partition by date_trunc('{{ grain }}', {{ time }}), {{ key }}) as PERIOD_PEAK
    from {{ rows }}
)
group by date_trunc('{{ grain }}', {{ time }}), {{ key }}
{%- endmacro %}

{#- Per period: the hours its windows cover (each distinct window of the CTE `windows` once),
    the denominator of a period's average viewers and channels, as W is a window's. -#}
{% macro covered_hours(grain) -%}
select PERIOD_START, sum(datediff('second', WINDOW_START, WINDOW_END)) / 3600.0 as COVERED_HOURS
from (select distinct date_trunc('{{ grain }}', WINDOW_START) as PERIOD_START, WINDOW_START, WINDOW_END from windows)
group by PERIOD_START
{%- endmacro %}

{#- Per period and `key` of the CTE `channels` (a time column `time`, key, USER_ID, INGESTED_AT):
    distinct channels. -#}
{% macro distinct_channels(grain, key, time='PERIOD_START') -%}
select date_trunc('{{ grain }}', {{ time }}) as PERIOD_START, {{ key }},
       count(distinct USER_ID) as DISTINCT_CHANNELS, max(INGESTED_AT) as INGESTED_AT
from channels
group by 1, 2
{%- endmacro %}

{#- The rows of a GAME_WINDOWS-shaped period model (games, languages) from the CTEs `sums`,
    `covered` (COVERED_HOURS per period) and `distinct_channels`: averages over the covered
    hours, the rank by watch hours (1 + the keys with more; ties share a rank) and its change. -#}
{% macro ranked_period_sums(grain, key, names=[]) -%}
ranked as (
    select
        s.PERIOD_START,
        s.{{ key }},
        {%- for name in names %}
        s.{{ name }},
        {%- endfor %}
        s.WATCH_HOURS,
        s.AIR_HOURS,
        s.WATCH_HOURS / c.COVERED_HOURS as AVG_VIEWERS,
        s.AIR_HOURS / c.COVERED_HOURS as AVG_CHANNELS,
        s.PEAK_VIEWERS,
        s.PEAK_AT,
        s.PEAK_CHANNELS,
        coalesce(d.DISTINCT_CHANNELS, 0) as DISTINCT_CHANNELS,
        s.NEW_STREAMS,
        s.WINDOWS,
        c.COVERED_HOURS,
        rank() over (partition by s.PERIOD_START order by s.WATCH_HOURS desc) as RANK,
        greatest(s.INGESTED_AT, coalesce(d.INGESTED_AT, s.INGESTED_AT)) as INGESTED_AT
    from sums s
    join covered c on c.PERIOD_START = s.PERIOD_START
    left join distinct_channels d on d.PERIOD_START = s.PERIOD_START and d.{{ key }} = s.{{ key }}
),
{{ with_rank_change(grain, [key]) }}
{%- endmacro %}

{#- Per period and channel of the CTE `channels`, its main game: the game of most air hours
    over the windows in which it was the channel's main game (ties: the one seen last), from
    int_channel_games_daily. -#}
{% macro main_game(grain) -%}
select PERIOD_START, USER_ID, GAME_ID, GAME_NAME, INGESTED_AT
from (
    select
        date_trunc('{{ grain }}', PERIOD_START) as PERIOD_START,
        USER_ID,
        GAME_ID,
        max_by(GAME_NAME, LAST_WINDOW_START) as GAME_NAME,
        {{ hours_sum('AIR_HOURS') }} as AIR_HOURS,
        max(LAST_WINDOW_START) as LAST_WINDOW_START,
        max(max(INGESTED_AT)) over (partition by date_trunc('{{ grain }}', PERIOD_START), USER_ID) as INGESTED_AT
    from {{ ref('int_channel_games_daily') }}
    where {{ in_periods(grain, 'PERIOD_START') }}
    group by 1, 2, 3
)
qualify row_number() over (partition by PERIOD_START, USER_ID order by AIR_HOURS desc, LAST_WINDOW_START desc) = 1
{%- endmacro %}

{#- The rows of a channel period model from the CTEs `channels` (the channel's sums, with any
    `extra` columns) and `main_games`: average viewers while live, rank and its change. -#}
{% macro ranked_channels(grain, extra=[]) -%}
ranked as (
    select
        c.PERIOD_START,
        c.USER_ID,
        c.USER_LOGIN,
        c.USER_NAME,
        g.GAME_ID,
        g.GAME_NAME,
        c.WATCH_HOURS,
        c.AIR_HOURS,
        iff(c.AIR_HOURS > 0, c.WATCH_HOURS / c.AIR_HOURS, null) as AVG_VIEWERS,
        c.PEAK_VIEWERS,
        c.WINDOWS,
        {%- for column in extra %}
        c.{{ column }},
        {%- endfor %}
        rank() over (partition by c.PERIOD_START order by c.WATCH_HOURS desc) as RANK,
        greatest(c.INGESTED_AT, coalesce(g.INGESTED_AT, c.INGESTED_AT)) as INGESTED_AT
    from channels c
    left join main_games g on g.PERIOD_START = c.PERIOD_START and g.USER_ID = c.USER_ID
),
{{ with_rank_change(grain, ['USER_ID']) }}
{%- endmacro %}

{#- The platform per period, from CHANNEL_WINDOWS: watch and air hours, average viewers and
    channels over the covered hours, distinct live channels. -#}
{% macro platform_totals(grain) -%}
with periods as (
    {{ periods_cte(grain, [(source('pulse', 'CHANNEL_WINDOWS'), 'WINDOW_START')]) }}
),
windows as (
    select * from {{ source('pulse', 'CHANNEL_WINDOWS') }} where {{ in_periods(grain) }}
),
covered as ({{ covered_hours(grain) }})
select
    w.PERIOD_START,
    {{ hours_sum('w.WATCH_HOURS') }} as WATCH_HOURS,
    {{ hours_sum('w.AIR_HOURS') }} as AIR_HOURS,
    {{ hours_sum('w.WATCH_HOURS') }} / max(c.COVERED_HOURS) as AVG_VIEWERS,
    {{ hours_sum('w.AIR_HOURS') }} / max(c.COVERED_HOURS) as AVG_CHANNELS,
    count(distinct w.USER_ID) as DISTINCT_CHANNELS,
    max(c.COVERED_HOURS) as COVERED_HOURS,
    max(w.INGESTED_AT) as INGESTED_AT
from (select date_trunc('{{ grain }}', WINDOW_START) as PERIOD_START, * from windows) w
join covered c on c.PERIOD_START = w.PERIOD_START
group by w.PERIOD_START
{%- endmacro %}

{#- A sum of hours that does not depend on the order the rows arrive in: each value in whole
    picohours (1e-12 h), added as integers, so a recomputed period is the same number to the last
    bit (a floating-point sum can differ in its last digit from one run to the next) and a build
    with no new data rewrites identical rows. -#}
{% macro hours_sum(column) -%}
(sum(round({{ column }} * 1e12)::number(38, 0)) / 1e12)
{%- endmacro %}

{#- Per period and channel, over `rows` (CHANNEL_WINDOWS rows, or a finer grain's period rows:
    then `time` is PERIOD_START and `windows` sums their WINDOWS): login and name at the latest,
    watch and air hours, the peak, the windows, the newest INGESTED_AT, and any `extra` columns
    (SQL expressions with their names). -#}
{% macro sum_channels(grain, rows, time='WINDOW_START', windows='count(*)', extra=[]) -%}
select
    date_trunc('{{ grain }}', {{ time }}) as PERIOD_START,
    USER_ID,
    max_by(USER_LOGIN, {{ time }}) as USER_LOGIN,
    max_by(USER_NAME, {{ time }}) as USER_NAME,
    {{ hours_sum('WATCH_HOURS') }} as WATCH_HOURS,
    {{ hours_sum('AIR_HOURS') }} as AIR_HOURS,
    max(PEAK_VIEWERS) as PEAK_VIEWERS,
    {{ windows }} as WINDOWS,
    {%- for column in extra %}
    {{ column }},
    {%- endfor %}
    max(INGESTED_AT) as INGESTED_AT
from {{ rows }}
where {{ in_periods(grain, time) }}
group by 1, 2
{%- endmacro %}
