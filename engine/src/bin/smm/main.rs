//! `smm`: the command line of the smm measure engine.

mod cli;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The compiler child (see smm_engine::sandbox::Isolation): before
    // anything else, and without logging, runtime or home.
    let mut raw = std::env::args();
    if raw.nth(1).as_deref() == Some(smm_engine::sandbox::CHILD_COMMAND) {
        let memory = raw.next().unwrap_or_default();
        return smm_engine::sandbox::child_main(&memory, &raw.next().unwrap_or_default());
    }
    // Like other command-line tools, end quietly when the reader of the
    // output goes away (`smm query x --json | head`), instead of a panic
    // on the broken pipe (Rust ignores SIGPIPE by default).
    // SAFETY: restoring a signal's default disposition, before any thread
    // is started.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    let (level, format) = args.log_settings();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SMM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Human => logs.init(),
        cli::LogFormat::Json => logs.json().init(),
    }
    // One thread for a command that does one thing (a run, a query): no
    // worker threads to start and stop. `smm serve` gets one per core.
    let mut runtime = match args.serves() {
        true => tokio::runtime::Builder::new_multi_thread(),
        false => {
            // Nothing runs beside its blocking work: see smm_engine::blocking.
            smm_engine::blocking::in_place();
            tokio::runtime::Builder::new_current_thread()
        }
    };
    let runtime = runtime
        .enable_all()
        .build()
        .expect("starting the tokio runtime");
    let result = runtime.block_on(cli::run(args));
    // A host call a plugin left blocked in a thread the deadline could not
    // stop must not keep smm from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line: the error and its causes.
            let causes: Vec<String> = e.chain().map(ToString::to_string).collect();
            let mut line = String::new();
            for c in causes {
                if !line.contains(&c) {
                    if !line.is_empty() {
                        line.push_str(": ");
                    }
                    line.push_str(&c);
                }
            }
            // Errors may quote what a plugin sent: escaped, on one line.
            let line = line.replace('\n', " ");
            eprintln!("error: {}", smm_catalogue::text::escape(&line));
            ExitCode::FAILURE
        }
    }
}
