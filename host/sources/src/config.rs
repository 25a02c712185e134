//! `quarry.toml`: the configured sources. See `quarry.example.toml` at the repository root.
//!
//! Credentials are never written in the file: a source names the environment variable
//! that holds its password (`password_env`), which is read when the source is opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::mongo::MongoSource;
use crate::postgres::PostgresSource;
use crate::scylla::ScyllaSource;
use crate::seed::Target;
use crate::sqlite::SqliteSource;
use crate::{Backend, DEMO, Source, Sources};

/// The parsed `quarry.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The `[[source]]` tables, in file order.
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
}

/// One `[[source]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The name runs choose the source by; `demo` is taken.
    pub name: String,
    /// The database family.
    pub backend: Backend,
    /// Connection URL (postgres, cockroach, mongo), without the password.
    pub url: Option<String>,
    /// Database file (sqlite).
    pub path: Option<PathBuf>,
    /// `host:port` of the nodes to contact first (scylla, cassandra).
    pub contact_points: Option<Vec<String>>,
    /// Database (mongo; overrides the URL's for postgres and cockroach).
    pub database: Option<String>,
    /// Keyspace (scylla, cassandra).
    pub keyspace: Option<String>,
    /// The user to log in as.
    pub user: Option<String>,
    /// The environment variable holding the password.
    pub password_env: Option<String>,
    /// A PEM file of CA certificates to trust for TLS (postgres, cockroach).
    pub tls_ca_file: Option<PathBuf>,
    /// Connections kept open to the server.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Seconds a query may run in the database.
    pub statement_timeout: Option<f64>,
    /// Rows per batch from this source.
    pub batch_size: Option<usize>,
    /// The roles that may use this source when `quarry serve --auth token` asks who is
    /// calling (`viewer`, `author`, `admin`); every role when absent.
    pub roles: Option<Vec<String>>,
}

fn default_pool_size() -> usize {
    4
}

/// Per-source defaults for runs that do not set their own, and who may use the source.
#[derive(Clone, Debug, Default)]
pub struct SourceSettings {
    /// The longest a query may run (`statement_timeout`).
    pub timeout: Option<Duration>,
    /// Rows per batch (`batch_size`).
    pub batch_rows: Option<usize>,
    /// The roles that may use the source (`roles`); all when `None`.
    pub roles: Option<Vec<String>>,
}

impl Config {
    /// Reads `path`, or `quarry.toml` in the working directory when it exists, or nothing.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None if Path::new("quarry.toml").is_file() => PathBuf::from("quarry.toml"),
            None => return Ok(Config::default()),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
            path: path.clone(),
            source: e,
        })?;
        Config::parse(&text).map_err(|e| ConfigError::InFile {
            path,
            problem: Box::new(e),
        })
    }

    /// Reads `quarry.toml`'s text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(e.message().to_owned()))?;
        let mut seen = std::collections::HashSet::new();
        for s in &config.sources {
            if s.name == DEMO {
                return Err(ConfigError::ReservedName);
            }
            if !seen.insert(&s.name) {
                return Err(ConfigError::DuplicateName(s.name.clone()));
            }
            for role in s.roles.iter().flatten() {
                if !["viewer", "author", "admin"].contains(&role.as_str()) {
                    return Err(ConfigError::Source {
                        name: s.name.clone(),
                        problem: format!(
                            "unknown role `{role}` in roles: use viewer, author or admin"
                        ),
                    });
                }
            }
        }
        Ok(config)
    }

    /// The demo source plus every configured source, with their settings.
    pub fn sources(&self, data_dir: &Path) -> Result<Sources, ConfigError> {
        let mut sources = Sources::with_demo(data_dir);
        for s in &self.sources {
            let settings = SourceSettings {
                timeout: s
                    .statement_timeout
                    .and_then(|t| Duration::try_from_secs_f64(t).ok()),
                batch_rows: s.batch_size,
                roles: s.roles.clone(),
            };
            let source: Arc<dyn Source> = match build(s)? {
                Built::Sqlite(source) => Arc::new(source),
                Built::Server(Target::Postgres(source)) => Arc::new(source),
                Built::Server(Target::Mongo(source)) => Arc::new(source),
                Built::Server(Target::Scylla(source)) => Arc::new(source),
            };
            sources.insert(source, settings);
        }
        Ok(sources)
    }

    /// The configured server source `name`, to seed with the demo data.
    pub fn seed_target(&self, name: &str) -> Result<Target, ConfigError> {
        let s = self
            .sources
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| match name {
                DEMO => ConfigError::SeedDemo,
                _ => ConfigError::UnknownSource(name.to_owned()),
            })?;
        match build(s)? {
            Built::Server(target) => Ok(target),
            Built::Sqlite(_) => Err(ConfigError::SeedSqlite(name.to_owned())),
        }
    }
}

/// What is wrong with a configuration, or with one of its sources.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A problem in a file, with the file's name.
    #[error("config {}: {problem}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// The problem.
        problem: Box<ConfigError>,
    },
    /// Not TOML, or not the tables and keys Quarry reads.
    #[error("{0}")]
    Syntax(String),
    /// A source called `demo`.
    #[error("the source name `demo` is reserved for the embedded database")]
    ReservedName,
    /// Two sources of one name.
    #[error("two sources are named `{0}`")]
    DuplicateName(String),
    /// A source that lacks what its backend needs, or whose settings do not work.
    #[error("source `{name}`: {problem}")]
    Source {
        /// The source.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// `password_env` names a variable that is not set.
    #[error("source `{name}`: the environment variable {var} (password_env) is not set")]
    MissingPassword {
        /// The source.
        name: String,
        /// The variable.
        var: String,
    },
    /// `quarry seed --source` names no configured source.
    #[error("no source named `{0}` in the configuration")]
    UnknownSource(String),
    /// `quarry seed --source demo`.
    #[error("`demo` is the embedded database itself; seed a server source")]
    SeedDemo,
    /// `quarry seed` on a SQLite file.
    #[error("source `{0}` is a SQLite file; seeding is for server sources")]
    SeedSqlite(String),
}

