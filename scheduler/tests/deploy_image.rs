//! `deploy/Dockerfile`, read as text (CI cannot run Docker): a build stage and
//! a runtime stage on a base without a shell, the binary under both names
//! (`kube-scheduler` for the z2jh chart's command line), user 65534, the
//! entrypoint; and `.ci/run` builds the same target with the same command,
//! so the static build the image relies on is exercised in CI. Both build
//! without the default `sandbox` feature, and without it the scheduler does
//! not depend on the `sandbox` crate (the test world stays out of the image).

use std::path::PathBuf;

fn read(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The Dockerfile's instructions: comments dropped, continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let (op, rest) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((op.to_uppercase(), rest.trim().to_string()));
        current.clear();
    }
    out
}

struct Stage {
    from: String,
    name: Option<String>,
    body: Vec<(String, String)>,
}

fn stages(text: &str) -> Vec<Stage> {
    let mut out: Vec<Stage> = Vec::new();
    for (op, rest) in instructions(text) {
        if op == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, kw, n] if kw.eq_ignore_ascii_case("as") => Some(n.to_string()),
                _ => None,
            };
            out.push(Stage {
                from: words[0].to_string(),
                name,
                body: Vec::new(),
            });
        } else {
            out.last_mut().expect("FROM first").body.push((op, rest));
        }
    }
    out
}

const TARGET: &str = "x86_64-unknown-linux-musl";
const BUILD: &str = "cargo build --release --locked --no-default-features \
     --target x86_64-unknown-linux-musl -p user-scheduler";

#[test]
fn the_image_is_a_static_binary_on_a_shell_less_base_running_as_nobody() {
    let text = read("deploy/Dockerfile");
    let st = stages(&text);
    assert_eq!(st.len(), 2, "a build stage and a runtime stage");
    let (build, runtime) = (&st[0], &st[1]);
    let build_name = build.name.as_deref().expect("the build stage is named");

    // The build stage builds the static target and makes the second name.
    let runs: Vec<&str> = build
        .body
        .iter()
        .filter(|(op, _)| op == "RUN")
        .map(|(_, r)| r.as_str())
        .collect();
    assert!(
        runs.iter()
            .any(|r| r.contains(&format!("rustup target add {TARGET}")))
    );
    let cargo = runs
        .iter()
        .find(|r| r.contains("cargo build"))
        .expect("a cargo build");
    assert!(cargo.contains(BUILD), "{cargo}");
    assert!(
        cargo.contains("ln /out/user-scheduler /out/kube-scheduler"),
        "kube-scheduler is a hard link to the binary: {cargo}"
    );

    // The runtime base has no shell (distroless static or scratch), so
    // nothing in the runtime stage may RUN.
    assert!(
        runtime.from.starts_with("gcr.io/distroless/static") || runtime.from == "scratch",
        "{}",
        runtime.from
    );
    assert!(runtime.body.iter().all(|(op, _)| op != "RUN"));
    let copy = runtime
        .body
        .iter()
        .find(|(op, _)| op == "COPY")
        .map(|(_, r)| r.as_str())
        .expect("COPY");
    assert_eq!(copy, format!("--from={build_name} /out/ /usr/local/bin/"));
    let user = runtime.body.iter().find(|(op, _)| op == "USER").unwrap();
    assert_eq!(user.1, "65534:65534");
    let entry = runtime
        .body
        .iter()
        .find(|(op, _)| op == "ENTRYPOINT")
        .unwrap();
    assert_eq!(entry.1, r#"["/usr/local/bin/user-scheduler"]"#);
    // The z2jh chart's command, /usr/local/bin/kube-scheduler, is the second
    // name copied next to it; the binary runs the daemon under that name.
    let (args, _) = user_scheduler::cli::normalize_args(vec![
        "/usr/local/bin/kube-scheduler".into(),
        "--config=/etc/user-scheduler/config.yaml".into(),
        "--authentication-skip-lookup=true".into(),
        "--v=4".into(),
    ]);
    assert_eq!(args[1], "run");
}

#[test]
fn ci_builds_the_same_static_target_as_the_image() {
    let ci = read(".ci/run");
    assert!(ci.contains(&format!("musl_target={TARGET}")), "{TARGET}");
    assert!(
        ci.contains(
            r#"cargo build --release --locked --no-default-features --target "$musl_target" -p user-scheduler"#
        ),
        ".ci/run builds the image's binary"
    );
    // Its fallback (no musl target) builds without the test world too, and
    // both builds go through the check that the binary has none of it.
    assert!(ci.contains(
        "cargo build --release --locked --no-default-features --target x86_64-unknown-linux-gnu -p user-scheduler"
    ));
    assert_eq!(ci.matches("check_image_binary \"$target/").count(), 2);
    assert!(ci.contains("cargo clippy -p user-scheduler --all-targets --no-default-features"));
    assert!(ci.contains("CC_x86_64_unknown_linux_musl=musl-gcc"));
    let docker = read("deploy/Dockerfile");
    assert!(docker.contains("ENV CC_x86_64_unknown_linux_musl=musl-gcc"));
    // The build context is the repository root: target/ must not be sent.
    let ignore = read("deploy/Dockerfile.dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"));
}

