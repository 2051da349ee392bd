"""EHR integration: CDS Hooks 2.0 services over FHIR R4 (issue #13).

Modules: `auth` (client JWTs), `discovery`, `models` (CDS request/response objects), `prefetch`,
`fhir_map` (FHIR -> contract), `orders` (PA IG ServiceRequests), `cards`, `order_check`,
`store` (feedback, used JWT ids), `metrics` (acceptance rates), `routes` (the endpoints).
"""
