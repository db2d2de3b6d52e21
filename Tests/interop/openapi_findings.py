#!/usr/bin/env python3
"""Every way keyshardd and docs/openapi.yaml disagreed when schemathesis first ran against them,
replayed as one fixed request each, so that a change to either side that brings one back fails
by name rather than by chance under a seed.

Usage: openapi_findings.py OPENAPI BASE_URL HPKE_KEY FROST_KEY
Prints one line per finding and exits non-zero when any of them is back.

Two kinds:
- a request keyshardd accepts must be one the document calls valid (schemathesis's
  negative_data_rejection: "schema-violating request accepted");
- an answer must match the document's response schema for its status
  (response_schema_conformance).
"""
import sys

import jsonschema_rs
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance


def main() -> int:
    document, base_url, hpke_key, frost_key = sys.argv[1:5]
    schema = schemathesis.openapi.from_path(document)
    failed = 0

    def call(operation_id, name=None, body=None, query=None):
        operation = schema.find_operation_by_id(operation_id)
        path = {"name": name} if name else {}
        if "{kind}" in operation.path:
            path["kind"] = "plaintext"
        arguments = {"path_parameters": path, "query": query or {}}
        if body is not None:
            arguments["body"] = body
            arguments["media_type"] = "application/json"
        case = operation.Case(**arguments)
        return operation, case, case.call(base_url=base_url)

    def report(what, held, detail=""):
        nonlocal failed
        failed += 0 if held else 1
        print(("ok    " if held else "FAILED ") + what + (f": {detail}" if detail else ""))

    # Requests keyshardd accepts (it reads null, and "" for integers, booleans and options, as
    # absent, ignores what an operation does not use, and takes numbers as strings): the
    # document must call each of them valid.
    accepted = [
        ("datakey with context null", "dataKey", hpke_key, {"bits": 256, "context": None}),
        ("datakey with bits as a string", "dataKey", hpke_key, {"bits": "256"}),
        ("an encrypt batch item with nonce null", "encrypt", hpke_key,
         {"batch_input": [{"plaintext": "", "nonce": None, "associated_data": None, "reference": None}]}),
        ("encrypt with batch_input and partial_failure_response_code null", "encrypt", hpke_key,
         {"plaintext": "aGk=", "batch_input": None, "partial_failure_response_code": None}),
        ("config with min_decryption_version \"\"", "configureKey", hpke_key,
         {"min_decryption_version": "", "min_encryption_version": 0, "deletion_allowed": False}),
        ("config with deletion_allowed \"FALSE\"", "configureKey", hpke_key, {"deletion_allowed": "FALSE"}),
        ("a sign batch item with hmac null and signature \"\" (sign ignores both)", "sign", frost_key,
         {"batch_input": [{"input": "", "signature": "", "hmac": None, "context": None}]}),
        ("sign with hash_algorithm \"\" and prehashed \"false\"", "sign", frost_key,
         {"input": "aGk=", "hash_algorithm": "", "prehashed": "false", "salt_length": None}),
    ]
    for what, operation_id, name, body in accepted:
        operation, _, response = call(operation_id, name, body)
        documented = operation.body[0].is_valid(body)
        report(what, response.status_code < 400 and documented,
               f"HTTP {response.status_code}, the document calls it {'valid' if documented else 'invalid'}")

    operation, _, response = call("configureKey", hpke_key)
    report("config without a body", response.status_code == 200 and not operation.body[0].is_required,
           f"HTTP {response.status_code}, body required: {operation.body[0].is_required}")

    operation, _, response = call("listKeysGet", query={"list": ""})
    list_schema = next(parameter for parameter in operation.query if parameter.name == "list").definition["schema"]
    documented = jsonschema_rs.validator_for(list_schema).is_valid("")
    report("GET /v1/transit/keys?list= (the value is ignored)", response.status_code == 200 and documented,
           f"HTTP {response.status_code}, the document calls it {'valid' if documented else 'invalid'}")

    # Batches with a failed item answer 400 with every result, not an ErrorBody: the document's
    # schema for that status must say so.
    refused_batches = [
        ("a decrypt batch with an unparsable ciphertext", "decrypt", hpke_key,
         {"batch_input": [{"ciphertext": "keyshard:v0:"}]}),
        ("a sign batch with an item that has no input", "sign", frost_key, {"batch_input": [{"reference": "r"}]}),
        ("a verify batch with an item that has no signature", "verify", frost_key,
         {"batch_input": [{"input": "aGk="}]}),
    ]
    for what, operation_id, name, body in refused_batches:
        _, case, response = call(operation_id, name, body)
        try:
            case.validate_response(
                response, checks=[not_a_server_error, status_code_conformance, response_schema_conformance])
            batch = "batch_results" in (response.json().get("data") or {})
            report(what, response.status_code == 400 and batch, f"HTTP {response.status_code}, as documented")
        except FailureGroup as error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip().startswith("- ST")]
            report(what, False, f"HTTP {response.status_code}: {'; '.join(lines) or type(error).__name__}")

    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
