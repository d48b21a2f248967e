"""The OpenAPI 3.1 document, generated from `routes.ENDPOINTS` and the schemas below.

Served at `/openapi.json`; a copy is checked into docs/openapi.json, and a test fails when the
two drift (regenerate with `python -m host_tools.web.openapi > docs/openapi.json`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from host_tools import __version__
from host_tools.web.problems import CATALOGUE
from host_tools.web.routes import ENDPOINTS, Field

_S = {"type": "string"}
_SN = {"type": ["string", "null"]}
_IN = {"type": ["integer", "null"]}
_ANSWER_STATUS = {"type": "string", "enum": ["accepted", "portal-only", "rejected"],
                  "description": "`accepted` only for full access; `portal-only` when the "
                  "challenge asked for portal access and the proof grants only that"}

SCHEMAS: dict[str, Any] = {
    "Challenge": {"type": "object", "required": ["id", "challenge", "expires_at", "user"],
                  "properties": {
                      "id": _S, "challenge": {"type": "string", "description": "digits the "
                                              "holder types at CHALLNG>"},
                      "expires_at": {"type": "integer", "description": "seconds since 1970"},
                      "user": _S, "serial_number": _SN, "device_type": _SN,
                      "cells": {"type": ["string", "null"], "description": "security code card "
                                "cells to answer (e.g. `C4 F7`), when one is running"},
                      "purpose": _S, "access": _S, "amount": _SN,
                      "also_answerable_with": {"type": "array", "items": _S}}},
    "Answer": {"type": "object", "required": ["status", "accepted", "user", "purpose"],
               "properties": {
                   "status": _ANSWER_STATUS,
                   "accepted": {"type": "boolean", "description": "true only for `accepted`"},
                   "user": _S, "purpose": _S,
                   "reason": {"type": ["string", "null"], "description": "when rejected: "
                              "wrong-response, expired, already-used, locked, no-active-device, "
                              "device-limit, portal-only"},
                   "method": {"type": ["string", "null"], "description": "card, passcode, "
                              "security-card"},
                   "access": {"type": ["string", "null"], "enum": ["full", "portal-only", None]},
                   "device_type": _SN, "serial_number": _SN, "attempts_remaining": _IN,
                   "locked_until": _IN, "hint": _SN}},
    "Device": {"type": "object", "required": ["device", "device_type", "status", "usable"],
               "properties": {"device": _S, "device_type": _S, "status": _S,
                              "withdrawal_limit": _IN, "usable": {"type": "boolean"},
                              "access": _S, "expires_at": {"type": "integer"}}},
    "Devices": {"type": "object", "properties": {
        "user": _S,
        "devices": {"type": "array", "items": {"$ref": "#/components/schemas/Device"}}}},
    "SupportUser": {"type": "object", "properties": {
        "user": _S, "status": _S, "failures": {"type": "integer"}, "locked_until": _IN,
        "pin_set": {"type": "boolean"}, "cards": {"type": "array", "items": {"type": "object"}},
        "temporary_access": {"type": "array", "items": {"type": "object"}},
        "networks": {"type": "array", "items": _S},
        "devices": {"type": "array", "items": {"$ref": "#/components/schemas/Device"}}}},
    "Unlocked": {"type": "object", "properties": {"user": _S, "status": _S,
                                                  "was_locked": {"type": "boolean"}}},
    "Networks": {"type": "object", "properties": {"user": _S,
                                                  "networks": {"type": "array", "items": _S}}},
    "Card": {"type": "object", "properties": {
        "serial_number": _S, "suite": _S, "status": _S, "board": _SN, "firmware": _SN,
        "batch": _SN, "pin_len": {"type": "integer"}, "created_at": {"type": "integer"},
        "provisioned_at": _IN, "status_at": {"type": "integer"},
        "users": {"type": "array", "items": _S}}},
    "Limits": {"type": "object", "properties": {"withdrawal_limits": {
        "type": "object", "additionalProperties": _IN,
        "description": "USD per device type; null: no limit"}}},
    "AuditEntries": {"type": "object", "properties": {"entries": {
        "type": "array", "items": {"type": "object"}}}},
    "Problem": {"type": "object", "required": ["type", "title", "status", "reason"],
                "description": "RFC 9457 problem document",
                "properties": {"type": _S, "title": _S, "status": {"type": "integer"},
                               "detail": _S, "reason": {"type": "string",
                                                        "enum": sorted(CATALOGUE)},
                               "field": _S}},
}


def _field_schema(f: Field) -> dict[str, Any]:
    out: dict[str, Any]
    if f.kind == "string":
        out = {"type": "string", "maxLength": f.max_len}
        if f.enum:
            out["enum"] = list(f.enum)
    elif f.kind == "number":
        out = {"type": "number", "minimum": 0}
    elif f.kind == "integer-or-null":
        out = {"type": ["integer", "null"], "minimum": 0}
    else:
        out = {"type": "array", "items": {"type": "string", "maxLength": 64}}
    out["description"] = f.description
    return out


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        op: dict[str, Any] = {
            "operationId": ep.operation, "summary": ep.summary,
            "security": [{"bearer": []}], "tags": [ep.scope],
            "responses": {str(ep.status): {"description": "success", "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{ep.result}"}}}}},
        }
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", ep.path)]
        params += [{"name": f.name, "in": "query", "required": False,
                    "schema": _field_schema(f)} for f in ep.query]
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False,
                "required": [f.name for f in ep.body if f.required],
                "properties": {f.name: _field_schema(f) for f in ep.body}}}}}
        for code in ep.problems:
            op["responses"][str(code)] = {"description": _describe(code), "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    for path, text in (("/healthz", "the process is up"),
                       ("/readyz", "registry reachable, schema current, audit head good"),
                       ("/metrics", "Prometheus text metrics")):
        paths[path] = {"get": {"operationId": path.strip("/"), "summary": text,
                               "security": [], "responses": {"200": {"description": text}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpenDSC verification service", "version": __version__,
                 "description": "Challenges and responses for login servers, device policy and "
                                "support actions. See docs/service.md."},
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "a token from `dsc api-client add NAME --scope S`"}}},
    }


def _describe(code: int) -> str:
    reasons = sorted(r for r, (status, _) in CATALOGUE.items() if status == code)
    return "problem: " + ", ".join(reasons)


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
