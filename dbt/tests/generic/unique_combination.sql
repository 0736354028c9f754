{#- A natural key of several columns is unique: no combination of their values appears twice.
    (dbt-utils has one, but dbt packages come from the dbt hub, which a closed network cannot reach.) -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as ROWS_WITH_KEY
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
