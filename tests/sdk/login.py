#!/usr/bin/env python3
"""Logs in with a provider's official Python SDK, every request going to credwatch's recording
server, so that tests/it/sdk_conformance.rs can set the SDK's requests beside credwatch's.

    python login.py KIND PARAMS_JSON

KIND: aws_lambda, genesys_cloud, google, dynamics365, salesforce or zendesk. PARAMS_JSON: the
recorder's URL ("recorder") and the credentials. The SDKs that use `requests` keep their real
provider URLs; a transport adapter sends each request to the recorder instead, with the host it
was meant for in `X-Original-Host`. boto3 and the Genesys Cloud SDK take the recorder as their
endpoint. Errors after the login (an SDK disliking a canned answer) are reported, not fatal: the
login request is what is compared.
"""

import json
import sys
from urllib.parse import urlsplit, urlunsplit


def send_requests_to(recorder):
    import requests.adapters

    target = urlsplit(recorder)
    send = requests.adapters.HTTPAdapter.send

    def to_recorder(self, request, **kwargs):
        meant = urlsplit(request.url)
        request.headers["X-Original-Host"] = meant.netloc
        request.url = urlunsplit((target.scheme, target.netloc, meant.path, meant.query, ""))
        return send(self, request, **kwargs)

    requests.adapters.HTTPAdapter.send = to_recorder


def aws_lambda(p):
    import boto3

    sts = boto3.client(
        "sts",
        region_name=p["region"],
        endpoint_url=p["recorder"],
        aws_access_key_id=p["access_key_id"],
        aws_secret_access_key=p["secret_access_key"],
    )
    answer = sts.assume_role(
        RoleArn=p["role_arn"],
        RoleSessionName=p["session_name"],
        ExternalId=p["external_id"],
        DurationSeconds=900,
    )
    c = answer["Credentials"]
    role = boto3.client(
        "sts",
        region_name=p["region"],
        endpoint_url=p["recorder"],
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )
    role.get_caller_identity()


def genesys_cloud(p):
    import PureCloudPlatformClientV2 as gc

    gc.configuration.host = p["recorder"]
    client = gc.api_client.ApiClient()
    client.get_client_credentials_token(p["client_id"], p["client_secret"])
    gc.TokensApi(client).get_tokens_me()


def google(p):
    import google.auth.transport.requests
    from google.oauth2 import service_account

    send_requests_to(p["recorder"])
    with open(p["key_file"]) as f:
        info = json.load(f)
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=p["scopes"], subject=p.get("subject")
    )
    creds.refresh(google.auth.transport.requests.Request())


def dynamics365(p):
    import msal

    send_requests_to(p["recorder"])
    app = msal.PublicClientApplication(
        p["client_id"], authority=f"https://login.microsoftonline.com/{p['tenant']}"
    )
    app.acquire_token_by_username_password(
        p["username"], p["password"], scopes=[p["org_url"].rstrip("/") + "/.default"]
    )


def salesforce(p):
    from simple_salesforce import Salesforce

    send_requests_to(p["recorder"])
    # With security_token, simple-salesforce logs in over SOAP; its OAuth username-password
    # flow takes the token appended to the password, as Salesforce's own documentation says.
    Salesforce(
        username=p["username"],
        password=p["password"] + p["security_token"],
        consumer_key=p["client_id"],
        consumer_secret=p["client_secret"],
        domain="login",
    )


def zendesk(p):
    from zenpy import Zenpy

    send_requests_to(p["recorder"])
    client = Zenpy(subdomain=p["subdomain"], email=p["email"], token=p["api_token"])
    client.users.me()


# The distribution each kind's SDK comes in (for its version).
DISTRIBUTIONS = {
    "aws_lambda": "boto3",
    "genesys_cloud": "PureCloudPlatformClientV2",
    "google": "google-auth",
    "dynamics365": "msal",
    "salesforce": "simple-salesforce",
    "zendesk": "zenpy",
}


def main():
    import importlib.metadata

    kind, params = sys.argv[1], json.loads(sys.argv[2])
    try:
        sdk = DISTRIBUTIONS[kind]
        version = f"{sdk} {importlib.metadata.version(sdk)}"
    except importlib.metadata.PackageNotFoundError as e:
        print(json.dumps({"missing": f"{e} is not installed"}))
        return
    try:
        globals()[kind](params)
        print(json.dumps({"version": version}))
    except ImportError as e:
        print(json.dumps({"missing": str(e)}))
    except Exception as e:  # after the login: reported, compared anyway
        print(json.dumps({"version": version, "after_login": f"{type(e).__name__}: {e}"}))


if __name__ == "__main__":
    main()
