//! The `credwatch` binary: parses the command line, sets up logging and hands over to the
//! commands in `cli.rs`. Exit codes: 0 success, 1 a check failed (or the daemon could not
//! start), 2 the config is unusable.

mod cli;
mod logging;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    one_heap();
    more_files();
    let args = cli::Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(args.log_filter()).unwrap_or_else(|e| {
        eprintln!(
            "credwatch: invalid --log-level {:?}: {e}; using info",
            args.log_level.as_deref().unwrap_or_default()
        );
        tracing_subscriber::EnvFilter::new("warn,credwatch=info")
    });
    logging::init(filter, args.log_format);
    // One thread: checks spend their time waiting on providers, and a single thread answers
    // them without waking (and handing work to) a second one, which is most of what a check
    // would otherwise cost. Work that takes long (state saves, scrapes, reloads, bcrypt) goes to
    // the blocking pool.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("credwatch: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(cli::dispatch(args));
    // Checks still hanging on a provider must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    ExitCode::from(code)
}

/// Raises the soft limit on open files to the hard one (systemd's default soft limit is 1,024):
/// the server's connections and the checks' connections must not run out of descriptors.
fn more_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Keeps glibc's heap to what credwatch uses. glibc gives threads heaps of their own, which keep
/// what they once held; credwatch's threads besides the runtime's (a state save, a scrape)
/// allocate briefly and rarely, so one shared heap costs them nothing. And glibc raises its
/// threshold for mapping large blocks after freeing one, so that the next ones (a scrape's
/// buffers, a state save's) come from the heap and stay there: a fixed threshold returns them.
fn one_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes plain integers and only tunes glibc's allocator; it is called here
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
