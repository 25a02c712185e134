//! Who may use the server: identities with a role, their tokens, and the browser sessions
//! they sign in to, in `<data>/quarry.db` (SQLite, see `db`).
//!
//! A token is shown once, when `quarry users add` makes it; only its SHA-256 is kept, so
//! neither the database nor a log can give it back. A session is a random id in an
//! `HttpOnly`, `SameSite=Strict` cookie, kept (as its hash) until sign-out, the user's
//! removal, or its expiry.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use quarry_runtime::sha256_hex;

/// What an identity may do; each role may do everything the one before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Opens shared links, runs stored plugins and saved snippets, reads the library.
    Viewer,
    /// Also uploads plugins and scripts, runs free-form queries, shares.
    Author,
    /// Also deletes anything, manages users, sees every run.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Author, Role::Admin];

    /// The role's name in commands, `quarry.toml` and answers.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Author => "author",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = UserError;

    fn from_str(s: &str) -> Result<Role, UserError> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UserError::UnknownRole(s.to_owned()))
    }
}

/// Someone the server knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// The name given to `quarry users add`.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// When they were added, RFC 3339.
    pub created_at: String,
}

/// Why a users command or lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// Not viewer, author or admin.
    #[error("unknown role `{0}`: use viewer, author or admin")]
    UnknownRole(String),
    /// A name that is empty, too long, or has characters other than letters, digits, `.`, `_`, `-`, `@`.
    #[error("`{0}` is not a user name: use 1–64 letters, digits, `.`, `_`, `-` or `@`")]
    BadName(String),
    /// `users add` of a name that exists.
    #[error("a user named `{0}` exists already (`quarry users remove {0}` first)")]
    Exists(String),
    /// `users remove` of a name that does not exist.
    #[error("no user named `{0}`")]
    Unknown(String),
    /// The database could not be read or written.
    #[error("the users database {path}: {source}")]
    Database {
        /// The file.
        path: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// No randomness for a token.
    #[error("cannot make a random token: {0}")]
    Random(String),
}

/// How long a browser session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The users database.
pub struct Users {
    db: Mutex<Connection>,
    path: String,
}

