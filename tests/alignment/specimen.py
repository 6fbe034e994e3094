"""A sample 3.1 document with every rewrite `connexion_view` makes, in one request.

So the comparison covers the downgrade itself and not only the keywords the served documents happen to
use today.
"""

from __future__ import annotations

from mock_server.http.spec import Document

SPECIMEN: Document = {
    "openapi": "3.1.0",
    "info": {"title": "Every keyword connexion_view rewrites", "version": "1"},
    "paths": {
        "/specimen/{id}": {
            "post": {
                "operationId": "specimen",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "const": "a"},
                    },
                    {"name": "above", "in": "query", "schema": {"type": "integer", "exclusiveMinimum": 0}},
                    {
                        "name": "both",
                        "in": "query",
                        "schema": {"type": "integer", "maximum": 9, "exclusiveMaximum": 5, "minimum": 1},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Specimen"}}},
                },
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
    "components": {
        "schemas": {
            "Letter": {"type": "string", "enum": ["a", "b"]},
            "Specimen": {
                "type": "object",
                "required": ["kind"],
                "additionalProperties": False,
                "properties": {
                    "kind": {"const": "specimen", "examples": ["specimen"]},
                    "text": {"type": ["string", "null"], "maxLength": 2},
                    "letter": {"type": ["string", "null"], "enum": ["a", "b"]},
                    "scalar": {"type": ["string", "number", "null"], "minLength": 1},
                    "choice": {"anyOf": [{"$ref": "#/components/schemas/Letter"}, {"type": "null"}]},
                    "one": {"oneOf": [{"type": "number"}, {"type": "null"}]},
                    "nothing": {"type": "null"},
                    "narrowed": {"$ref": "#/components/schemas/Letter", "enum": ["a"]},
                    "positive": {"type": "number", "exclusiveMinimum": 0},
                    "between": {"type": "number", "minimum": 3, "exclusiveMinimum": 2, "exclusiveMaximum": 4},
                    "list": {"type": "array", "items": {"type": ["boolean", "null"]}, "maxItems": 2},
                },
            },
        }
    },
}
