"""schemathesis hooks for planbok's run (tests/it/openapi_wire.rs).

The organization secret (`encryptedOrganizationSecret`) is an RSA-OAEP ciphertext that only
the holder of the organization's secret can make, to a key Node 1 signs: no generator can
make one, and the server answers anything else with 400 `secret_malformed`. Positive cases
leave it out where it is optional (the dev organization is Standard); negative cases keep
whatever they send. Where it is required (registering the secret), the run's configuration
lets 400 answer a positive case. Its refusals have their own drills (tests/it/secrets.rs, custody.rs).
"""

import schemathesis
from schemathesis import GenerationMode


@schemathesis.hook
def map_case(context, case):
    body = case.body
    positive = case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE
    required = case.operation.path == "/v2/organization/secret"
    if positive and not required and isinstance(body, dict):
        body.pop("encryptedOrganizationSecret", None)
    return case
