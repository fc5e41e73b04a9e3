//! The `galley` binary: see `galley --help`.

fn main() -> std::process::ExitCode {
    galley::cli::main()
}
