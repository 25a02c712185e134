//! `quarry plugin new`: a plugin project, in Rust, TypeScript or Python, that builds with
//! one command and passes its own test.
//!
//! The project is the language's template from `plugins/templates/` with the plugin's name
//! filled in, plus what it needs from this checkout: the TypeScript and Python SDKs and
//! the contract are copied into it, so it stands alone; a Rust project depends on the
//! Rust SDK by absolute path. Every file is compiled into the binary.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `quarry plugin new`'s arguments.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits, `-` and `_`, starting with a letter.
    pub name: String,
    /// The language to write it in.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The directory to create it in; it must not exist or be empty [default: ./NAME].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The Rust SDK that a Rust plugin depends on: the plugins/sdk directory of a Quarry
    /// checkout [default: the one this quarry was built from].
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Ts,
    Python,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "`{0}` cannot name a plugin: use lowercase letters, digits, `-` and `_`, starting with a letter (at most 64)"
    )]
    BadName(String),
    #[error("{} already exists and is not an empty directory; choose another with --dir", .0.display())]
    NotEmpty(PathBuf),
    #[error(
        "the Rust SDK is not at {}: pass --sdk with the plugins/sdk directory of a Quarry checkout",
        .0.display()
    )]
    NoSdk(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One file of a project.
pub(crate) struct File {
    /// Where it goes in the project.
    path: &'static str,
    text: &'static str,
    /// Whether `{{name}}`-style placeholders are filled in: in the templates, not in the
    /// SDK files copied as they are.
    template: bool,
    executable: bool,
}

/// A file of `plugins/templates/`, or any other file of the checkout copied as it is.
macro_rules! file {
    (template $path:literal from $source:literal) => {
        file!($path, $source, true, false)
    };
    (script $path:literal from $source:literal) => {
        file!($path, $source, true, true)
    };
    (copy $path:literal from $source:literal) => {
        file!($path, $source, false, false)
    };
    ($path:literal, $source:literal, $template:literal, $executable:literal) => {
        File {
            path: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../", $source)),
            template: $template,
            executable: $executable,
        }
    };
}

pub(crate) const RUST: &[File] = &[
    file!(template "Cargo.toml" from "plugins/templates/rust/Cargo.toml"),
    // The versions the SDK is built and tested with, as a start.
    file!(copy "Cargo.lock" from "plugins/Cargo.lock"),
    file!(template "src/lib.rs" from "plugins/templates/rust/src/lib.rs"),
    file!(template "README.md" from "plugins/templates/rust/README.md"),
    file!(template ".gitignore" from "plugins/templates/rust/.gitignore"),
];

pub(crate) const TS: &[File] = &[
    file!(template "package.json" from "plugins/templates/ts/package.json"),
    // The SDK's own lockfile: the same packages at the versions its build is tested with
    // (npm writes the project's name into it on the first install).
    file!(copy "package-lock.json" from "plugins/ts/package-lock.json"),
    file!(template "tsconfig.json" from "plugins/templates/ts/tsconfig.json"),
    file!(template "app.ts" from "plugins/templates/ts/app.ts"),
    file!(template "app.test.ts" from "plugins/templates/ts/app.test.ts"),
    file!(template "README.md" from "plugins/templates/ts/README.md"),
    file!(template ".gitignore" from "plugins/templates/ts/.gitignore"),
    file!(copy "build.mjs" from "plugins/ts/build.mjs"),
    file!(copy "bundle.config.mjs" from "plugins/ts/bundle.config.mjs"),
    file!(copy "sdk/quarry-plugin.ts" from "plugins/ts/sdk/quarry-plugin.ts"),
    file!(copy "sdk/test-host.mjs" from "plugins/ts/sdk/test-host.mjs"),
    file!(copy "types/plugin.d.ts" from "plugins/ts/types/plugin.d.ts"),
    file!(copy "types/interfaces/quarry-plugin-log.d.ts" from "plugins/ts/types/interfaces/quarry-plugin-log.d.ts"),
    file!(copy "types/interfaces/quarry-plugin-types.d.ts" from "plugins/ts/types/interfaces/quarry-plugin-types.d.ts"),
    file!(copy "wit/quarry.wit" from "plugins/wit/v0.2/quarry.wit"),
];

pub(crate) const PYTHON: &[File] = &[
    file!(template "app.py" from "plugins/templates/python/app.py"),
    file!(template "test_app.py" from "plugins/templates/python/test_app.py"),
    file!(script "build.sh" from "plugins/templates/python/build.sh"),
    file!(template "README.md" from "plugins/templates/python/README.md"),
    file!(template ".gitignore" from "plugins/templates/python/.gitignore"),
    file!(copy "quarry_plugin.py" from "plugins/python/quarry_plugin.py"),
    file!(copy "wit/quarry.wit" from "plugins/wit/v0.2/quarry.wit"),
];

/// The project that was written.
pub struct Created {
    pub name: String,
    pub lang: Lang,
    pub dir: PathBuf,
}

impl Created {
    /// What to run next, from where `quarry plugin new` ran.
    pub fn next_commands(&self) -> Vec<String> {
        let query = r#"--query "SELECT carrier, dep_delay, arr_delay FROM flights LIMIT 5""#;
        let mut commands = vec![format!("cd {}", self.dir.display())];
        match self.lang {
            Lang::Rust => commands.extend([
                "cargo test".to_owned(),
                "cargo build --target wasm32-wasip2 --release".to_owned(),
                format!(
                    "quarry run --plugin target/wasm32-wasip2/release/{}.wasm {query}",
                    module_name(&self.name)
                ),
            ]),
            Lang::Ts => commands.extend([
                "npm install".to_owned(),
                "npm test".to_owned(),
                "npm run build".to_owned(),
                format!("quarry run --plugin {}.wasm {query}", self.name),
            ]),
            Lang::Python => commands.extend([
                "./build.sh".to_owned(),
                "python3 -m unittest".to_owned(),
                format!("quarry run --plugin {}.wasm {query}", self.name),
            ]),
        }
        commands
    }
}

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lang = match self.lang {
            Lang::Rust => "Rust",
            Lang::Ts => "TypeScript",
            Lang::Python => "Python",
        };
        writeln!(
            f,
            "created {} ({lang}) in {}",
            self.name,
            self.dir.display()
        )?;
        writeln!(f, "next:")?;
        for command in self.next_commands() {
            writeln!(f, "  {command}")?;
        }
        Ok(())
    }
}

