"""Feature cases for Kiln's Jinja2 interpreter: (name, template, variables[, error line]).

make_template_goldens.py renders each with transformers' Jinja2 environment and stores the result (or the
error) in Tests/goldens/templates/features.json, so the expected strings come from Jinja2 itself.
"""

M = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
D = {"b": 2, "a": 1, "C": 3}

FEATURES = [
    # Control flow and loops.
    ("if_elif_else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %};{% endfor %}", {}),
    ("loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
     "{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", {}),
    ("loop_prev_next", "{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }},{% endfor %}", {}),
    ("for_else", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}", {}),
    ("for_filter", "{% for m in messages if m.role == 'user' %}{{ loop.index }}:{{ m.content }}/{{ loop.length }} {% endfor %}", {"messages": M}),
    ("for_unpack_items", "{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}", {"d": D}),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": D}),
    ("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("nested_loops", "{% for a in [1,2] %}{% for b in [3,4] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("loop_scope", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 10 %}{{ x }} {% endfor %}{{ x }}", {}),
    ("if_scope", "{% if true %}{% set y = 5 %}{% endif %}{{ y }}", {}),
    ("namespace", "{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% if m.role == 'user' %}"
     "{% set ns.count = ns.count + 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }}", {"messages": M}),
    ("namespace_dict", "{% set ns = namespace({'a': 1}) %}{{ ns.a }}", {}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t | join('+') }} {{ t | length }}", {}),
    ("set_block", "{% set body %}Hello {{ name }}{% endset %}[{{ body }}]", {"name": "X"}),
    ("set_block_filter", "{% set body | upper %}Hello{% endset %}{{ body }}", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', punct='.') }}", {}),
    ("macro_scope", "{% set g = 'global' %}{% macro m(x) %}{{ g }}-{{ x }}{% set g = 'local' %}{{ g }}{% endmacro %}{{ m(1) }} {{ g }}", {}),
    ("macro_caller", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}", {}),
    ("macro_caller_args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}[{{ item }}]{% endcall %}", {}),
    ("filter_block", "{% filter upper %}shout {{ 'it' }}{% endfilter %}", {}),
    ("generation_block", "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}", {"messages": M}),
    ("raw_block", "{% raw %}{{ not rendered }}{% endraw %}", {}),
    ("comment", "a{# a comment #}b", {}),
    # Expressions.
    ("arithmetic", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1.5 + 1 }} {{ 4 / 2 }}", {}),
    ("unary", "{{ -3 }} {{ - (2 + 1) }} {{ +4 }} {{ -x }}", {"x": 2.5}),
    ("floats", "{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }} {{ 3.14 }} {{ 1e-7 }} {{ 2.5e16 }} {{ 100.0 / 3 }}", {}),
    ("string_ops", "{{ 'a' + 'b' }} {{ 'x' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ 'abc'[1] }} {{ 'abc'[-1] }}", {}),
    ("list_concat", "{{ [1, 2] + [3] }}", {}),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1, 2] == [1, 2] }}", {}),
    ("in_operator", "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in d }} {{ 'z' not in d }} {{ 'x' not in 'abc' }}", {"d": {"k": 1}}),
    ("logic", "{{ true and false }} {{ true or false }} {{ not true }} {{ none or 'dflt' }} {{ 0 and 1 }} {{ '' or [] }} {{ not none }}", {}),
    ("inline_if", "{{ 'yes' if x else 'no' }} {{ 'yes' if not x else 'no' }} [{{ 'only' if false }}]", {"x": 1}),
    ("literals", "{{ [1, 'a', none, true, 2.5] }} {{ {'a': 1, 'b': [1, 2]} }} {{ (1, 2) | list }} {{ 'it\\'s' }} {{ \"dq\\\"s\" }} {{ 'esc\\n\\ttab\\u00e9' }}", {}),
    ("print_values", "{{ none }} {{ true }} {{ false }} {{ [none, true, 'x', \"it's\"] }} {{ {'k': {'n': none}} }} [{{ undefined_name }}]", {}),
    ("subscripts", "{{ messages[0].content }} {{ messages[-1]['role'] }} {{ d['a'] }} {{ d.b }} {{ messages.1.content }} [{{ messages[10] }}]", {"messages": M, "d": D}),
    ("slices", "{{ s[1:3] }} {{ s[::-1] }} {{ s[:-1] }} {{ s[2:] }} {{ l[1:] }} {{ l[::2] }} {{ l[-2:] }} {{ l[5:] }} {{ l[:] }} {{ l[3:0:-1] }}", {"s": "abcdef", "l": [1, 2, 3, 4, 5]}),
    ("attribute_missing", "{{ d.missing is defined }} {{ d['missing'] is defined }} [{{ d.missing }}]", {"d": D}),
    ("dict_methods", "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.keys() | list }} {{ d.values() | list }} {% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}", {"d": D}),
    ("string_methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.upper() }}|{{ s.lower() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}", {"s": "  Hello World  "}),
    ("string_methods2", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'aXa'.replace('a', 'b') }} {{ 'xxhixx'.strip('x') }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}", {}),
    ("string_format", "{{ '{} and {}'.format('a', 1) }} {{ '{0}{1}{0}'.format('x', 'y') }} {{ '{name}!'.format(name='n') }} {{ '%s is %d' % ('x', 3) }} {{ '%s'|format('f') }}", {}),
    ("string_join_method", "{{ ', '.join(['a', 'b']) }}", {}),
    # Filters.
    ("filter_trim", "[{{ '  x  ' | trim }}] [{{ 'xxaxx' | trim('x') }}] [{{ '\\n\\t y \\n' | trim }}]", {}),
    ("filter_tojson", "{{ d | tojson }} {{ 'é\"\\n' | tojson }} {{ [1, 2.5, none, true] | tojson }} {{ {} | tojson }} {{ [] | tojson }}", {"d": {"z": 1, "a": [1, {"b": "ü"}]}}),
    ("filter_tojson_indent", "{{ d | tojson(indent=2) }}\n{{ d | tojson(indent=4, sort_keys=true) }}\n{{ [] | tojson(indent=2) }}", {"d": {"z": 1, "a": [1, {"b": "ü"}], "e": {}}}),
    ("filter_tojson_separators", "{{ d | tojson(separators=(',', ':')) }} {{ 'é' | tojson(ensure_ascii=true) }}", {"d": {"a": [1, 2]}}),
    ("filter_length", "{{ 'héllo' | length }} {{ [1, 2] | length }} {{ d | length }} {{ d | count }} {{ undefined_name | length }}", {"d": D}),
    ("filter_case", "{{ 'hello WORLD' | upper }} {{ 'Hello' | lower }} {{ 'hello big-world (x)' | title }} {{ 'hELLO world' | capitalize }}", {}),
    ("filter_default", "{{ missing | default('d') }} {{ none | default('d') }} {{ '' | default('d', true) }} {{ 'v' | d('x') }} {{ false | default('d', boolean=true) }}", {}),
    ("filter_first_last", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} {{ 'abc' | last }} [{{ [] | first }}]", {}),
    ("filter_join", "{{ [1, 2, 3] | join(', ') }} {{ ['a', 'b'] | join }} {{ messages | join('|', attribute='role') }}", {"messages": M}),
    ("filter_replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }}", {}),
    ("filter_items_list", "{% for k, v in d | items %}{{ k }}:{{ v }},{% endfor %} {{ d | items | list | length }} {{ 'ab' | list }} {{ d | list }} {{ undefined_name | items | list }}", {"d": D}),
    ("filter_map", "{{ messages | map(attribute='role') | list }} {{ ['a', 'b'] | map('upper') | join }} {{ messages | map(attribute='x', default='-') | list }}", {"messages": M}),
    ("filter_select", "{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 0, 2] | select | list }} {{ [1, 2, 3] | reject('equalto', 2) | list }}", {}),
    ("filter_selectattr", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join }} "
     "{{ messages | rejectattr('role', 'equalto', 'user') | list | length }} {{ tools | selectattr('enabled') | map(attribute='n') | list }}",
     {"messages": M, "tools": [{"n": 1, "enabled": True}, {"n": 2, "enabled": False}, {"n": 3}]}),
    ("filter_indent", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(width='> ', blank=true) }}|{{ 'x\\n' | indent(2) }}", {}),
    ("filter_string_int_float", "{{ 1 | string }}{{ '1' + 2 | string }} {{ '42' | int + 1 }} {{ '3.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 2 | float }} {{ '2.5' | float }} {{ 'y' | float }} {{ true | int }}", {}),
    ("filter_safe", "{{ '<b>' | safe }} {{ '<b>&\"' | e }}", {}),
    ("filter_unique", "{{ [1, 2, 1, 3, 2] | unique | list }} {{ ['a', 'A', 'b'] | unique | list }} {{ ['a', 'A'] | unique(case_sensitive=true) | list }}", {}),
    ("filter_dictsort", "{% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %} {% for k, v in d | dictsort(true) %}{{ k }}{{ v }}{% endfor %} "
     "{% for k, v in d | dictsort(by='value', reverse=true) %}{{ k }}{{ v }}{% endfor %} {{ (d | dictsort)[0][0] }}", {"d": D}),
    ("filter_misc", "{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ [1, 2, 3] | sum }} {{ [3, 1] | max }} {{ [3, 1] | min }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ [1, 2] | reverse | list }} {{ 'abc' | reverse }}", {}),
    ("filter_chain", "{{ messages | selectattr('role', 'equalto', 'user') | list | last | attr('content') | upper }}", {"messages": M}),
    # Tests.
    ("tests_types", "{{ x is defined }} {{ y is undefined }} {{ none is none }} {{ 's' is string }} {{ d is mapping }} {{ [1] is iterable }} "
     "{{ 's' is iterable }} {{ d is iterable }} {{ [1] is sequence }} {{ 1 is number }} {{ 1.5 is number }} {{ 1 is integer }} {{ 1.5 is integer }} "
     "{{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ d is string }} {{ 1 is mapping }}",
     {"x": 1, "d": D}),
    ("tests_compare", "{{ 2 is equalto 2 }} {{ 2 is eq(3) }} {{ x is sameas none }} {{ false is sameas false }} {{ 3 is odd }} {{ 4 is even }} "
     "{{ 9 is divisibleby 3 }} {{ 'a' is in 'abc' }} {{ 3 is gt 2 }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ x is not none }}", {"x": None}),
    ("tests_undefined_message", "{{ messages[5] is defined }} {{ messages[0].tool_calls is defined }} {{ tools is none }}", {"messages": M, "tools": None}),
    # Whitespace control.
    ("ws_dash", "a  {%- if true -%}  b  {%- endif -%}  c\n  {{- 'd' -}}  \n e", {}),
    ("ws_trim_blocks", "{% if true %}\nline\n{% endif %}\nafter", {}),
    ("ws_lstrip_blocks", "    {% if true %}\n    x\n    {% endif %}\n  {{ 'y' }}\n\t{# note #}\nz", {}),
    ("ws_plus", "  {%+ if true +%}\nkept\n  {%+ endif %}\nend", {}),
    ("ws_inline_tag_not_stripped", "text {% if true %}x{% endif %} more\n", {}),
    ("ws_trailing_newline", "one\n", {}),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc", {}),
    ("ws_comment_dash", "a\n  {#- c -#}\n  b", {}),
    ("ws_variable_not_trimmed", "{{ 'x' }}\ny", {}),
    # Globals.
    ("range", "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }}", {}),
    # Errors with their lines.
    ("error_raise", "line1\n{% if true %}\n{{ raise_exception('Bad roles!') }}\n{% endif %}", {}, 3),
    ("error_undefined_attribute", "ok\n{{ nothing.attr }}", {}, 2),
    ("error_concat_type", "{% set x = 'a' %}\n\n{{ x + 1 }}", {}, 3),
    ("error_unknown_filter", "a\n{{ x | nosuchfilter }}", {}),
    ("error_unclosed_if", "{% if true %}\nno end", {}),
    ("error_unknown_tag", "x\n{% frobnicate %}", {}),
    ("error_bad_syntax", "{{ 1 + }}", {}),
    ("error_endfor_mismatch", "{% if x %}\n{% endfor %}", {}),
    ("error_tojson_undefined", "{{ missing | tojson }}", {}, 1),
]
