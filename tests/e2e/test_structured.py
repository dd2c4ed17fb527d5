"""Structured output through TGI's `grammar` parameter: every sampled output must validate.

The oracle for JSON is the `jsonschema` package (draft 2020-12 format checker, with rfc3339-validator);
regex outputs must `re.fullmatch`;
GBNF outputs are checked with Python's own parser (`ast`) or an equivalent `re` pattern.
"""
import ast
import concurrent.futures
import json
import re
import urllib.error
import urllib.request

import jsonschema
import pytest

SEEDS = [1, 2, 3]
PROMPT = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"

S = {"type": "string", "maxLength": 12}
SCHEMAS = [
    {"type": "object", "properties": {"name": S, "age": {"type": "integer", "minimum": 0, "maximum": 120}},
     "required": ["name", "age"]},
    {"type": "object", "properties": {"title": S, "year": {"type": "integer", "minimum": 1900, "maximum": 2030},
                                      "rating": {"type": "number", "minimum": 0, "maximum": 5}},
     "required": ["title"]},
    {"type": "object", "properties": {"user": {"type": "object", "properties": {"id": {"type": "integer", "minimum": 1,
                                                                                       "maximum": 999}, "email": S},
                                               "required": ["id"]}}, "required": ["user"]},
    {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]}}, "required": ["color"]},
    {"type": "object", "properties": {"v": {"enum": [1, 2.5, None, "x", True]}}, "required": ["v"]},
    {"type": "object", "properties": {"kind": {"const": "point"}, "x": {"type": "integer", "minimum": -5,
                                                                        "maximum": 5}}, "required": ["kind", "x"]},
    {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 99}, "minItems": 1, "maxItems": 3},
    {"type": "object", "properties": {"items": {"type": "array", "maxItems": 2, "items": {
        "type": "object", "properties": {"sku": S, "qty": {"type": "integer", "minimum": 1, "maximum": 9}},
        "required": ["sku", "qty"]}}}, "required": ["items"]},
    {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{3}$"}},
     "required": ["code"]},
    {"type": "object", "properties": {"phone": {"type": "string", "pattern": "\\d{3}-\\d{4}"}}, "required": ["phone"]},
    {"type": "integer", "minimum": -10, "maximum": 10},
    {"type": "number", "minimum": 0, "maximum": 1},
    {"type": "object", "properties": {"t": {"type": "number", "exclusiveMinimum": -1, "exclusiveMaximum": 1}},
     "required": ["t"]},
    {"type": "object", "properties": {"ok": {"type": "boolean"}, "none": {"type": "null"}}, "required": ["ok", "none"]},
    {"type": "object", "properties": {"nick": {"type": ["string", "null"], "maxLength": 8}}, "required": ["nick"]},
    {"type": "object", "properties": {"id": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 1000}, S]}},
     "required": ["id"]},
    {"oneOf": [{"type": "boolean"}, {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0,
                                                                            "maximum": 9}}, "required": ["n"]}]},
    {"$defs": {"pt": {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 9},
                                                       "y": {"type": "integer", "minimum": 0, "maximum": 9}},
                      "required": ["x", "y"]}},
     "type": "object", "properties": {"a": {"$ref": "#/$defs/pt"}, "b": {"$ref": "#/$defs/pt"}}, "required": ["a", "b"]},
    {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer", "minimum": 0, "maximum": 9},
                                                         "kids": {"type": "array", "maxItems": 1,
                                                                  "items": {"$ref": "#/$defs/node"}}},
                        "required": ["v"]}}, "$ref": "#/$defs/node"},
    {"type": "object", "properties": {"day": {"type": "string", "format": "date"}}, "required": ["day"]},
    {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}, "required": ["at"]},
    {"type": "object", "properties": {"at": {"type": "string", "format": "time"}}, "required": ["at"]},
    {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}}, "required": ["id"]},
    {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 3}}, "required": ["a"],
     "additionalProperties": False},
    {"type": "object", "properties": {"word": {"type": "string", "minLength": 3, "maxLength": 5}}, "required": ["word"]},
    {"type": "array", "items": {"enum": ["x", "y", "z"]}, "minItems": 2, "maxItems": 2},
    {"type": "object", "properties": {k: {"type": "integer", "minimum": 0, "maximum": 9} for k in "abcdefghij"}},
    {"allOf": [{"type": "object", "properties": {"q": S}, "required": ["q"]}]},
    {"type": "array", "items": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9},
                                "maxItems": 2}, "maxItems": 2},
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 100}}, "required": ["n"]},
    {"type": "object", "properties": {"price": {"type": "number"}}, "required": ["price"]},
    {"enum": ["small", "medium", "large"]},
    {"enum": [1, 0]},  # numbers must stay numbers (not become booleans) on the way through the server
    {"type": "object", "properties": {"opt1": S, "opt2": {"type": "boolean"}, "req": {"type": "integer",
                                                                                         "minimum": 0, "maximum": 50}},
     "required": ["req"]},
]

