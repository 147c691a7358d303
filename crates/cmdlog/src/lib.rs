//! How mk's commands log (mk-compose, mk-firstboot, mk-rollout and the
//! test tools): through `tracing`, to stderr so that stdout stays the
//! command's answer, filtered by `RUST_LOG` or the command's default level,
//! coloured only on a terminal (journald and CI logs get plain text).

/// Installs the subscriber; `default_filter` (e.g. `"info"`, `"warn"`)
/// applies when `RUST_LOG` is unset or invalid. Call once, first thing in
/// `main`.
pub fn init(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
