//! `credwatch demo`: the daemon against the built-in [`simulator`](crate::simulator), with no
//! config and no network beyond loopback. It writes the simulator's keys and certificates, the
//! demo's secret files and its config into a directory, then runs the daemon on that config:
//! twenty-one integrations of all seven types, healthy ones and failures of ten reasons.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::private_dir;
use crate::simulator::{self, Endpoints, Material, Simulator, Site, accounts};

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

/// Every provider's demo secret files, each in a file of its own.
fn write_secrets(dir: &Path) -> Result<(), String> {
    private_dir::subdir(dir)?;
    for (name, value) in simulator::PROVIDERS.iter().flat_map(|p| p.secrets) {
        private_dir::write(&dir.join(name), format!("{value}\n").as_bytes())?;
    }
    Ok(())
}

/// The demo's config: a working example of every type, pointed at the simulator. Each
/// simulated provider writes its own integrations ([`simulator::PROVIDERS`]).
pub fn config(
    endpoints: &Endpoints,
    material: &Material,
    secrets: &Path,
    state_dir: &Path,
    listen: SocketAddr,
) -> String {
    let mut config = format!(
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
# that credwatch does not check), the mTLS client certificates it presents (a DigiCert one 20
# days from expiry) and its record of data-action executions (Genesys's calls to "Zendesk
# Support" are refused while credwatch's check of it passes: a disagreement), read with the
# OAuth client of "Genesys Cloud Data Actions" below.
[genesys]
integration = "Genesys Cloud Data Actions"
interval = "10s"

# Canary actions Genesys runs itself, with the credentials stored in Genesys: the Orders API's
# WhoAmI passes; the Zendesk lookup fails (Genesys holds the token rotated away from).
[[genesys.canary]]
action = "{canary_ok}"
integration = "Orders API"
interval = "1m"

[[genesys.canary]]
action = "{canary_refused}"
integration = "Zendesk Support"
input = {{ verbose = true }}
interval = "1m"
"#,
        state_dir = state_dir.display(),
        canary_ok = simulator::CANARY_OK,
        canary_refused = simulator::CANARY_REFUSED,
    );
    let site = Site {
        endpoints,
        material,
        secrets,
    };
    for provider in simulator::PROVIDERS {
        config.push('\n');
        config.push_str(&(provider.demo)(&site));
    }
    config
}