impl Users {
    /// Opens the database `file` (see [`crate::store_file`]), creating it and bringing
    /// its schema up to date.
    pub fn open(file: &Path) -> Result<Users, UserError> {
        let (db, path) =
            crate::db::open(file).map_err(|(path, source)| UserError::Database { path, source })?;
        Ok(Users {
            db: Mutex::new(db),
            path,
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self, source: rusqlite::Error) -> UserError {
        UserError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// Adds `name` with `role`; returns the token, which is not kept.
    pub fn add(&self, name: &str, role: Role) -> Result<String, UserError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
        if !valid {
            return Err(UserError::BadName(name.to_owned()));
        }
        let token = format!("qry_{}", random_hex()?);
        let added = self
            .db()
            .execute(
                "INSERT INTO users (name, role, token_sha256, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO NOTHING",
                params![
                    name,
                    role.name(),
                    sha256_hex(token.as_bytes()),
                    crate::store::now_rfc3339()
                ],
            )
            .map_err(|e| self.failed(e))?;
        if added == 0 {
            return Err(UserError::Exists(name.to_owned()));
        }
        Ok(token)
    }

    /// Removes `name`, its token and its sessions.
    pub fn remove(&self, name: &str) -> Result<(), UserError> {
        let removed = self
            .db()
            .execute("DELETE FROM users WHERE name = ?1", [name])
            .map_err(|e| self.failed(e))?;
        if removed == 0 {
            return Err(UserError::Unknown(name.to_owned()));
        }
        Ok(())
    }

    /// Everyone, by name.
    pub fn list(&self) -> Result<Vec<User>, UserError> {
        let db = self.db();
        let mut statement = db
            .prepare("SELECT name, role, created_at FROM users ORDER BY name")
            .map_err(|e| self.failed(e))?;
        let rows = statement
            .query_map([], |r| {
                let role: String = r.get(1)?;
                Ok(User {
                    name: r.get(0)?,
                    role: role.parse().unwrap_or(Role::Viewer),
                    created_at: r.get(2)?,
                })
            })
            .map_err(|e| self.failed(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.failed(e))
    }

    /// Whether anyone may sign in yet.
    pub fn is_empty(&self) -> Result<bool, UserError> {
        let n: i64 = self
            .db()
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .map_err(|e| self.failed(e))?;
        Ok(n == 0)
    }

    /// Whose token this is.
    pub fn by_token(&self, token: &str) -> Result<Option<User>, UserError> {
        self.one(
            "SELECT name, role, created_at FROM users WHERE token_sha256 = ?1",
            &sha256_hex(token.as_bytes()),
        )
    }

    /// A new session for the owner of `token`: the session id for the cookie and the
    /// user, or `None` when the token is nobody's.
    pub fn sign_in(&self, token: &str) -> Result<Option<(String, User)>, UserError> {
        let Some(user) = self.by_token(token)? else {
            return Ok(None);
        };
        let id = random_hex()?;
        let expires = unix_now() + SESSION_LIFETIME.as_secs() as i64;
        let db = self.db();
        db.execute("DELETE FROM sessions WHERE expires_at < ?1", [unix_now()])
            .map_err(|e| self.failed(e))?;
        db.execute(
            "INSERT INTO sessions (id_sha256, user, expires_at) VALUES (?1, ?2, ?3)",
            params![sha256_hex(id.as_bytes()), user.name, expires],
        )
        .map_err(|e| self.failed(e))?;
        Ok(Some((id, user)))
    }

    /// Whose unexpired session this is.
    pub fn by_session(&self, id: &str) -> Result<Option<User>, UserError> {
        let db = self.db();
        db.query_row(
            "SELECT u.name, u.role, u.created_at FROM sessions s JOIN users u ON u.name = s.user
             WHERE s.id_sha256 = ?1 AND s.expires_at >= ?2",
            params![sha256_hex(id.as_bytes()), unix_now()],
            user_row,
        )
        .optional()
        .map_err(|e| self.failed(e))
    }

    /// Ends a session.
    pub fn sign_out(&self, id: &str) -> Result<(), UserError> {
        self.db()
            .execute(
                "DELETE FROM sessions WHERE id_sha256 = ?1",
                [sha256_hex(id.as_bytes())],
            )
            .map_err(|e| self.failed(e))?;
        Ok(())
    }

    fn one(&self, sql: &str, key: &str) -> Result<Option<User>, UserError> {
        self.db()
            .query_row(sql, [key], user_row)
            .optional()
            .map_err(|e| self.failed(e))
    }
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(1)?;
    Ok(User {
        name: r.get(0)?,
        role: role.parse().unwrap_or(Role::Viewer),
        created_at: r.get(2)?,
    })
}

/// 32 random bytes as hex.
fn random_hex() -> Result<String, UserError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| UserError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_finds_its_user_and_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(&dir.path().join("quarry.db")).unwrap();
        assert!(users.is_empty().unwrap());
        let token = users.add("ada", Role::Author).unwrap();
        assert!(token.starts_with("qry_") && token.len() == 68, "{token}");
        assert_eq!(users.by_token(&token).unwrap().unwrap().role, Role::Author);
        assert_eq!(users.by_token("qry_wrong").unwrap(), None);
        assert!(matches!(
            users.add("ada", Role::Admin),
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            users.add("a b", Role::Admin),
            Err(UserError::BadName(_))
        ));
        let file = std::fs::read(dir.path().join("quarry.db")).unwrap();
        assert!(!file.windows(token.len()).any(|w| w == token.as_bytes()));
    }

    #[test]
    fn sessions_end_with_sign_out_and_with_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(&dir.path().join("quarry.db")).unwrap();
        let token = users.add("grace", Role::Viewer).unwrap();
        let (session, user) = users.sign_in(&token).unwrap().unwrap();
        assert_eq!(user.name, "grace");
        assert_eq!(users.by_session(&session).unwrap().unwrap().name, "grace");
        users.sign_out(&session).unwrap();
        assert_eq!(users.by_session(&session).unwrap(), None);
        let (session, _) = users.sign_in(&token).unwrap().unwrap();
        users.remove("grace").unwrap();
        assert_eq!(users.by_session(&session).unwrap(), None);
        assert_eq!(users.by_token(&token).unwrap(), None);
        assert!(matches!(users.remove("grace"), Err(UserError::Unknown(_))));
        // Reopening keeps the schema and runs no migration twice.
        drop(users);
        Users::open(&dir.path().join("quarry.db")).unwrap();
    }
}