enum Built {
    Sqlite(SqliteSource),
    Server(Target),
}

fn build(s: &SourceConfig) -> Result<Built, ConfigError> {
    let named = |what: &str| ConfigError::Source {
        name: s.name.clone(),
        problem: what.to_owned(),
    };
    Ok(match s.backend {
        Backend::Sqlite => {
            let path = s
                .path
                .as_ref()
                .ok_or_else(|| named("a sqlite source needs `path`"))?;
            Built::Sqlite(SqliteSource::new(&s.name, path))
        }
        Backend::Postgres | Backend::Cockroach => {
            let url = s.url.as_deref().ok_or_else(|| named("needs `url`"))?;
            let backend = if s.backend == Backend::Cockroach {
                Backend::Cockroach
            } else {
                Backend::Postgres
            };
            let mut source = PostgresSource::new(&s.name, url, backend, s.pool_size)
                .map_err(|e| named(&e.to_string()))?;
            source.set_credentials(
                s.user.as_deref(),
                password(s)?.as_deref(),
                s.database.as_deref(),
            );
            if let Some(path) = &s.tls_ca_file {
                source
                    .set_tls_ca_file(path)
                    .map_err(|e| named(&e.to_string()))?;
            }
            Built::Server(Target::Postgres(source))
        }
        Backend::Mongo => {
            let url = s.url.as_deref().ok_or_else(|| named("needs `url`"))?;
            let database = s
                .database
                .as_deref()
                .ok_or_else(|| named("needs `database`"))?;
            let mut source = MongoSource::new(&s.name, url, database, s.pool_size);
            source.set_credentials(s.user.as_deref(), password(s)?.as_deref());
            Built::Server(Target::Mongo(source))
        }
        Backend::Scylla => {
            let nodes = s
                .contact_points
                .clone()
                .ok_or_else(|| named("needs `contact_points`"))?;
            let mut source = ScyllaSource::new(&s.name, nodes, s.keyspace.clone());
            source.set_credentials(s.user.as_deref(), password(s)?.as_deref());
            Built::Server(Target::Scylla(source))
        }
    })
}

fn password(s: &SourceConfig) -> Result<Option<String>, ConfigError> {
    let Some(var) = &s.password_env else {
        return Ok(None);
    };
    std::env::var(var)
        .map(Some)
        .map_err(|_| ConfigError::MissingPassword {
            name: s.name.clone(),
            var: var.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../../quarry.example.toml");
        let config = Config::parse(text).unwrap();
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["pg", "cockroach", "scylla", "mongo", "local"]);
        assert_eq!(
            config.sources[0].password_env.as_deref(),
            Some("QUARRY_PG_PASSWORD")
        );
    }

    #[test]
    fn only_configured_server_sources_can_be_seeded() {
        let config = Config::parse(include_str!("../../../quarry.example.toml")).unwrap();
        assert!(matches!(
            config.seed_target("scylla"),
            Ok(Target::Scylla(_))
        ));
        assert!(matches!(config.seed_target("mongo"), Ok(Target::Mongo(_))));
        let error = |name| config.seed_target(name).err().unwrap().to_string();
        assert!(error("demo").contains("embedded database itself"));
        assert!(error("local").contains("is a SQLite file"));
        assert!(error("nope").contains("no source named `nope`"));
    }

    #[test]
    fn cassandra_is_a_cql_source_like_scylla() {
        let text = "[[source]]\nname='c'\nbackend='cassandra'\ncontact_points=['127.0.0.1:9042']\nkeyspace='k'";
        let config = Config::parse(text).unwrap();
        assert_eq!(config.sources[0].backend, Backend::Scylla);
        let sources = config.sources(Path::new("/tmp")).unwrap();
        assert_eq!(sources.get("c").unwrap().backend(), Backend::Scylla);
        assert!(matches!(config.seed_target("c"), Ok(Target::Scylla(_))));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(
            Config::parse("[[source]]\nname = 'demo'\nbackend = 'sqlite'\npath = 'x'")
                .unwrap_err()
                .to_string()
                .contains("reserved")
        );
        let twice = "[[source]]\nname='a'\nbackend='sqlite'\npath='x'\n[[source]]\nname='a'\nbackend='sqlite'\npath='y'";
        assert!(
            Config::parse(twice)
                .unwrap_err()
                .to_string()
                .contains("two sources are named `a`")
        );
        assert!(
            Config::parse("[[source]]\nname='a'\nbackend='oracle'")
                .unwrap_err()
                .to_string()
                .contains("oracle")
        );
        assert!(
            Config::parse("[[source]]\nname='a'\nbackend='sqlite'\npasword='x'")
                .unwrap_err()
                .to_string()
                .contains("pasword")
        );
    }

    #[test]
    fn a_missing_password_variable_is_an_error_naming_it() {
        let text = "[[source]]\nname='pg'\nbackend='postgres'\nurl='postgresql://q@localhost/db'\npassword_env='QUARRY_TEST_SURELY_UNSET'";
        let config = Config::parse(text).unwrap();
        let error = config.sources(Path::new("/tmp")).err().unwrap().to_string();
        assert!(error.contains("QUARRY_TEST_SURELY_UNSET"), "{error}");
    }
}
