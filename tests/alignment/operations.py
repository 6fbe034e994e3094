"""The operations of the compared documents, their parameters and bodies, as JSON pointers into them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mock_server.http.spec import ADMIN_SPEC_PATH, Document, load_document
from tests.alignment.specimen import SPECIMEN

DOCUMENTS = {"api": load_document(), "admin": load_document(ADMIN_SPEC_PATH), "specimen": SPECIMEN}
SERVED = ("api", "admin")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON = "application/json"


def pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def at(document: Document, where: str) -> Any:
    node: Any = document
    for part in where.removeprefix("/").split("/") if where else []:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def follow(document: Document, where: str) -> str:
    """The pointer a `$ref` at `where` finally leads to."""
    while "$ref" in at(document, where):
        where = at(document, where)["$ref"].removeprefix("#")
    return where


@dataclass
class Operation:
    document: str
    path: str
    method: str
    operation_id: str
    parameters: dict[tuple[str, str], str] = field(default_factory=dict)  # (in, name) -> parameter
    body: str | None = None  # the request body object
    body_required: bool = False

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def parameter(self, location: str, name: str) -> dict[str, Any]:
        return at(DOCUMENTS[self.document], self.parameters[(location, name)])  # type: ignore[no-any-return]

    def body_schema(self) -> str:
        assert self.body is not None
        return self.body + pointer("content", JSON, "schema")


def operations() -> Iterator[Operation]:
    for name, document in DOCUMENTS.items():
        for path, item in document["paths"].items():
            for method in METHODS:
                if method not in item:
                    continue
                op = Operation(name, path, method, item[method]["operationId"])
                for owner in (pointer("paths", path), pointer("paths", path, method)):
                    for i, _ in enumerate(at(document, owner).get("parameters", [])):
                        where = follow(document, f"{owner}/parameters/{i}")
                        param = at(document, where)
                        op.parameters[(param["in"], param["name"])] = where
                if "requestBody" in item[method]:
                    op.body = follow(document, pointer("paths", path, method, "requestBody"))
                    op.body_required = at(document, op.body).get("required", False)
                    assert list(at(document, op.body)["content"]) == [JSON], op.label
                yield op


OPERATIONS = list(operations())
WITH_INPUT = [op for op in OPERATIONS if op.parameters or op.body]
OPERATION = {op.operation_id: op for op in OPERATIONS}
