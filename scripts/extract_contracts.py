"""Write the part of the vendors' published OpenAPI specs that the clients and the sandbox use.

    .venv/bin/python scripts/extract_contracts.py SPECS_DIR [--out contracts/]

SPECS_DIR is the folder of the full published specs (on the team's machines `../shared/specs`). The
operations to keep are declared in `contracts/operations.json`, one `METHOD /path/template` each, spelled
as the spec spells them; `tests/test_contract_coverage.py` holds that list to what the sandbox serves, and
the clients' spec check refuses any request outside it.

For each spec this writes `<out>/<name>.json`: the declared operations (with their path's parameters)
and every component they reach through `$ref` or a discriminator mapping, transitively, kept as
components. The vendors' prose goes: `description`, `summary`, `title`, `example(s)`, `externalDocs`,
`x-*` extensions, the tags' descriptions, everything in `info` but `title` and `version` (which say
which published version the subset was made from). Only keywords go: a schema property or a parameter
named `description` or `summary` (Jira's issue fields) is kept. A response keeps an empty `description`,
which OpenAPI requires. The output is validated as OpenAPI 3.0 and written with sorted keys, so the
same spec gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

REPOSITORY = Path(__file__).resolve().parent.parent
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Keywords of the OpenAPI and JSON Schema objects that only explain; they validate nothing.
PROSE = {"description", "summary", "title", "example", "examples", "externalDocs", "termsOfService", "contact"}
# Keywords whose value maps names (of properties, media types, headers, components...) to objects:
# the names are data, whatever they are called; their objects are cleaned.
NAME_MAPS = {
    "properties",
    "content",
    "headers",
    "encoding",
    "variables",
    "links",
    "schemas",
    "parameters",
    "requestBodies",
    "securitySchemes",
    "responses",
    "callbacks",
}
# Keywords whose value is data (an instance, or names), copied as it is.
DATA = {"default", "enum", "required", "mapping", "security", "operationRef"}


class ExtractionError(Exception):
    pass


def clean(node: Any, *, response: bool = False) -> Any:
    """An OpenAPI or JSON Schema object without its prose keywords and vendor extensions."""
    if isinstance(node, list):
        return [clean(item) for item in node]
    if not isinstance(node, dict):
        return node
    kept: dict[str, Any] = {}
    for key, value in node.items():
        key = str(key)  # YAML reads an unquoted status code as a number
        if key in PROSE or key.startswith("x-"):
            continue
        if key == "scopes" and isinstance(value, dict):
            kept[key] = dict.fromkeys(value, "")  # the scope names matter; what each allows is prose
        elif key == "enum" and isinstance(value, list) and all(isinstance(v, str | int | float | None) for v in value):
            # Okta's spec lists a value twice in one enum (encryptionAlgorithm), which OpenAPI forbids:
            # each once, in order, allows exactly the same instances.
            kept[key] = list(dict.fromkeys(value))
        elif key in DATA:
            kept[key] = value
        elif key in NAME_MAPS and isinstance(value, dict):
            kept[key] = {
                str(name): clean(item, response=key == "responses")
                for name, item in value.items()
                # Responses may carry x- extensions beside the status codes.
                if not (key == "responses" and str(name).startswith("x-"))
            }
        else:
            kept[key] = clean(value)
    if response and "$ref" not in kept:
        kept["description"] = ""
    return kept


def references(node: Any) -> set[str]:
    """Every local reference in a cleaned object: `$ref`s and discriminator mappings."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            elif key == "discriminator" and isinstance(value, dict):
                found |= set(value.get("mapping", {}).values())
            elif key not in DATA:
                found |= references(value)
    return found


def component_of(reference: str) -> tuple[str, str]:
    """`#/components/schemas/User` (or a pointer inside it) -> ("schemas", "User")."""
    parts = reference.split("/")
    if len(parts) < 4 or parts[:2] != ["#", "components"]:
        raise ExtractionError(f"only references to components are supported, not {reference!r}")
    return parts[2], parts[3].replace("~1", "/").replace("~0", "~")


def subset(spec: dict, operations: list[str]) -> dict:
    """The document holding just these operations and what they reach."""
    paths: dict[str, dict] = {}
    for operation in operations:
        method, _, template = operation.partition(" ")
        method = method.lower()
        item = spec.get("paths", {}).get(template)
        if method not in METHODS or item is None or method not in item:
            info = spec["info"]
            raise ExtractionError(f"{operation}: no such operation in {info['title']} {info['version']}")
        kept = paths.setdefault(template, {key: clean(value) for key, value in item.items() if key == "parameters"})
        kept[method] = clean(item[method])
    components: dict[str, dict] = {}
    pending = references(paths)
    seen: set[str] = set()
    while pending:
        section, name = component_of(pending.pop())
        if (section, name) in seen:
            continue
        seen.add((section, name))
        try:
            original = spec["components"][section][name]
        except KeyError:
            raise ExtractionError(f"#/components/{section}/{name} is referenced but not in the spec") from None
        cleaned = clean(original, response=section == "responses")
        components.setdefault(section, {})[name] = cleaned
        pending |= references(cleaned)
    schemes = _security_schemes(spec, paths)
    if schemes:
        components["securitySchemes"] = schemes
    operations_kept = [op for item in paths.values() for key, op in item.items() if key in METHODS]
    tags = sorted({tag for op in operations_kept for tag in op.get("tags", [])})
    document = {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "servers": clean(spec.get("servers", [])),
        "paths": paths,
        "components": components,
    }
    if tags:
        document["tags"] = [{"name": tag} for tag in tags]
    return document


def _security_schemes(spec: dict, paths: dict) -> dict:
    """The schemes the operations name, an OAuth scheme's scopes cut to the ones they ask for."""
    wanted: dict[str, set[str]] = {}
    for item in paths.values():
        for key, operation in item.items():
            if key not in METHODS:
                continue
            for requirement in operation.get("security", spec.get("security", [])):
                for name, scopes in requirement.items():
                    wanted.setdefault(name, set()).update(scopes)
    schemes = {}
    for name, scopes in wanted.items():
        scheme = clean(spec["components"]["securitySchemes"][name])
        for flow in scheme.get("flows", {}).values():
            flow["scopes"] = {scope: "" for scope in sorted(flow.get("scopes", {})) if scope in scopes}
        schemes[name] = scheme
    return schemes


def load(path: Path) -> dict:
    with open(path, "rb") as file:
        if path.suffix in (".yaml", ".yml"):
            return yaml.load(file, Loader=yaml.CSafeLoader)
        return json.load(file)


def render(document: dict) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs_dir", type=Path, help="the folder of the vendors' full published specs")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "contracts", help="where to write (contracts/)")
    parser.add_argument(
        "--operations",
        type=Path,
        default=REPOSITORY / "contracts" / "operations.json",
        help="the operations to keep (contracts/operations.json)",
    )
    args = parser.parse_args(argv)
    declared = json.loads(args.operations.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    for name, entry in sorted(declared.items()):
        source = args.specs_dir / entry["spec"]
        try:
            document = subset(load(source), entry["operations"])
            validate(document)
        except (ExtractionError, OpenAPIValidationError, OSError) as error:
            print(f"{source}: {error}", file=sys.stderr)
            return 1
        text = render(document)
        target = args.out / f"{name}.json"
        target.write_text(text)
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        print(
            f"{target}: {len(entry['operations'])} operations, "
            f"{sum(len(section) for section in document['components'].values())} components, {len(text):,} bytes; "
            f"from {entry['spec']} ({document['info']['title']} {document['info']['version']}, sha256 {digest})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
