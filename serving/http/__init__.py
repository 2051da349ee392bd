"""The HTTP layer of the REST service: a Starlette app mounted into the BentoML service.

| module | concern |
|---|---|
| `routes` | the endpoints and `ROUTES`, the one list where packages register routes |
| `work` | what the endpoints compute (policy call, /predict scoring, audit hash) |
| `decision_metrics` | the decision counters every recommending endpoint feeds (REST, CDS) |
| `errors` | reading the body, 4xx bodies naming the field, the generic 500 |
| `gateway` | header limits, API-key auth, body limit, `/metrics`, request metrics |
| `runtime` | per-worker state: settings, keys, models (reloaded), policy config, audit writer |
| `openapi` | the `/docs.json` document with the packaged examples |


Why a mounted ASGI app and not `@bentoml.api` methods (BentoML 1.4.39, read in its source):
* `@bentoml.api` answers every pydantic failure, malformed JSON included, with 400 and BentoML's
  own body (`{"error": "N validation error for ...", "detail": [...]}`) from inside its endpoint
  wrapper; the contract wants 422 `{"error": "validation_error", "details": [{"loc", "msg"}]}`.
  Rewriting that from a middleware would mean parsing BentoML's error text.
* The contract's body *is* the request object. A root-input API can do that, but the OpenAPI
  document BentoML generates cannot carry the contract's examples or the 401/413/422/503 bodies,
  and schemathesis checks responses against that document.
* Body-size limits with a streamed byte count, and sessions-after-`as_of` named by field, need
  control of how the body is read and validated.
So the endpoints live here, in plain Starlette (no FastAPI: nothing to override, less overhead),
while the service stays a real BentoML service (`serving/service.py`, started by `bentoml serve`):
BentoML runs the workers, the lifecycle (models loaded in the service's `__init__`, audit flushed
in its shutdown hook), `/livez` and `/readyz` (via `__is_ready__`), access logs, and wraps every
route, its own included, in `GatewayMiddleware` (auth, body limit, metrics).

Endpoints (all JSON): `POST /recommend`, `POST /recommend_batch`, `POST /predict`,
`GET /docs.json` (OpenAPI 3.1 with the contract's examples) and `GET /metrics`.
"""