#[test]
fn ci_finds_its_builds_where_cargo_puts_them() {
    // With CARGO_TARGET_DIR set cargo builds elsewhere; a hard-coded
    // `target/` path would check a stale binary or none.
    let ci = read(".ci/run");
    assert!(ci.contains(r#"target="${CARGO_TARGET_DIR:-target}""#));
    for line in ci.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for (i, _) in line.match_indices("target/") {
            // `$target/` is the variable; `$musl_target/` another one.
            let before = line[..i].chars().next_back();
            assert!(
                before.is_some_and(|c| c == '$' || c == '_' || c.is_ascii_alphanumeric()),
                "a hard-coded target/ path in .ci/run: {line}"
            );
        }
    }
}

/// The `key = value` lines of `[name]` in a Cargo.toml, whitespace dropped
/// (enough for the flat tables read here; no TOML parser in the tree).
fn table(text: &str, name: &str) -> Vec<String> {
    let header = format!("[{name}]");
    text.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(|l| l.split('#').next().unwrap_or("").replace(' ', ""))
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_test_world_is_a_default_feature_the_image_leaves_out() {
    let manifest = read("scheduler/Cargo.toml");
    let features = table(&manifest, "features");
    assert!(
        features.contains(&r#"default=["sandbox","simulate"]"#.to_string()),
        "{features:?}"
    );
    assert!(
        features.contains(&r#"sandbox=["dep:sandbox"]"#.to_string()),
        "{features:?}"
    );
    let deps = table(&manifest, "dependencies");
    let sandbox: Vec<&String> = deps.iter().filter(|l| l.starts_with("sandbox")).collect();
    assert_eq!(
        sandbox,
        [&"sandbox={workspace=true,optional=true}".to_string()],
        "the sandbox crate is an optional dependency"
    );
}

/// The crates `user-scheduler` is built with (normal dependencies only, as
/// in a release build), with or without its default features.
fn normal_dependencies(default_features: bool) -> Vec<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(["tree", "--locked", "--offline", "-p", "user-scheduler"])
        .args(["-e", "normal", "--prefix", "none", "--format", "{p}"]);
    if !default_features {
        cmd.arg("--no-default-features");
    }
    let out = cmd.output().expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn without_default_features_the_scheduler_does_not_depend_on_the_sandbox() {
    // cargo resolves features for the one package named, so this is the
    // image's dependency tree even inside the workspace (where the e2e
    // tests and the benches turn the feature on).
    let with = normal_dependencies(true);
    assert!(with.iter().any(|c| c == "sandbox"), "{with:?}");
    let without = normal_dependencies(false);
    assert!(without.iter().any(|c| c == "score"), "{without:?}");
    assert!(!without.iter().any(|c| c == "sandbox"), "{without:?}");
    // Nor the simulator and its autoscaler models.
    assert!(with.iter().any(|c| c == "capacity"), "{with:?}");
    assert!(!without.iter().any(|c| c == "capacity"), "{without:?}");
}
