"""A real STS peer for tests/it/aws_lambda.rs: moto's server with IAM authentication enforced, so
SigV4 signatures are verified and policies are evaluated. Sets up two users through boto3 (the
first actions, before enforcement starts), prints one JSON line describing them, and serves until
stdin closes.

    credwatch: the user credwatch runs as; its policy allows sts:AssumeRole and iam:GetRole
    nobody:    a user with no policy (AssumeRole is AccessDenied)

and two roles: genesys-data-actions, whose trust policy lets Genesys
Cloud's AWS account (765628985471) assume it with the external id genesys-org-8c1f5b2e, and
genesys-lost-trust, whose trust statement names another account; both trust the credwatch user too.
"""

import json
import os
import sys

# The setup below makes exactly this many calls; every call after them is authenticated.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "7"

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
url = f"http://{host}:{port}"

iam = boto3.client(
    "iam",
    endpoint_url=url,
    region_name="us-east-1",
    aws_access_key_id="setup",
    aws_secret_access_key="setup",
)
iam.create_user(UserName="credwatch")
credwatch = iam.create_access_key(UserName="credwatch")["AccessKey"]
iam.put_user_policy(
    UserName="credwatch",
    PolicyName="assume-genesys-roles",
    PolicyDocument=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["sts:AssumeRole", "iam:GetRole"], "Resource": "*"}
            ],
        }
    ),
)
iam.create_user(UserName="nobody")
nobody = iam.create_access_key(UserName="nobody")["AccessKey"]


def trusting(account):
    # One statement naming both principals: moto takes a statement whose principal is not the
    # caller as a Deny, so credwatch's own user shares Genesys's statement (and its condition).
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {
                        "AWS": [
                            f"arn:aws:iam::{account}:root",
                            "arn:aws:iam::123456789012:user/credwatch",
                        ]
                    },
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": "genesys-org-8c1f5b2e"}},
                }
            ],
        }
    )


iam.create_role(
    RoleName="genesys-data-actions",
    AssumeRolePolicyDocument=trusting("765628985471"),
)
iam.create_role(
    RoleName="genesys-lost-trust",
    AssumeRolePolicyDocument=trusting("111122223333"),
)

print(
    json.dumps(
        {
            "url": url,
            "credwatch": [credwatch["AccessKeyId"], credwatch["SecretAccessKey"]],
            "nobody": [nobody["AccessKeyId"], nobody["SecretAccessKey"]],
        }
    ),
    flush=True,
)
sys.stdin.read()
server.stop()
