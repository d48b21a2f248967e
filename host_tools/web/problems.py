"""RFC 9457 problem documents: every error the service returns, with a stable `reason`.

The `detail` of a problem comes from the library's message, which never carries a secret; the
request's own values (a response, a PIN, a token) are never echoed.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

TYPE_BASE = "urn:opendsc:problem:"
MEDIA_TYPE = "application/problem+json"

# reason -> (HTTP status, title): the catalogue docs/service.md lists.
CATALOGUE: dict[str, tuple[int, str]] = {
    "malformed-json": (400, "The body is not a JSON object"),
    "unauthenticated": (401, "A valid bearer token is required"),
    "forbidden-scope": (403, "The API client's scope does not cover this call"),
    "ip-not-allowed": (403, "The client IP is outside the user's networks"),
    "client-ip-required": (403, "The user's logins are restricted to networks: give client_ip"),
    "ip-restriction-broken": (403, "The user's IP restriction fails its integrity check"),
    "device-limit": (403, "No device allowed for this amount"),
    "unknown-user": (404, "No such user"),
    "unknown-challenge": (404, "No such challenge"),
    "not-found": (404, "Not found"),
    "no-route": (404, "No such endpoint"),
    "method-not-allowed": (405, "Method not allowed"),
    "activation-refused": (403, "The activation code is unknown, expired or already used"),
    "softcard-unavailable": (503, "This service cannot activate soft cards (no master admin key)"),
    "device-required": (409, "The user holds several devices: name one"),
    "unknown-device": (409, "The user holds no such usable device"),
    "no-active-device": (409, "The user has no device that can answer"),
    "no-unavailable-card": (409, "The user has no unavailable card to reactivate"),
    "purpose-mismatch": (409, "The challenge was issued for another purpose"),
    "card-state": (409, "The card's state does not allow this"),
    "softcard-action": (409, "A card-only action (lost, replace, return, ...) for a soft card"),
    "user-state": (409, "The user's state does not allow this"),
    "tampered-row": (403, "A row that decides this login fails its integrity check"),
    "challenges-exhausted": (409, "The card's challenge space is used up: it needs a new seed"),
    "body-too-large": (413, "The body is too large"),
    "unsupported-media-type": (415, "The body must be application/json"),
    "invalid-field": (422, "A field is missing, unknown or of the wrong type"),
    "invalid-input": (422, "A value is not acceptable"),
    "malformed-response": (422, "The response is not one any device could have made"),
    "invalid-client-ip": (422, "client_ip is not an IP address"),
    "rate-limited": (429, "Too many challenges for this user in the rate window"),
    "too-many-open": (429, "The user holds too many unanswered challenges"),
    "internal-error": (500, "Internal error"),
    "registry-unavailable": (503, "The registry is unavailable: retry"),
    "audit-broken": (503, "The audit log fails its check: nothing is done until it is looked into"),
}


class Problem(Exception):
    """Raised by a route; becomes the problem document of `reason`."""

    def __init__(self, reason: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.extra = extra

    @property
    def status(self) -> int:
        return CATALOGUE.get(self.reason, (500, ""))[0]

    def response(self, instance: str | None = None) -> JSONResponse:
        status, title = CATALOGUE.get(self.reason, (500, "Error"))
        body: dict[str, Any] = {"type": TYPE_BASE + self.reason, "title": title,
                                "status": status, "detail": self.detail, "reason": self.reason}
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        headers = {}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="opendsc"'
        if status == 503:
            headers["Retry-After"] = "1"
        if status == 429:
            headers["Retry-After"] = str(self.extra.get("retry_after") or 1)
        return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)
