//! The zkinfer command-line tool as a library: the pipeline stages (`pipeline`), the files of
//! a compiled-model directory (`files`), the on-chain market driver (`market`), the gRPC
//! prover service (`server`) and the subcommands (`cmd`). The `zkinfer` binary only parses arguments and calls [`cmd::run`].

/// `println!` that ends the process quietly when stdout is closed (e.g. piped into `head`)
/// instead of panicking, and prints nothing when the text report is off ([`cmd::quiet`]:
/// `--json`, the Python package).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if $crate::cmd::quiet() {
        } else if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

pub mod batch;
pub mod cmd;
pub mod files;
pub mod market;
pub mod node;
pub mod pipeline;
pub mod server;
pub mod sharding;

/// Installs rustls's ring crypto provider for this process (TLS of the server and the client);
/// a second call keeps the first.
pub fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
