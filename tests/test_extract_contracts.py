"""scripts/extract_contracts.py: the subset keeps what validates and drops only the vendors' prose."""

import json

import pytest

from scripts.extract_contracts import ExtractionError, main, render, subset

SPEC = {
    "openapi": "3.0.3",
    "info": {
        "title": "Vendor API",
        "version": "2026.1",
        "description": "A long story.",
        "contact": {"email": "api@vendor.example"},
        "termsOfService": "https://vendor.example/terms",
        "x-logo": {"url": "logo.png"},
    },
    "servers": [{"url": "https://{domain}", "variables": {"domain": {"default": "x.example", "description": "yours"}}}],
    "tags": [{"name": "Issues", "description": "About issues.", "x-displayName": "Issues"}, {"name": "Unused"}],
    "externalDocs": {"url": "https://vendor.example/docs"},
    "x-tagGroups": [{"name": "All", "tags": ["Issues"]}],
    "paths": {
        "/issues/{key}": {
            "summary": "One issue",
            "parameters": [{"$ref": "#/components/parameters/key"}],
            "get": {
                "summary": "Get an issue",
                "description": "Returns the issue.",
                "operationId": "getIssue",
                "tags": ["Issues"],
                "parameters": [
                    {
                        "name": "summary",
                        "in": "query",
                        "description": "Only the summary.",
                        "schema": {"type": "boolean"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The issue.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Issue"},
                                "example": {"summary": "x"},
                            }
                        },
                    },
                    "404": {"$ref": "#/components/responses/NotFound"},
                    "x-vendor-note": "ignored",
                },
                "security": [{"oauth": ["read:issue"]}],
                "x-experimental": True,
                "externalDocs": {"url": "https://vendor.example/issues"},
            },
            "delete": {"operationId": "deleteIssue", "responses": {"204": {"description": "Gone."}}},
        },
        "/projects": {"get": {"responses": {"200": {"description": "Projects."}}}},
    },
    "components": {
        "parameters": {"key": {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}},
        "responses": {
            "NotFound": {
                "description": "Not found.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
        "schemas": {
            "Issue": {
                "type": "object",
                "title": "Issue",
                "description": "An issue.",
                "required": ["summary", "description"],
                "properties": {
                    "summary": {"type": "string", "description": "Its one line.", "example": "Offboarding"},
                    "description": {"$ref": "#/components/schemas/Document"},
                    "example": {"type": "string", "x-internal": True},
                    "kind": {"$ref": "#/components/schemas/Kind"},
                },
            },
            "Document": {"type": "object", "additionalProperties": True},
            "Kind": {
                "oneOf": [{"$ref": "#/components/schemas/Task"}],
                "discriminator": {"propertyName": "type", "mapping": {"task": "#/components/schemas/Task"}},
            },
            "Task": {"type": "object", "properties": {"type": {"type": "string", "enum": ["task"], "default": "task"}}},
            "Error": {"type": "object", "properties": {"message": {"type": "string"}}},
            "Unreached": {"type": "string"},
        },
        "examples": {"issue": {"value": {"summary": "x"}}},
        "securitySchemes": {
            "oauth": {
                "type": "oauth2",
                "description": "OAuth 2.0.",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": "https://vendor.example/authorize",
                        "tokenUrl": "https://vendor.example/token",
                        "scopes": {"read:issue": "Read issues.", "write:issue": "Write issues."},
                    }
                },
            },
            "unused": {"type": "http", "scheme": "basic"},
        },
    },
}


@pytest.fixture
def document():
    return subset(json.loads(json.dumps(SPEC)), ["GET /issues/{key}"])


class TestSubset:
    def test_it_keeps_only_the_declared_operations_and_their_path_parameters(self, document):
        assert list(document["paths"]) == ["/issues/{key}"]
        assert set(document["paths"]["/issues/{key}"]) == {"parameters", "get"}

    def test_it_keeps_every_component_reached_transitively_and_nothing_else(self, document):
        assert set(document["components"]["schemas"]) == {"Issue", "Document", "Kind", "Task", "Error"}
        assert set(document["components"]) == {"parameters", "responses", "schemas", "securitySchemes"}
        assert set(document["components"]["securitySchemes"]) == {"oauth"}

    def test_it_drops_the_prose_but_not_properties_or_parameters_named_like_it(self, document):
        issue = document["components"]["schemas"]["Issue"]
        assert issue == {
            "type": "object",
            "required": ["summary", "description"],
            "properties": {
                "summary": {"type": "string"},
                "description": {"$ref": "#/components/schemas/Document"},
                "example": {"type": "string"},
                "kind": {"$ref": "#/components/schemas/Kind"},
            },
        }
        operation = document["paths"]["/issues/{key}"]["get"]
        assert operation["parameters"] == [{"name": "summary", "in": "query", "schema": {"type": "boolean"}}]
        assert set(operation) == {"operationId", "tags", "parameters", "responses", "security"}
        assert "example" not in operation["responses"]["200"]["content"]["application/json"]
        assert "x-vendor-note" not in operation["responses"]

    def test_a_response_keeps_the_empty_description_openapi_requires(self, document):
        assert document["paths"]["/issues/{key}"]["get"]["responses"]["200"]["description"] == ""
        assert document["components"]["responses"]["NotFound"]["description"] == ""
        assert document["paths"]["/issues/{key}"]["get"]["responses"]["404"] == {
            "$ref": "#/components/responses/NotFound"
        }

    def test_it_keeps_the_version_it_was_made_from_and_the_names_of_things(self, document):
        assert document["info"] == {"title": "Vendor API", "version": "2026.1"}
        assert document["tags"] == [{"name": "Issues"}]
        assert document["servers"] == [{"url": "https://{domain}", "variables": {"domain": {"default": "x.example"}}}]
        flow = document["components"]["securitySchemes"]["oauth"]["flows"]["authorizationCode"]
        assert flow["scopes"] == {"read:issue": ""}
        task = document["components"]["schemas"]["Task"]["properties"]["type"]
        assert task == {"type": "string", "enum": ["task"], "default": "task"}

    def test_the_output_is_the_same_bytes_every_time(self, document):
        again = subset(json.loads(json.dumps(SPEC)), ["GET /issues/{key}"])
        assert render(document) == render(again)
        assert json.loads(render(document)) == document

    @pytest.mark.parametrize("operation", ["POST /issues/{key}", "GET /issues/{id}", "FETCH /projects"])
    def test_an_operation_the_spec_lacks_is_an_error(self, operation):
        with pytest.raises(ExtractionError, match="no such operation in Vendor API 2026.1"):
            subset(json.loads(json.dumps(SPEC)), [operation])


class TestScript:
    def test_it_writes_a_valid_openapi_subset_per_declared_spec(self, tmp_path, capsys):
        (tmp_path / "specs").mkdir()
        (tmp_path / "specs" / "vendor.json").write_text(json.dumps(SPEC))
        (tmp_path / "operations.json").write_text(
            json.dumps({"vendor-api": {"spec": "vendor.json", "operations": ["GET /issues/{key}"]}})
        )
        out = tmp_path / "out"
        assert (
            main([str(tmp_path / "specs"), "--out", str(out), "--operations", str(tmp_path / "operations.json")]) == 0
        )
        written = json.loads((out / "vendor-api.json").read_text())
        assert list(written["paths"]) == ["/issues/{key}"]
        assert "vendor-api.json: 1 operations" in capsys.readouterr().out
