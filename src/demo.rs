//! `credwatch demo`: the daemon against the built-in [`simulator`](crate::simulator), with no
//! config and no network beyond loopback. It writes the simulator's keys and certificates, the
//! demo's secret files and its config into a directory, then runs the daemon on that config:
//! eighteen integrations of all seven types, healthy ones and failures of nine reasons.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::private_dir;
use crate::simulator::{Endpoints, Material, Simulator, accounts};

/// The demo's secret files, by name, with their content.
const SECRETS: &[(&str, &str)] = &[
    ("zendesk-token", accounts::ZENDESK_TOKEN),
    ("zendesk-old-token", "zd-demo-token-rotated-away"),
    ("genesys-client-secret", accounts::GENESYS_SECRET),
    ("aws-access-key-id", accounts::AWS_ACCESS_KEY_ID),
    ("aws-secret-access-key", accounts::AWS_SECRET_ACCESS_KEY),
    ("dynamics-password", accounts::DYNAMICS_PASSWORD),
    ("salesforce-password", accounts::SALESFORCE_PASSWORD),
    (
        "salesforce-security-token",
        accounts::SALESFORCE_SECURITY_TOKEN,
    ),
    (
        "salesforce-client-secret",
        accounts::SALESFORCE_CLIENT_SECRET,
    ),
    (
        "salesforce-old-password",
        accounts::SALESFORCE_STALE_PASSWORD,
    ),
    ("orders-api-password", accounts::WEB_PASSWORD),
    ("inventory-client-secret", accounts::WEB_CLIENT_SECRET),
];

/// A prepared demo: the simulator running and the config that checks it, written to disk.
pub struct Demo {
    pub simulator: Simulator,
    pub config_path: PathBuf,
    pub config_text: String,
}

/// Starts the simulator and writes the secrets and the config into `dir`.
pub async fn prepare(dir: &Path, listen: SocketAddr) -> Result<Demo, String> {
    let simulator = Simulator::start(dir).await?;
    let secrets = dir.join("secrets");
    write_secrets(&secrets)?;
    let config_text = config(
        &simulator.endpoints,
        &simulator.material,
        &secrets,
        &dir.join("state"),
        listen,
    );
    let config_path = dir.join("credwatch.toml");
    private_dir::write(&config_path, config_text.as_bytes())?;
    Ok(Demo {
        simulator,
        config_path,
        config_text,
    })
}

/// The simulator alone, for benchmarks: started, with the demo's secret files in `dir/secrets`.
/// Answers what a config needs to use it, as JSON.
pub async fn simulator_only(dir: &Path) -> Result<(Simulator, serde_json::Value), String> {
    let simulator = Simulator::start(dir).await?;
    let secrets = dir.join("secrets");
    write_secrets(&secrets)?;
    let material = &simulator.material;
    let description = serde_json::json!({
        "endpoints": simulator.endpoints,
        "secrets": secrets,
        "google_key_file": material.google_key_file,
        "server_ca": material.server_ca,
        "client_cert": material.client_soon.0,
        "client_key": material.client_soon.1,
        // Who the simulator knows (the secrets are the files above).
        "accounts": {
            "zendesk_email": accounts::ZENDESK_EMAIL,
            "genesys_client_id": accounts::GENESYS_CLIENT_ID,
            "dynamics_user": accounts::DYNAMICS_USER,
            "entra_application_id": accounts::ENTRA_APPLICATION_ID,
            "salesforce_user": accounts::SALESFORCE_USER,
            "salesforce_client_id": accounts::SALESFORCE_CLIENT_ID,
            "aws_role_arn": format!("arn:aws:iam::{}:role/{}", accounts::AWS_ACCOUNT, accounts::AWS_ROLE),
            "aws_external_id": accounts::AWS_EXTERNAL_ID,
            "web_user": accounts::WEB_USER,
            "web_client_id": accounts::WEB_CLIENT_ID,
        },
    });
    Ok((simulator, description))
}

