//! The full firefighter server with every integration compiled in:
//! `cargo run --example firefighter` (see `-- --help` for the other commands).

// Many small allocations per request (HTTP, JSON, SQL arguments): under
// load glibc's malloc took about a tenth of the CPU (perf, `cargo bench
// --bench api`); mimalloc serves them from per-thread pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    firefighter::cli::run()
}
