//! The commands of the simulator feature: `credwatch demo` (the daemon against the built-in
//! simulator of every provider) and `credwatch simulate` (the simulator alone, for benchmarks).

use std::net::SocketAddr;
use std::path::PathBuf;

use credwatch::config::Config;
use credwatch::daemon;

use super::{EXIT_FAILED, EXIT_OK};

pub(super) async fn simulate(dir: &std::path::Path) -> u8 {
    let (simulator, description) = match credwatch::demo::simulator_only(dir).await {
        Ok(started) => started,
        Err(e) => {
            eprintln!("credwatch simulate: {e}");
            return EXIT_FAILED;
        }
    };
    println!("{description}");
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("credwatch simulate: cannot install signal handlers");
        return EXIT_FAILED;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    drop(simulator);
    EXIT_OK
}

pub(super) async fn demo(listen: SocketAddr, dir: Option<PathBuf>, print_config: bool) -> u8 {
    let dir = match credwatch::private_dir::prepare(dir.as_deref()) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("credwatch demo: {e}");
            return EXIT_FAILED;
        }
    };
    let prepared = match credwatch::demo::prepare(&dir, listen).await {
        Ok(prepared) => prepared,
        Err(e) => {
            eprintln!("credwatch demo: {e}");
            return EXIT_FAILED;
        }
    };
    if print_config {
        print!("{}", prepared.config_text);
        return EXIT_OK;
    }
    let config = match Config::load(&prepared.config_path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("credwatch demo: the demo's own config is invalid (a bug): {e}");
            return EXIT_FAILED;
        }
    };
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        "demo: {} simulated integrations; status page http://{listen}/, API http://{listen}/api/v1/integrations, metrics http://{listen}/metrics; files in {}",
        config.integrations.len(),
        dir.display()
    );
    let result = daemon::run(config, prepared.config_path.clone(), Some(listen)).await;
    drop(prepared);
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!("{e}");
            EXIT_FAILED
        }
    }
}
