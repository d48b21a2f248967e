"""The verification service behind `dsc serve`: an ASGI app (Starlette) over the registry.

Layers: this package may import `provisioning`, `host_tools` and `dsc`; only the CLI imports
it; `provisioning` never imports it and knows nothing of HTTP. Every decision is taken in
`provisioning` (`policy`, `verification`, `support`, `apiclients`); the routes here parse JSON,
check the bearer token's scope, call one library function and turn its answer or exception into
JSON or an RFC 9457 problem document. See docs/service.md.
"""
