{#- Incremental builds by period (DESIGN §10: UTC hours, days, months).

    A period model recomputes whole periods: those holding a row of its inputs ingested after
    the newest INGESTED_AT the model already holds (less `lookback_minutes`), so a window row
    rewritten by a late MERGE (the sink sets INGESTED_AT anew) reaches every period it is in.
    delete+insert with unique_key PERIOD_START then swaps those periods out whole.
    Each model's own INGESTED_AT column is the newest INGESTED_AT of the rows it was computed
    from (never the build's clock), so a build with no new data writes back identical rows. -#}

{#- The INGESTED_AT after which an input row is new to this model. -#}
{% macro ingested_since() -%}
(select dateadd(minute, -{{ var('lookback_minutes') }}, coalesce(max(INGESTED_AT), '1970-01-01'::timestamp_ntz))
 from {{ this }})
{%- endmacro %}

{#- A query of the PERIOD_STARTs to recompute. `inputs`: (relation, time column) pairs; with
    `and_next`, each changed period's successor too (its rank change depends on this period). -#}
{% macro changed_periods(grain, inputs, and_next=false) -%}
select distinct date_trunc('{{ grain }}', CHANGED_AT) as PERIOD_START from (
  {%- for relation, column in inputs %}
  select {{ column }} as CHANGED_AT from {{ relation }} where INGESTED_AT > {{ ingested_since() }}
  {%- if and_next %}
  union all
  select dateadd({{ grain }}, 1, {{ column }}) from {{ relation }} where INGESTED_AT > {{ ingested_since() }}
  {%- endif %}
  {%- if not loop.last %}
  union all{% endif %}
  {%- endfor %}
)
{%- endmacro %}

{#- Rows of the periods to recompute (CTE `periods`); every row on a full build. The range
    bound lets Snowflake prune micro-partitions by time before the exact period test. -#}
{% macro in_periods(grain, column='WINDOW_START') -%}
{%- if is_incremental() -%}
{{ column }} >= (select min(PERIOD_START) from periods)
and date_trunc('{{ grain }}', {{ column }}) in (select PERIOD_START from periods)
{%- else -%}
true
{%- endif -%}
{%- endmacro %}

{#- The CTE body `periods` for an incremental build (a no-rows stand-in on a full build). -#}
{% macro periods_cte(grain, inputs, and_next=false) -%}
{%- if is_incremental() -%}
{{ changed_periods(grain, inputs, and_next) }}
{%- else -%}
select null::timestamp_ntz as PERIOD_START where false
{%- endif -%}
{%- endmacro %}

{#- Each row of CTE `ranked` (PERIOD_START, the `keys`, RANK) with the rank its key held in the
    previous period: PREVIOUS_RANK, and RANK_CHANGE = PREVIOUS_RANK - RANK (positive = climbed;
    NULL when the key was not ranked the period before). A previous period that this build does
    not recompute is read from the model itself. -#}
{% macro with_rank_change(grain, keys) -%}
prior as (
  select PERIOD_START, {{ keys | join(', ') }}, RANK from ranked
  {%- if is_incremental() %}
  union all
  select PERIOD_START, {{ keys | join(', ') }}, RANK from {{ this }}
  where PERIOD_START in (select dateadd({{ grain }}, -1, PERIOD_START) from ranked)
    and PERIOD_START not in (select PERIOD_START from ranked)
  {%- endif %}
)
select ranked.*, prior.RANK as PREVIOUS_RANK, prior.RANK - ranked.RANK as RANK_CHANGE
from ranked
left join prior
  on prior.PERIOD_START = dateadd({{ grain }}, -1, ranked.PERIOD_START)
  {%- for key in keys %}
  and prior.{{ key }} = ranked.{{ key }}
  {%- endfor %}
{%- endmacro %}
