//! `user-scheduler`: parse the command line and hand over to the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use user_scheduler::cli::{Cli, Command};
use user_scheduler::explain::{self, ExplainInput, Format};

fn main() -> ExitCode {
    let (args, ignored) = user_scheduler::cli::normalize_args(std::env::args().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match cli.command {
        Command::Explain(args) => run_explain(&args),
        Command::Run(args) => user_scheduler::run::main(args, &ignored),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => user_scheduler::run::sandbox(args),
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => user_scheduler::run::demo(args),
        #[cfg(feature = "simulate")]
        Command::Simulate(args) => run_simulate(&args),
    }
}

#[cfg(feature = "simulate")]
fn run_simulate(args: &user_scheduler::simulate::SimulateArgs) -> ExitCode {
    use user_scheduler::simulate::{self, Format};
    let plan = match simulate::plan(args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {}", explain::printable(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let (compared, runs) = simulate::run(&plan);
    if let Some(path) = &args.plot {
        let first: Vec<_> = runs.iter().filter_map(|r| r.first()).collect();
        if let Err(e) = std::fs::write(path, capacity::sim::svg(&first)) {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    print!(
        "{}",
        match args.format {
            Format::Text => compared.to_text(),
            Format::Json => compared.to_json(),
        }
    );
    ExitCode::SUCCESS
}

fn run_explain(args: &user_scheduler::cli::ExplainArgs) -> ExitCode {
    let input = ExplainInput {
        cluster: args.cluster.clone(),
        pod: args.pod.clone(),
        config: args.config.clone(),
    };
    match explain::explain(&input) {
        Ok(report) => {
            for w in &report.warnings {
                eprintln!("warning: {}", explain::printable(w));
            }
            let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
                Format::Text
            } else {
                Format::Json
            });
            let out = match format {
                Format::Json => explain::to_json(&report.explanation),
                Format::Text => explain::to_text(&report.explanation),
            };
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", explain::printable(&e.to_string()));
            ExitCode::from(2)
        }
    }
}