fn write_secrets(dir: &Path) -> Result<(), String> {
    private_dir::subdir(dir)?;
    for (name, value) in SECRETS {
        private_dir::write(&dir.join(name), format!("{value}\n").as_bytes())?;
    }
    Ok(())
}

/// The demo's config: a working example of every type, pointed at the simulator.
pub fn config(
    endpoints: &Endpoints,
    material: &Material,
    secrets: &Path,
    state_dir: &Path,
    listen: SocketAddr,
) -> String {
    let secret = |name: &str| format!("{{ file = \"{}\" }}", secrets.join(name).display());
    let path = |p: &Path| p.display().to_string();
    let Endpoints {
        aws_sts,
        genesys,
        google,
        entra,
        dynamics,
        salesforce,
        web,
        web_mtls,
        zendesk,
    } = endpoints;
    let a = accounts::AWS_ACCOUNT;
    format!(
        r#"# credwatch demo: every provider below is credwatch's own simulator on 127.0.0.1, speaking
# the provider's real protocol; the credentials are made up for the demo. Nothing leaves this
# machine. Each integration's notes say what it shows.

[server]
listen = "{listen}"

[defaults]
interval = "10s"
timeout = "5s"
state_dir = "{state_dir}"

# The org view: Genesys Cloud's own list of the org's integrations (one of them in ERROR, one
# that credwatch does not check) and the mTLS client certificates it presents (a DigiCert one
# 20 days from expiry), read with the OAuth client of "Genesys Cloud Data Actions" below.
[genesys]
integration = "Genesys Cloud Data Actions"
interval = "30s"

# ---- Zendesk: GET /api/v2/users/me.json as {{email}}/token ----
[[integration]]
type = "zendesk"
name = "Zendesk Support"
notes = "Healthy: an agent's API token."
[integration.credentials]
email = "{zd_email}"
base_url = "{zendesk}"
api_token = {zd_token}

[[integration]]
type = "zendesk"
name = "Zendesk rotated token"
notes = "invalid_credentials: the token was rotated in Zendesk but not here."
interval = "12s"
[integration.credentials]
email = "{zd_email}"
base_url = "{zendesk}"
api_token = {zd_old_token}

[[integration]]
type = "zendesk"
name = "Zendesk busy agent"
notes = "rate_limited: Zendesk answers 429 with Retry-After, and credwatch waits that long."
interval = "15s"
[integration.credentials]
email = "{zd_busy}"
base_url = "{zendesk}"
api_token = {zd_token}

# ---- Genesys Cloud: OAuth client credentials, then /api/v2/tokens/me ----
[[integration]]
type = "genesys_cloud"
notes = "Healthy: an OAuth client with the Client Credentials grant."
[integration.credentials]
client_id = "{gc_client}"
client_secret = {gc_secret}
region = "mypurecloud.com"
[integration.endpoints]
token_url = "{genesys}/oauth/token"
verify_url = "{genesys}/api/v2/tokens/me"

[[integration]]
type = "genesys_cloud"
name = "Genesys Cloud slow login"
notes = "timeout: the token endpoint never answers; the check gives up after 3 s and delays no one."
timeout = "3s"
interval = "15s"
[integration.credentials]
client_id = "{gc_slow}"
client_secret = {gc_secret}
region = "mypurecloud.com"
[integration.endpoints]
token_url = "{genesys}/oauth/token"
verify_url = "{genesys}/api/v2/tokens/me"

# ---- AWS Lambda: STS AssumeRole with the external id (SigV4-signed), then GetCallerIdentity ----
[[integration]]
type = "aws_lambda"
name = "Lambda order lookup"
notes = "Healthy: the role trusts credwatch's IAM user with this external id."
[integration.credentials]
role_arn = "arn:aws:iam::{a}:role/{aws_role}"
external_id = "{aws_external_id}"
region = "us-east-1"
access_key_id = {aws_key_id}
secret_access_key = {aws_secret}
[integration.endpoints]
sts_endpoint = "{aws_sts}"

[[integration]]
type = "aws_lambda"
name = "Lambda reporting"
notes = "permission_denied: this role's trust policy does not allow credwatch (STS AccessDenied)."
interval = "12s"
[integration.credentials]
role_arn = "arn:aws:iam::{a}:role/{aws_other_role}"
external_id = "{aws_external_id}"
region = "us-east-1"
access_key_id = {aws_key_id}
secret_access_key = {aws_secret}
[integration.endpoints]
sts_endpoint = "{aws_sts}"

# ---- Google: service-account JWT (RS256) bearer grant, then tokeninfo ----
[[integration]]
type = "google"
name = "Google Cloud"
notes = "Healthy: a GCP service account's JSON key file."
[integration.credentials]
credential_type = "gcp_service_account"
key_file = "{google_key}"
[integration.endpoints]
token_url = "{google}/token"
tokeninfo_url = "{google}/tokeninfo"
revoke_url = "{google}/revoke"

[[integration]]
type = "google"
name = "Google Workspace directory"
notes = "impersonation_denied: the service account has no domain-wide delegation for this user."
interval = "12s"
[integration.credentials]
credential_type = "workspace_service_account"
key_file = "{google_key}"
scopes = ["https://www.googleapis.com/auth/admin.directory.user.readonly"]
impersonate_user = "{google_denied_user}"
[integration.endpoints]
token_url = "{google}/token"
tokeninfo_url = "{google}/tokeninfo"
revoke_url = "{google}/revoke"

# ---- Microsoft Dynamics 365: Entra ID password grant, then WhoAmI ----
[[integration]]
type = "dynamics365"
name = "Dynamics 365 CRM"
notes = "Healthy: a licensed service user without MFA."
[integration.credentials]
username = "{dyn_user}"
password = {dyn_password}
org_url = "{dynamics}"
application_id = "{entra_app}"
tenant = "demo.onmicrosoft.com"
[integration.endpoints]
token_url = "{entra}/demo.onmicrosoft.com/oauth2/v2.0/token"

[[integration]]
type = "dynamics365"
name = "Dynamics 365 MFA user"
notes = "mfa_required: a Conditional Access policy demands MFA (AADSTS50076)."
interval = "12s"
[integration.credentials]
username = "{dyn_mfa}"
password = {dyn_password}
org_url = "{dynamics}"
application_id = "{entra_app}"
tenant = "demo.onmicrosoft.com"
[integration.endpoints]
token_url = "{entra}/demo.onmicrosoft.com/oauth2/v2.0/token"

[[integration]]
type = "dynamics365"
name = "Dynamics 365 locked user"
notes = "account_locked (AADSTS50053): the lockout guard makes no further attempt until the password changes."
interval = "15s"
[integration.credentials]
username = "{dyn_locked}"
password = {dyn_password}
org_url = "{dynamics}"
application_id = "{entra_app}"
tenant = "demo.onmicrosoft.com"
[integration.endpoints]
token_url = "{entra}/demo.onmicrosoft.com/oauth2/v2.0/token"

# ---- Salesforce: OAuth username-password flow, then the identity URL ----
[[integration]]
type = "salesforce"
name = "Salesforce Service Cloud"
notes = "Healthy: the integration user with its security token."
[integration.credentials]
username = "{sf_user}"
password = {sf_password}
security_token = {sf_token}
login_url = "{salesforce}"
client_id = "{sf_client}"
client_secret = {sf_client_secret}

[[integration]]
type = "salesforce"
name = "Salesforce rotated password"
notes = "invalid_credentials: the password changed in Salesforce only. The simulator locks a user after 5 failed logins; the lockout guard stops at 1."
interval = "10s"
[integration.credentials]
username = "{sf_stale}"
password = {sf_old_password}
security_token = {sf_token}
login_url = "{salesforce}"
client_id = "{sf_client}"
client_secret = {sf_client_secret}

# ---- Web services: basic, user-defined OAuth, mTLS ----
[[integration]]
type = "web_service"
name = "Orders API"
notes = "Healthy: HTTP Basic."
[integration.credentials]
credential_type = "basic"
username = "{web_user}"
password = {web_password}
[integration.request]
url = "{web}/orders/health"
expect_json = {{ pointer = "/status", equals = "ok" }}

[[integration]]
type = "web_service"
name = "Inventory API"
notes = "Healthy: an OAuth client-credentials login, then the API with the token."
interval = "15s"
[integration.credentials]
credential_type = "user_defined_oauth"
login_url = "{web}/oauth/token"
client_id = "{web_client}"
client_secret = {web_client_secret}
[integration.request]
url = "{web}/inventory/health"
[integration.request.headers]
Authorization = "Bearer ${{credentials.token}}"

[[integration]]
type = "web_service"
name = "Billing API (mTLS)"
notes = "Healthy, but its client certificate expires in 5 days: see the certificate column."
[integration.credentials]
credential_type = "none"
[integration.request]
url = "{web_mtls}/billing/health"
[integration.tls]
client_cert = "{soon_cert}"
client_key = "{soon_key}"
ca_cert = "{server_ca}"

[[integration]]
type = "web_service"
name = "Payments API (mTLS)"
notes = "expired_credentials: the client certificate expired 2 days ago; no request is made."
interval = "12s"
[integration.credentials]
credential_type = "none"
[integration.request]
url = "{web_mtls}/billing/health"
[integration.tls]
client_cert = "{old_cert}"
client_key = "{old_key}"
ca_cert = "{server_ca}"
"#,
        state_dir = path(state_dir),
        zd_email = accounts::ZENDESK_EMAIL,
        zd_busy = accounts::ZENDESK_BUSY_EMAIL,
        zd_token = secret("zendesk-token"),
        zd_old_token = secret("zendesk-old-token"),
        gc_client = accounts::GENESYS_CLIENT_ID,
        gc_slow = accounts::GENESYS_SLOW_CLIENT_ID,
        gc_secret = secret("genesys-client-secret"),
        aws_role = accounts::AWS_ROLE,
        aws_other_role = accounts::AWS_OTHER_ROLE,
        aws_external_id = accounts::AWS_EXTERNAL_ID,
        aws_key_id = secret("aws-access-key-id"),
        aws_secret = secret("aws-secret-access-key"),
        google_key = path(&material.google_key_file),
        google_denied_user = accounts::GOOGLE_UNDELEGATED_USER,
        dyn_user = accounts::DYNAMICS_USER,
        dyn_mfa = accounts::DYNAMICS_MFA_USER,
        dyn_locked = accounts::DYNAMICS_LOCKED_USER,
        dyn_password = secret("dynamics-password"),
        entra_app = accounts::ENTRA_APPLICATION_ID,
        sf_user = accounts::SALESFORCE_USER,
        sf_stale = accounts::SALESFORCE_STALE_USER,
        sf_password = secret("salesforce-password"),
        sf_old_password = secret("salesforce-old-password"),
        sf_token = secret("salesforce-security-token"),
        sf_client = accounts::SALESFORCE_CLIENT_ID,
        sf_client_secret = secret("salesforce-client-secret"),
        web_user = accounts::WEB_USER,
        web_password = secret("orders-api-password"),
        web_client = accounts::WEB_CLIENT_ID,
        web_client_secret = secret("inventory-client-secret"),
        soon_cert = path(&material.client_soon.0),
        soon_key = path(&material.client_soon.1),
        old_cert = path(&material.client_expired.0),
        old_key = path(&material.client_expired.1),
        server_ca = path(&material.server_ca),
    )
}
