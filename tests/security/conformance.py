"""Every answer a client gets, checked against the OpenAPI document its service serves: the
operation and status are documented, the content type is one documented for that status
(no body where none is), and the body and documented headers match their schemas.

The schemas are checked with jsonschema_rs (installed with schemathesis, which uses it),
the document registered whole so each `$ref` resolves in it, formats asserted."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema_rs

DOCUMENT_URI = "urn:strangler-kit:openapi"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _escaped(token: str) -> str:
    """A JSON Pointer token (RFC 6901): `/v2/products` -> `~1v2~1products`."""
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(*tokens: str) -> str:
    return "#" + "".join(f"/{_escaped(token)}" for token in tokens)


def _templates(document: dict[str, Any]) -> list[tuple[re.Pattern[str], str]]:
    """Each path of the document as a regex, literal paths first (`/a/b` before `/a/{x}`)."""
    paths = sorted(document["paths"], key=lambda path: path.count("{"))
    return [
        (re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(path)) + "$"), path)
        for path in paths
    ]


class Conformance:
    """Add `check` to a client's response hooks; `seen` holds (METHOD, path, status) of
    each answer, `mismatches` what did not match its document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document
        self._templates = _templates(document)
        self._registry = jsonschema_rs.Registry(
            [(DOCUMENT_URI, document)], draft=jsonschema_rs.Draft202012
        )
        self.seen: set[tuple[str, str, int]] = set()
        self.mismatches: list[str] = []

    @classmethod
    async def of(cls, client: httpx.AsyncClient) -> Conformance:
        """The document `client`'s service serves, checking every answer from now on."""
        served = await client.get("/openapi.json")
        assert served.status_code == 200, served.text
        conformance = cls(served.json())
        hooks = client.event_hooks
        client.event_hooks = {**hooks, "response": [*hooks["response"], conformance.check]}
        return conformance

    async def check(self, answer: httpx.Response) -> None:
        await answer.aread()
        method, status = answer.request.method, answer.status_code
        where = f"{method} {answer.request.url.path} -> {status}"
        path = self._path_of(answer.request.url.path)
        if path is None or method.lower() not in self._document["paths"][path]:
            self.mismatches.append(f"{where}: no such operation in the document")
            return
        self.seen.add((method, path, status))
        responses = self._document["paths"][path][method.lower()]["responses"]
        if str(status) not in responses:
            self.mismatches.append(f"{where}: status not documented")
            return
        pointer = self._resolved(_pointer("paths", path, method.lower(), "responses", str(status)))
        self.mismatches += [f"{where}: {problem}" for problem in self._problems(answer, pointer)]

    def _path_of(self, path: str) -> str | None:
        return next((template for regex, template in self._templates if regex.match(path)), None)

    def _at(self, pointer: str) -> Any:
        found: Any = self._document
        for token in pointer.removeprefix("#/").split("/"):
            found = found[token.replace("~1", "/").replace("~0", "~")]
        return found

    def _resolved(self, pointer: str) -> str:
        """The pointer of the response object itself, past its `$ref`s (#/components/...)."""
        while "$ref" in self._at(pointer):
            pointer = self._at(pointer)["$ref"]
        return pointer

    def _problems(self, answer: httpx.Response, pointer: str) -> list[str]:
        documented = self._at(pointer)
        problems = []
        for name, header in documented.get("headers", {}).items():
            if name in answer.headers and "schema" in header:
                schema_at = f"{pointer}/headers/{_escaped(name)}/schema"
                problems += self._invalid(answer.headers[name], schema_at, f"header {name}")
        content = documented.get("content")
        if not content:  # 204, 304: no body
            return (
                [*problems, f"a body where none is documented: {answer.text!r}"]
                if answer.content
                else problems
            )
        media_type = answer.headers.get("content-type", "").split(";")[0].strip()
        if media_type not in content:
            return [*problems, f"content type {media_type!r}, documented {sorted(content)}"]
        schema_at = f"{pointer}/content/{_escaped(media_type)}/schema"
        if "schema" not in content[media_type]:
            return problems
        body = json.loads(answer.content) if media_type.endswith("json") else answer.text
        return problems + self._invalid(body, schema_at, "body")

    def _invalid(self, instance: Any, pointer: str, what: str) -> list[str]:
        validator = jsonschema_rs.Draft202012Validator(
            {"$ref": DOCUMENT_URI + quote(pointer, safe="#/~")},
            registry=self._registry,
            validate_formats=True,
        )
        return [
            f"{what} at /{'/'.join(map(str, error.instance_path))}: {error.message}"
            for error in validator.iter_errors(instance)
        ]
