//! `smm measure new`: a new measure project, in any directory, that builds
//! and passes its test as generated.
//!
//! Invariants:
//! - Nothing is overwritten: the project directory must not exist.
//! - The project depends on the SDK by path or git URL (`URL#REF`: a
//!   branch or tag), in all three languages, never as a member of this
//!   workspace (a platform team keeps its measures in its own repository).
//!   Rust: Cargo's `git` (`#REF` as `rev`). Python and JavaScript: the
//!   generated `build.sh` clones the repository shallowly into `.smm-sdk`
//!   on its first run and builds with `.smm-sdk/sdk` as it would with a
//!   path.
//! - Templates are files beside this module (`rust/`, `python/`, `js/`),
//!   embedded in the binary; `{{name}}` placeholders are replaced, nothing
//!   else.

use std::path::{Path, PathBuf};

/// The languages a measure can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// Where the generated project finds the SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A directory holding the SDK (`sdk/` of a clone of smm).
    Path(PathBuf),
    /// A git repository holding smm (the SDK is its `sdk/` folder), at
    /// `reference` (a branch or tag) or else its default branch.
    Git {
        url: String,
        reference: Option<String>,
    },
}

impl SdkSource {
    /// `--sdk` as given: a git URL (`https://…`, `http://…`, `ssh://…`,
    /// `git://…`, `file://…`, `git@…`, `git+…`), optionally `#REF` (a
    /// branch or tag), else a directory.
    pub fn parse(text: &str) -> SdkSource {
        let git = text.strip_prefix("git+").unwrap_or(text);
        let schemes = ["https://", "http://", "ssh://", "git://", "file://"];
        if text.starts_with("git+")
            || schemes.iter().any(|s| git.starts_with(s))
            || git.starts_with("git@")
        {
            let (url, reference) = match git.split_once('#') {
                Some((url, reference)) => (url, Some(reference.to_string())),
                None => (git, None),
            };
            SdkSource::Git {
                url: url.to_string(),
                reference,
            }
        } else {
            SdkSource::Path(PathBuf::from(text))
        }
    }

    /// The SDK of the source tree this `smm` was built from, when it is
    /// still there.
    pub fn built_from() -> Option<SdkSource> {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
        sdk.join("Cargo.toml")
            .is_file()
            .then(|| SdkSource::Path(sdk.canonicalize().unwrap_or(sdk)))
    }
}

/// Why a project was not generated.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "measure id {0:?} is not kebab-case (lowercase letters, digits and single dashes, starting with a letter)"
    )]
    Id(String),
    #[error("{0} already exists: choose another directory or id (nothing was written)")]
    Exists(PathBuf),
    #[error(
        "the SDK directory {0} has no Cargo.toml (give --sdk the sdk/ folder of a clone of smm)"
    )]
    NoSdk(PathBuf),
    #[error("the SDK directory {0} is not the sdk/ folder of a clone of smm: {1} is missing")]
    NotSdk(PathBuf, &'static str),
    #[error(
        "{0:?} after # in --sdk is not a branch or tag name (give URL#v1.2.0, URL#main, or the URL alone for its default branch)"
    )]
    GitRef(String),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A file to write: path relative to the project, content, executable.
struct File {
    path: String,
    content: String,
    executable: bool,
}

/// Create the project of measure `id` in `parent/id`; returns its path and
/// the files written.
pub fn create(
    id: &str,
    lang: Lang,
    parent: &Path,
    sdk: &SdkSource,
) -> Result<(PathBuf, Vec<PathBuf>), ScaffoldError> {
    if !smm_catalogue::is_kebab_case(id) {
        return Err(ScaffoldError::Id(id.to_string()));
    }
    let dir = parent.join(id);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    if let SdkSource::Git {
        reference: Some(r), ..
    } = sdk
        && !is_ref_name(r)
    {
        return Err(ScaffoldError::GitRef(r.clone()));
    }
    let files = match lang {
        Lang::Rust => rust(id, sdk)?,
        Lang::Python => python(id, sdk)?,
        Lang::Js => js(id, sdk)?,
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    let mut written = Vec::new();
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, f.content).map_err(io(&path))?;
        if f.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(io(&path))?;
        }
        written.push(path);
    }
    Ok((dir, written))
}

