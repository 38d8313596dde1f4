#!/usr/bin/env python3
"""Rewrite api/openapi.json's components.schemas as copies of schemas/*.schema.json.

The same transformation the contract test checks (crates/contract-schemas/tests/contracts.rs,
`as_component`): drop `$id`/`$schema`, point `$ref`s into `#/components/schemas/<title>`.
Run it after changing a schema file: python3 scripts/sync-openapi-components.py
"""
import collections
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIB = (ROOT / "crates/contract-schemas/src/lib.rs").read_text()
FILES = re.findall(r'"([a-z0-9-]+\.schema\.json)"', LIB.split("schema_files!(", 1)[1])


def load(path):
    return json.loads(path.read_text(), object_pairs_hook=collections.OrderedDict)


schemas = {name: load(ROOT / "schemas" / name) for name in FILES}
titles = {name: schema["title"] for name, schema in schemas.items()}


def as_component(node, own):
    if isinstance(node, dict):
        out = collections.OrderedDict()
        for key, value in node.items():
            if key in ("$id", "$schema"):
                continue
            if key == "$ref" and isinstance(value, str):
                file, _, fragment = value.partition("#")
                target = own if not file else titles[file]
                out[key] = f"#/components/schemas/{target}" + (f"{fragment}" if fragment else "")
            else:
                out[key] = as_component(value, own)
        return out
    if isinstance(node, list):
        return [as_component(item, own) for item in node]
    return node


openapi_path = ROOT / "api/openapi.json"
openapi = load(openapi_path)
components = openapi["components"]["schemas"]
for name, schema in schemas.items():
    components[titles[name]] = as_component(schema, titles[name])
openapi_path.write_text(json.dumps(openapi, indent=2, ensure_ascii=False) + "\n")
print(f"synced {len(schemas)} schemas into {openapi_path.relative_to(ROOT)}")
