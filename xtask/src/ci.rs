//! `cargo xtask test`: every check the project has, in order, stopping at the first failure.

use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::util::{cargo, run};
use crate::{crash, deps, soak, tidy, verify};

fn nextest_available() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cargo_step(args: &[&str]) -> Result<()> {
    run(cargo().args(args))
}

/// Runs all steps; prints a header per step and a final line naming what passed.
pub fn test() -> Result<()> {
    let started = Instant::now();
    let nextest = nextest_available();
    type Step = (&'static str, Box<dyn Fn() -> Result<()>>);
    let mut steps: Vec<Step> = vec![
        ("deps", Box::new(deps::ensure)),
        (
            "fmt",
            Box::new(|| cargo_step(&["fmt", "--all", "--", "--check"])),
        ),
        (
            "clippy",
            Box::new(|| {
                cargo_step(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
            }),
        ),
    ];
    if nextest {
        steps.push((
            "nextest",
            Box::new(|| cargo_step(&["nextest", "run", "--workspace"])),
        ));
        steps.push((
            "doctests",
            Box::new(|| cargo_step(&["test", "--doc", "--workspace"])),
        ));
    } else {
        steps.push(("test", Box::new(|| cargo_step(&["test", "--workspace"]))));
    }
    steps.push((
        "doc",
        Box::new(|| {
            run(cargo()
                .args(["doc", "--workspace", "--no-deps"])
                .env("RUSTDOCFLAGS", "-Dwarnings"))
        }),
    ));
    steps.push(("tidy", Box::new(tidy::tidy)));
    steps.push((
        "verify",
        Box::new(|| verify::verify(&verify::VerifyOptions::default())),
    ));
    steps.push((
        "crash",
        Box::new(|| {
            crash::crash(&crash::CrashOptions {
                trials: 24,
                seed: 1,
            })
        }),
    ));
    steps.push((
        "soak",
        Box::new(|| {
            soak::soak(&soak::SoakOptions {
                cameras: 4,
                duration: std::time::Duration::from_secs(120),
                seed: 1,
            })
        }),
    ));

    let mut passed = Vec::new();
    for (name, step) in &steps {
        println!("\n==== {name} ====");
        let step_started = Instant::now();
        step().with_context(|| {
            let done = if passed.is_empty() {
                "nothing".to_string()
            } else {
                passed.join(", ")
            };
            format!("step `{name}` failed (passed before it: {done})")
        })?;
        println!(
            "==== {name}: ok ({:.0} s)",
            step_started.elapsed().as_secs_f64()
        );
        passed.push(*name);
    }
    println!(
        "\nall checks passed in {:.0} s: {}",
        started.elapsed().as_secs_f64(),
        passed.join(", ")
    );
    Ok(())
}
