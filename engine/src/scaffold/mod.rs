//! `smm measure new`: a new measure project, in any directory, that builds
//! and passes its test as generated.
//!
//! Invariants:
//! - Nothing is overwritten: the project directory must not exist.
//! - The project depends on the SDK by path or git URL, never as a member
//!   of this workspace (a platform team keeps its measures in its own
//!   repository).
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
    /// A git repository holding smm (the SDK is found in it by name).
    Git(String),
}

impl SdkSource {
    /// `--sdk` as given: a git URL (`https://…`, `ssh://…`, `git@…`,
    /// `git+…`), else a directory.
    pub fn parse(text: &str) -> SdkSource {
        let git = text.strip_prefix("git+").unwrap_or(text);
        if text.starts_with("git+")
            || git.starts_with("https://")
            || git.starts_with("ssh://")
            || git.starts_with("git@")
        {
            SdkSource::Git(git.to_string())
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
    #[error(
        "a {0} measure builds with the SDK of a clone of smm: give --sdk the sdk/ folder of one (a git URL works for Rust only)"
    )]
    NeedsClone(&'static str),
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
        SdkSource::Git(url) => (
            format!("{{ git = {} }}", toml_string(url)),
            "sdk/README.md in smm's repository".to_string(),
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

/// The SDK folder of a clone, for the Python and JavaScript SDKs (which
/// build with the repository's WIT); `what` names the file that must be
/// there.
fn clone_dir(sdk: &SdkSource, lang: &'static str, what: &str) -> Result<String, ScaffoldError> {
    match sdk {
        SdkSource::Path(p) if p.join(what).is_file() => Ok(p.display().to_string()),
        SdkSource::Path(p) => Err(ScaffoldError::NoSdk(p.join(what))),
        SdkSource::Git(_) => Err(ScaffoldError::NeedsClone(lang)),
    }
}

fn python(id: &str, sdk: &SdkSource) -> Result<Vec<File>, ScaffoldError> {
    let dir = clone_dir(sdk, "Python", "python/pyproject.toml")?;
    let module = id.replace('-', "_");
    let (ty, name, quoted) = (type_name(id), human_name(id), shell_quote(&dir));
    let values = [
        ("id", id),
        ("module", module.as_str()),
        ("type", ty.as_str()),
        ("name", name.as_str()),
        ("sdk_dir", quoted.as_str()),
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
            "/.venv\n/*.wasm\n__pycache__/\n",
            false,
        ),
    ])
}

fn js(id: &str, sdk: &SdkSource) -> Result<Vec<File>, ScaffoldError> {
    let dir = clone_dir(sdk, "JavaScript", "js/build.mjs")?;
    let (name, quoted) = (human_name(id), shell_quote(&dir));
    let values = [
        ("id", id),
        ("name", name.as_str()),
        ("sdk_dir", quoted.as_str()),
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
        f(".gitignore", "/*.wasm\n/node_modules\n", false),
    ])
}

/// A word for a POSIX shell (single-quoted when it needs to be).
fn shell_quote(s: &str) -> String {
    if s.chars()
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

    #[test]
    fn names_and_sources() {
        assert_eq!(type_name("dependency-age"), "DependencyAge");
        assert_eq!(human_name("dependency-age"), "Dependency age");
        assert_eq!(
            SdkSource::parse("https://github.com/acme/smm"),
            SdkSource::Git("https://github.com/acme/smm".into())
        );
        assert_eq!(
            SdkSource::parse("git+ssh://git@host/smm.git"),
            SdkSource::Git("ssh://git@host/smm.git".into())
        );
        assert_eq!(
            SdkSource::parse("../smm/sdk"),
            SdkSource::Path("../smm/sdk".into())
        );
    }

    #[test]
    fn nothing_is_overwritten_and_ids_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = SdkSource::built_from().unwrap();
        let (project, files) = create("dep-age", Lang::Rust, dir.path(), &sdk).unwrap();
        assert!(files.iter().all(|f| f.starts_with(&project)));
        let lib = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
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
        assert!(!dir.path().join("other").exists(), "nothing written");
        let git = SdkSource::Git("https://example.com/smm.git".into());
        for lang in [Lang::Python, Lang::Js] {
            assert!(matches!(
                create("other", lang, dir.path(), &git),
                Err(ScaffoldError::NeedsClone(_))
            ));
        }
        let (py, _) = create("py-one", Lang::Python, dir.path(), &sdk).unwrap();
        let module = std::fs::read_to_string(py.join("py_one.py")).unwrap();
        assert!(module.contains("class PyOne(Measure)") && !module.contains("{{"));
    }
}