/// `{{key}}` replaced by each value.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// `dependency-age` → `DependencyAge`.
fn type_name(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `dependency-age` → `Dependency age`.
fn human_name(id: &str) -> String {
    let words = id.replace('-', " ");
    let mut c = words.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn rust(id: &str, sdk: &SdkSource) -> Result<Vec<File>, ScaffoldError> {
    let (dependency, readme) = match sdk {
        SdkSource::Path(p) => {
            if !p.join("Cargo.toml").is_file() {
                return Err(ScaffoldError::NoSdk(p.clone()));
            }
            let p = p.display().to_string();
            (
                format!("{{ path = {} }}", toml_string(&p)),
                format!("{p}/README.md"),
            )
        }
        SdkSource::Git { url, reference } => (
            match reference {
                // Cargo takes no `URL#REF`; `rev` finds a tag (or a
                // commit), not a branch by name (see the README).
                Some(r) => format!("{{ git = {}, rev = {} }}", toml_string(url), toml_string(r)),
                None => format!("{{ git = {} }}", toml_string(url)),
            },
            "sdk/README.md in smm's repository".to_string(),
        ),
    };
    let note = match sdk {
        SdkSource::Path(_) => String::new(),
        SdkSource::Git {
            reference: None, ..
        } => "\n\
            The SDK comes from git (`smm-sdk` in Cargo.toml): Cargo.lock pins its\n\
            commit; `cargo update -p smm-sdk` moves to the newest one of its\n\
            default branch. Add `rev = \"v1.2.0\"` (a tag) or\n\
            `branch = \"name\"` to follow another.\n"
            .to_string(),
        SdkSource::Git {
            reference: Some(r), ..
        } => format!(
            "\n\
            The SDK comes from git at `{r}` (`rev` of `smm-sdk` in Cargo.toml,\n\
            from `--sdk URL#{r}`): Cargo finds a tag or a commit that way, not a\n\
            branch: if `{r}` is a branch, write `branch = \"{r}\"` instead of `rev`.\n\
            To move to another version, change `rev` and run `cargo update -p smm-sdk`.\n"
        ),
    };
    let file = id.replace('-', "_");
    let (ty, name) = (type_name(id), human_name(id));
    let values = [
        ("id", id),
        ("file", file.as_str()),
        ("type", ty.as_str()),
        ("name", name.as_str()),
        ("sdk", dependency.as_str()),
        ("sdk_readme", readme.as_str()),
        ("sdk_note", note.as_str()),
    ];
    let f = |path: &str, template: &str, executable| File {
        path: path.to_string(),
        content: fill(template, &values),
        executable,
    };
    Ok(vec![
        f("Cargo.toml", include_str!("rust/Cargo.toml.tmpl"), false),
        f("src/lib.rs", include_str!("rust/lib.rs.tmpl"), false),
        f(
            "samples/report.json",
            include_str!("rust/report.json.tmpl"),
            false,
        ),
        f("build.sh", include_str!("rust/build.sh.tmpl"), true),
        f("README.md", include_str!("rust/README.md.tmpl"), false),
        f(
            "rust-toolchain.toml",
            include_str!("rust/toolchain.tmpl"),
            false,
        ),
        f(".gitignore", "/target\n", false),
    ])
}

/// How a Python or JavaScript project finds the SDK folder of a clone of
/// smm (those SDKs build with the repository's WIT).
struct ScriptSdk {
    /// Lines of `build.sh` that set `SDK` (cloning first, for git).
    setup: String,
    /// The SDK folder as the README shows it.
    shown: String,
    /// A paragraph of the README about it (empty for a path).
    note: String,
    /// More lines of `.gitignore`.
    ignore: &'static str,
    /// Is the SDK cloned by the first build?
    cloned: bool,
}

/// `what` names a file that must be in the SDK folder (checked now for a
/// path, by `build.sh` after cloning for git); `also` is said of updating
/// a clone (what else to delete).
fn script_sdk(sdk: &SdkSource, what: &'static str, also: &str) -> Result<ScriptSdk, ScaffoldError> {
    match sdk {
        SdkSource::Path(p) if p.join(what).is_file() => {
            let shown = shell_quote(&p.display().to_string());
            Ok(ScriptSdk {
                setup: format!("SDK={shown}"),
                shown,
                note: String::new(),
                ignore: "",
                cloned: false,
            })
        }
        SdkSource::Path(p) => Err(ScaffoldError::NotSdk(p.clone(), what)),
        SdkSource::Git { url, reference } => {
            let at = match reference {
                Some(r) => format!(" at `{r}`"),
                None => ", its default branch".to_string(),
            };
            Ok(ScriptSdk {
                setup: fill(
                    include_str!("clone.sh.tmpl").trim_end(),
                    &[
                        ("url", &shell_quote(url)),
                        ("ref", &shell_quote(reference.as_deref().unwrap_or(""))),
                        ("what", what),
                    ],
                ),
                shown: ".smm-sdk/sdk".to_string(),
                note: format!(
                    "\n\
                    The SDK is the `sdk/` folder of smm's repository `{url}`{at}:\n\
                    the first `./build.sh` clones it (shallowly, with git) into `.smm-sdk`,\n\
                    and later builds use that copy. To update it, delete `.smm-sdk`{also}\n\
                    and build again. To pin another version, change `SMM_SDK_REF` in\n\
                    `build.sh` (a branch or tag; empty: the default branch) and delete\n\
                    `.smm-sdk`.\n"
                ),
                ignore: "/.smm-sdk\n",
                cloned: true,
            })
        }
    }
}

/// Could `r` be a git branch or tag name (`git check-ref-format`, in
/// short)? Never an option to git.
fn is_ref_name(r: &str) -> bool {
    !r.is_empty()
        && !r.starts_with(['-', '/', '.'])
        && !r.ends_with(['/', '.'])
        && !r.ends_with(".lock")
        && !r.contains("..")
        && !r.contains("@{")
        && !r.contains("//")
        && !r
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
}

fn python(id: &str, sdk: &SdkSource) -> Result<Vec<File>, ScaffoldError> {
    let sdk = script_sdk(
        sdk,
        "python/pyproject.toml",
        "\n(and `.venv`, which holds the componentize-py the SDK pins)",
    )?;
    let module = id.replace('-', "_");
    let (ty, name) = (type_name(id), human_name(id));
    // The test imports the SDK, which a first build clones.
    let test_when = match sdk.cloned {
        true => " (after a first ./build.sh)",
        false => "",
    };
    let values = [
        ("id", id),
        ("module", module.as_str()),
        ("type", ty.as_str()),
        ("name", name.as_str()),
        ("sdk_setup", sdk.setup.as_str()),
        ("sdk_dir", sdk.shown.as_str()),
        ("sdk_note", sdk.note.as_str()),
        ("test_when", test_when),
    ];
    let f = |path: String, template: &str, executable| File {
        path,
        content: fill(template, &values),
        executable,
    };
    Ok(vec![
        f(
            format!("{module}.py"),
            include_str!("python/measure.py.tmpl"),
            false,
        ),
        f(
            format!("test_{module}.py"),
            include_str!("python/test.py.tmpl"),
            false,
        ),
        f(
            "samples/report.json".into(),
            include_str!("rust/report.json.tmpl"),
            false,
        ),
        f(
            "build.sh".into(),
            include_str!("python/build.sh.tmpl"),
            true,
        ),
        f(
            "README.md".into(),
            include_str!("python/README.md.tmpl"),
            false,
        ),
        f(
            ".gitignore".into(),
            &format!("/.venv\n/*.wasm\n__pycache__/\n{}", sdk.ignore),
            false,
        ),
    ])
}

fn js(id: &str, sdk: &SdkSource) -> Result<Vec<File>, ScaffoldError> {
    let sdk = script_sdk(sdk, "js/build.mjs", "")?;
    let name = human_name(id);
    let values = [
        ("id", id),
        ("name", name.as_str()),
        ("sdk_setup", sdk.setup.as_str()),
        ("sdk_dir", sdk.shown.as_str()),
        ("sdk_note", sdk.note.as_str()),
    ];
    let f = |path: &str, template: &str, executable| File {
        path: path.to_string(),
        content: fill(template, &values),
        executable,
    };
    Ok(vec![
        f("src/index.js", include_str!("js/index.js.tmpl"), false),
        f("src/count.js", include_str!("js/count.js.tmpl"), false),
        f("test/count.test.js", include_str!("js/test.js.tmpl"), false),
        f(
            "samples/report.json",
            include_str!("rust/report.json.tmpl"),
            false,
        ),
        f("package.json", include_str!("js/package.json.tmpl"), false),
        f("build.sh", include_str!("js/build.sh.tmpl"), true),
        f("README.md", include_str!("js/README.md.tmpl"), false),
        f(
            ".gitignore",
            &format!("/*.wasm\n/node_modules\n{}", sdk.ignore),
            false,
        ),
    ])
}

/// A word for a POSIX shell (single-quoted when it needs to be).
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(url: &str, reference: Option<&str>) -> SdkSource {
        SdkSource::Git {
            url: url.into(),
            reference: reference.map(Into::into),
        }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn names_and_sources() {
        assert_eq!(type_name("dependency-age"), "DependencyAge");
        assert_eq!(human_name("dependency-age"), "Dependency age");
        assert_eq!(
            SdkSource::parse("https://github.com/acme/smm"),
            git("https://github.com/acme/smm", None)
        );
        assert_eq!(
            SdkSource::parse("git+ssh://git@host/smm.git"),
            git("ssh://git@host/smm.git", None)
        );
        assert_eq!(
            SdkSource::parse("https://github.com/acme/smm#v1.2.0"),
            git("https://github.com/acme/smm", Some("v1.2.0"))
        );
        assert_eq!(
            SdkSource::parse("git@github.com:acme/smm.git#release/1.x"),
            git("git@github.com:acme/smm.git", Some("release/1.x"))
        );
        assert_eq!(
            SdkSource::parse("file:///srv/git/smm#main"),
            git("file:///srv/git/smm", Some("main"))
        );
        assert_eq!(
            SdkSource::parse("git+http://host/smm"),
            git("http://host/smm", None)
        );
        assert_eq!(
            SdkSource::parse("../smm/sdk"),
            SdkSource::Path("../smm/sdk".into())
        );
        assert_eq!(
            SdkSource::parse("/srv/smm#1/sdk"),
            SdkSource::Path("/srv/smm#1/sdk".into())
        );
        for good in ["main", "v1.2.0", "release/1.x", "feature-x_y"] {
            assert!(is_ref_name(good), "{good}");
        }
        for bad in [
            "",
            "-b",
            "--upload-pack=x",
            "a b",
            "a..b",
            "a:b",
            "a~1",
            "/a",
            "a/",
            "a.lock",
            "a\\b",
            "a@{1}",
        ] {
            assert!(!is_ref_name(bad), "{bad}");
        }
    }

    #[test]
    fn nothing_is_overwritten_and_ids_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = SdkSource::built_from().unwrap();
        let (project, files) = create("dep-age", Lang::Rust, dir.path(), &sdk).unwrap();
        assert!(files.iter().all(|f| f.starts_with(&project)));
        let lib = read(&project.join("src/lib.rs"));
        assert!(
            lib.contains("pub struct DepAge;") && !lib.contains("{{"),
            "{lib}"
        );
        assert!(matches!(
            create("dep-age", Lang::Rust, dir.path(), &sdk),
            Err(ScaffoldError::Exists(_))
        ));
        assert!(matches!(
            create("Dep_Age", Lang::Rust, dir.path(), &sdk),
            Err(ScaffoldError::Id(_))
        ));
        let nowhere = SdkSource::Path(dir.path().join("none"));
        assert!(matches!(
            create("other", Lang::Rust, dir.path(), &nowhere),
            Err(ScaffoldError::NoSdk(_))
        ));
        for lang in [Lang::Python, Lang::Js] {
            let e = create("other", lang, dir.path(), &nowhere).unwrap_err();
            assert!(matches!(e, ScaffoldError::NotSdk(..)), "{e}");
            assert!(e.to_string().contains("is missing"), "{e}");
        }
        // A directory that is not an SDK's: for Python, no pyproject.toml.
        let rust_only = dir.path().join("rust-only");
        std::fs::create_dir_all(&rust_only).unwrap();
        std::fs::write(rust_only.join("Cargo.toml"), "").unwrap();
        let e = create(
            "other",
            Lang::Python,
            dir.path(),
            &SdkSource::Path(rust_only),
        )
        .unwrap_err();
        assert!(e.to_string().contains("python/pyproject.toml"), "{e}");
        assert!(!dir.path().join("other").exists(), "nothing written");
        let (py, _) = create("py-one", Lang::Python, dir.path(), &sdk).unwrap();
        let module = read(&py.join("py_one.py"));
        assert!(module.contains("class PyOne(Measure)") && !module.contains("{{"));
        let build = read(&py.join("build.sh"));
        assert!(
            !build.contains("git clone") && !build.contains("{{"),
            "{build}"
        );
        assert!(!read(&py.join(".gitignore")).contains(".smm-sdk"));
    }

    /// `bash -n`: the script parses (skipped without bash).
    fn parses(script: &Path) {
        match std::process::Command::new("bash")
            .arg("-n")
            .arg(script)
            .output()
        {
            Ok(out) => assert!(
                out.status.success(),
                "{}: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("bash -n skipped: {e}"),
        }
    }

    #[test]
    fn python_and_javascript_clone_a_git_sdk_on_their_first_build() {
        let dir = tempfile::tempdir().unwrap();
        let pinned = git("https://example.com/smm.git", Some("v1.2.0"));
        for (lang, id) in [(Lang::Python, "py-git"), (Lang::Js, "js-git")] {
            let (project, files) = create(id, lang, dir.path(), &pinned).unwrap();
            for f in &files {
                let text = read(f);
                assert!(!text.contains("{{"), "{}: {text}", f.display());
            }
            let build = read(&project.join("build.sh"));
            assert!(
                build.contains("SMM_SDK_URL=https://example.com/smm.git\n")
                    && build.contains("SMM_SDK_REF=v1.2.0\n")
                    && build.contains("git clone --quiet --depth 1")
                    && build.contains(r#"SDK="$PWD/.smm-sdk/sdk""#),
                "{build}"
            );
            parses(&project.join("build.sh"));
            assert!(read(&project.join(".gitignore")).contains("/.smm-sdk\n"));
            let readme = read(&project.join("README.md"));
            assert!(
                readme.contains("To update it, delete") && readme.contains("at `v1.2.0`"),
                "{readme}"
            );
        }
        let js = read(&dir.path().join("js-git/build.sh"));
        assert!(js.contains("SMM_JS_TOOLS") && js.contains("npm ci"), "{js}");
        let py = read(&dir.path().join("py-git/README.md"));
        assert!(py.contains("PYTHONPATH=.smm-sdk/sdk/python"), "{py}");

        // The default branch; odd characters stay one shell word.
        let odd = git("file:///srv/it's smm", None);
        let (project, _) = create("js-default", Lang::Js, dir.path(), &odd).unwrap();
        let build = read(&project.join("build.sh"));
        assert!(
            build.contains(r"SMM_SDK_URL='file:///srv/it'\''s smm'")
                && build.contains("SMM_SDK_REF=''\n"),
            "{build}"
        );
        parses(&project.join("build.sh"));

        // Not a ref: refused, nothing written.
        for bad in ["", "-b", "a b"] {
            let e = create(
                "bad-ref",
                Lang::Python,
                dir.path(),
                &git("https://h/smm", Some(bad)),
            )
            .unwrap_err();
            assert!(matches!(e, ScaffoldError::GitRef(_)), "{e}");
        }
        assert!(!dir.path().join("bad-ref").exists());
    }

    #[test]
    fn rust_takes_a_git_sdk_with_cargo_and_its_ref_as_rev() {
        let dir = tempfile::tempdir().unwrap();
        let (tip, _) = create(
            "rs-tip",
            Lang::Rust,
            dir.path(),
            &git("https://example.com/smm.git", None),
        )
        .unwrap();
        let cargo = read(&tip.join("Cargo.toml"));
        assert!(
            cargo.contains(r#"smm-sdk = { git = "https://example.com/smm.git" }"#),
            "{cargo}"
        );
        let (pinned, _) = create(
            "rs-pinned",
            Lang::Rust,
            dir.path(),
            &git("https://example.com/smm.git", Some("v1.2.0")),
        )
        .unwrap();
        let cargo = read(&pinned.join("Cargo.toml"));
        assert!(
            cargo.contains(r#"smm-sdk = { git = "https://example.com/smm.git", rev = "v1.2.0" }"#),
            "{cargo}"
        );
        let readme = read(&pinned.join("README.md"));
        assert!(
            readme.contains(r#"branch = "v1.2.0""#) && !readme.contains("{{"),
            "{readme}"
        );
        toml::from_str::<toml::Table>(&cargo).unwrap();
    }
}
