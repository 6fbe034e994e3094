"""What the validation-alignment tests share: the documents, requests on the wire, and two verdicts.

Connexion 3.3 validates parameters and JSON bodies with draft-4 JSON Schema, on the 3.0 view of the
served documents (`connexion_view`); Schemathesis generates and judges requests with JSON Schema 2020-12
on the 3.1 documents. The tests hand both the same requests, as bytes on the wire (`wire`), and compare
the contract's verdict (`contract`) with the mock's (`mock`); `comparison` says where they disagree and
which requests a known gap leaves out. The requests come from `keyword_requests` (a valid request, then
one part changed at a time) and `schemathesis_cases` (Schemathesis's own cases, as its transport sends
them); `operations` lists what they are made for, in the served documents and in `specimen`.
"""