REGEXES = ["[A-Z][a-z]{2,8}", "(yes|no|maybe)", "\\d{1,3}(\\.\\d{1,3}){3}", "[a-z]{1,10}@[a-z]{1,8}\\.(com|org)",
           "#[0-9a-f]{6}"]

ARITHMETIC = """
root   ::= expr
expr   ::= term (("+" | "-") term){0,3}
term   ::= factor ("*" factor){0,2}
factor ::= [1-9] [0-9]? | "(" expr ")"
"""
LIST = 'root ::= "[" item ("," item){0,3} "]"\nitem ::= "\\"" [a-z]{1,6} "\\""'


def post(server, body):
    req = urllib.request.Request(server["url"] + "/generate", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def generate(server, grammar, seed, ask, max_new_tokens=160):
    status, body = post(server, {
        "inputs": PROMPT.format(ask),
        "parameters": {"grammar": grammar, "do_sample": True, "temperature": 0.8, "seed": seed,
                       "max_new_tokens": max_new_tokens, "details": True}})
    assert status == 200, body
    assert body["details"]["finish_reason"] == "eos_token", body
    return body["generated_text"]


def run_all(server, jobs):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda job: generate(server, *job), jobs))


def test_json_schemas_validate(server):
    jobs = [({"type": "json", "value": schema}, seed, "Reply with a JSON value.")
            for schema in SCHEMAS for seed in SEEDS]
    outputs = run_all(server, jobs)
    # Draft 2020-12's formats; `time` and `date-time` are checked through rfc3339-validator.
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    failures = []
    for (grammar, seed, _), text in zip(jobs, outputs):
        try:
            jsonschema.validate(json.loads(text), grammar["value"], format_checker=checker)
        except (ValueError, jsonschema.ValidationError) as e:
            failures.append(f"{grammar['value']} seed {seed}: {text!r}: {e}")
    assert not failures, "\n".join(failures)


def test_schema_as_string_and_json_schema_type(server):
    schema = SCHEMAS[0]
    for grammar in ({"type": "json", "value": json.dumps(schema)},
                    {"type": "json_schema", "value": {"name": "person", "schema": schema}}):
        jsonschema.validate(json.loads(generate(server, grammar, 7, "Describe a person as JSON.")), schema)


def test_regex_outputs_match_fully(server):
    jobs = [({"type": "regex", "value": pattern}, seed, "Answer briefly.") for pattern in REGEXES for seed in SEEDS]
    for (grammar, _, _), text in zip(jobs, run_all(server, jobs)):
        assert re.fullmatch(grammar["value"], text), (grammar, text)


def test_gbnf_outputs_parse(server):
    jobs = [({"type": "gbnf", "value": g}, seed, "Write an expression.") for g in (ARITHMETIC, LIST) for seed in SEEDS]
    for (grammar, _, _), text in zip(jobs, run_all(server, jobs)):
        if grammar["value"] is ARITHMETIC:
            tree = ast.parse(text, mode="eval")
            allowed = (ast.Expression, ast.BinOp, ast.Constant, ast.Add, ast.Sub, ast.Mult)
            assert all(isinstance(n, allowed) for n in ast.walk(tree)), text
        else:
            items = json.loads(text)
            assert 1 <= len(items) <= 4 and all(re.fullmatch("[a-z]{1,6}", i) for i in items), text


@pytest.mark.parametrize("grammar,word", [
    ({"type": "json", "value": {"type": "array", "uniqueItems": True}}, "uniqueItems"),
    ({"type": "json", "value": {"type": "string", "maxLength": 10**7}}, "maxLength"),
    ({"type": "regex", "value": "(?=x)y"}, "lookaround"),
    ({"type": "gbnf", "value": "root ::= x\nx ::= x \"a\" | \"a\""}, "left recursion"),
    ({"type": "yaml", "value": "a"}, "type must be"),
])
def test_unsupported_constraints_are_422_naming_the_problem(server, grammar, word):
    status, body = post(server, {"inputs": "hi", "parameters": {"grammar": grammar, "max_new_tokens": 4}})
    assert status == 422, body
    assert body["error_type"] == "validation" and word in body["error"], body


def test_stream_equals_non_stream_under_a_grammar(server):
    params = {"grammar": {"type": "regex", "value": "[A-Z][a-z]{2,8}( [a-z]{1,6}){0,2}"}, "do_sample": True,
              "seed": 11, "max_new_tokens": 40}
    body = {"inputs": PROMPT.format("Name a city."), "parameters": params}
    status, whole = post(server, body)
    assert status == 200, whole
    req = urllib.request.Request(server["url"] + "/generate_stream", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        events = [json.loads(line[5:]) for line in r.read().decode().splitlines() if line.startswith("data:")]
    assert events[-1]["generated_text"] == whole["generated_text"]
    assert re.fullmatch(params["grammar"]["value"], whole["generated_text"]), whole
