//! The full firefighter server with every integration compiled in:
//! `cargo run --example firefighter` (see `-- --help` for the other commands).

fn main() -> std::process::ExitCode {
    firefighter::cli::run()
}
