"""The data contract, defined once (`shared/contract/README.md`).

| module | what it holds |
|---|---|
| `vocab` | vocabularies (`Literal`s and their tuples), id pattern, date window, request limits |
| `dose` | the dose vocabulary: plan columns, ACSM intensity and RPE bands, MET and volume factors |
| `rest` | REST objects (pydantic): patient, session, prescription, requests, responses, errors |
| `tables` | the pandera tables, derived from the REST fields (bounds written once) |
| `convert` | the only REST <-> table-row converters |
| `examples` | example payloads shipped with the package (OpenAPI document and tests) |

"""