/// `quarry plugin new`.
pub(crate) fn main(args: NewArgs) -> anyhow::Result<ExitCode> {
    let created = create(&args)?;
    print!("{created}");
    Ok(ExitCode::SUCCESS)
}

/// Writes the project `args` asks for.
pub(crate) fn create(args: &NewArgs) -> Result<Created, ScaffoldError> {
    if !is_plugin_name(&args.name) {
        return Err(ScaffoldError::BadName(args.name.clone()));
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && (!dir.is_dir() || dir.read_dir().map_or(true, |mut d| d.next().is_some())) {
        return Err(ScaffoldError::NotEmpty(dir));
    }
    let (files, sdk) = match args.lang {
        Lang::Rust => (RUST, Some(rust_sdk(args.sdk.as_deref())?)),
        Lang::Ts => (TS, None),
        Lang::Python => (PYTHON, None),
    };
    // A TOML string, quoted and escaped, for `path = {{sdk}}`.
    let sdk = sdk.map(|path| toml::Value::String(path.display().to_string()).to_string());
    for file in files {
        let path = dir.join(file.path);
        let text = if file.template {
            fill(file.text, &args.name, sdk.as_deref())
        } else {
            file.text.to_owned()
        };
        write(&path, &text, file.executable)
            .map_err(|source| ScaffoldError::Write { path, source })?;
    }
    Ok(Created {
        name: args.name.clone(),
        lang: args.lang,
        dir,
    })
}

/// Crate and package names, file names and Python identifiers all accept these.
fn is_plugin_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 64
}

/// What cargo names the crate's library, and so its .wasm file.
fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The absolute path of the Rust SDK: `sdk`, or the checkout this binary was built from.
fn rust_sdk(sdk: Option<&Path>) -> Result<PathBuf, ScaffoldError> {
    let sdk = match sdk {
        Some(path) => path.to_owned(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/sdk"),
    };
    match sdk.canonicalize() {
        Ok(path) if path.join("Cargo.toml").is_file() => Ok(path),
        _ => Err(ScaffoldError::NoSdk(sdk)),
    }
}

/// `text` with its placeholders filled in.
fn fill(text: &str, name: &str, sdk: Option<&str>) -> String {
    let text = text
        .replace("{{name}}", name)
        .replace("{{module}}", &module_name(name));
    match sdk {
        Some(sdk) => text.replace("{{sdk}}", sdk),
        None => text,
    }
}

fn write(path: &Path, text: &str, executable: bool) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)?;
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names() {
        for good in ["gain", "my-plugin", "delay_stats2"] {
            assert!(is_plugin_name(good), "{good}");
        }
        for bad in [
            "",
            "Gain",
            "2fast",
            "-x",
            "my plugin",
            "a/b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(!is_plugin_name(bad), "{bad}");
        }
    }

    #[test]
    fn every_placeholder_of_every_template_is_filled() {
        for file in RUST.iter().chain(TS).chain(PYTHON).filter(|f| f.template) {
            let text = fill(file.text, "my-plugin", Some("\"/sdk\""));
            assert!(!text.contains("{{"), "{} keeps a placeholder", file.path);
        }
    }

    #[test]
    fn the_sdk_path_is_a_toml_string() {
        let cargo_toml = RUST.iter().find(|f| f.path == "Cargo.toml").unwrap();
        let sdk = toml::Value::String(r#"C:\quarry "x"\plugins\sdk"#.into()).to_string();
        let text = fill(cargo_toml.text, "my-plugin", Some(&sdk));
        let manifest: toml::Table = text.parse().unwrap();
        assert_eq!(
            manifest["dependencies"]["quarry-plugin"]["path"].as_str(),
            Some(r#"C:\quarry "x"\plugins\sdk"#)
        );
        assert_eq!(manifest["package"]["name"].as_str(), Some("my-plugin"));
    }
}
