//! Who may use the server: identities with a role, their tokens, and the browser sessions
//! they sign in to, in the store (see `db`).
//!
//! A token is shown once, when `quarry users add` makes it; only its SHA-256 is kept, so
//! neither the database nor a log can give it back. A session is a random id in an
//! `HttpOnly`, `SameSite=Strict` cookie, kept (as its hash) until sign-out, the user's
//! removal, or its expiry.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::db::{Db, DbError, unix_now};

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
    /// The store could not be read or written.
    #[error(transparent)]
    Database(#[from] DbError),
    /// No randomness for a token.
    #[error("cannot make a random token: {0}")]
    Random(String),
}

/// How long a browser session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The users, their tokens and sessions, in the store.
pub struct Users {
    db: Arc<Db>,
}

impl Users {
    /// The users in `db`.
    pub fn new(db: Arc<Db>) -> Users {
        Users { db }
    }

    /// Adds `name` with `role`; returns the token, which is not kept.
    pub async fn add(&self, name: &str, role: Role) -> Result<String, UserError> {
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
            .db
            .execute(
                "INSERT INTO users (name, role, token_sha256, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
                &[
                    name.into(),
                    role.name().into(),
                    sha256_hex(token.as_bytes()).into(),
                    crate::store::now_rfc3339().into(),
                ],
            )
            .await?;
        if added == 0 {
            return Err(UserError::Exists(name.to_owned()));
        }
        Ok(token)
    }

    /// Removes `name`, its token and its sessions.
    pub async fn remove(&self, name: &str) -> Result<(), UserError> {
        // CockroachDB may not cascade; the sessions go first either way.
        self.db
            .execute("DELETE FROM sessions WHERE \"user\" = $1", &[name.into()])
            .await?;
        let removed = self
            .db
            .execute("DELETE FROM users WHERE name = $1", &[name.into()])
            .await?;
        if removed == 0 {
            return Err(UserError::Unknown(name.to_owned()));
        }
        Ok(())
    }

    /// Everyone, by name.
    pub async fn list(&self) -> Result<Vec<User>, UserError> {
        let rows = self
            .db
            .query(
                "SELECT name, role, created_at FROM users ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows.into_iter().map(user_row).collect())
    }

    /// Whether anyone may sign in yet.
    pub async fn is_empty(&self) -> Result<bool, UserError> {
        let row = self.db.query_one("SELECT count(*) FROM users", &[]).await?;
        Ok(row.and_then(|r| r.first()?.int()).unwrap_or(0) == 0)
    }

    /// Whose token this is.
    pub async fn by_token(&self, token: &str) -> Result<Option<User>, UserError> {
        let row = self
            .db
            .query_one(
                "SELECT name, role, created_at FROM users WHERE token_sha256 = $1",
                &[sha256_hex(token.as_bytes()).into()],
            )
            .await?;
        Ok(row.map(user_row))
    }

    /// A new session for the owner of `token`: the session id for the cookie and the
    /// user, or `None` when the token is nobody's.
    pub async fn sign_in(&self, token: &str) -> Result<Option<(String, User)>, UserError> {
        let Some(user) = self.by_token(token).await? else {
            return Ok(None);
        };
        let id = random_hex()?;
        let expires = unix_now() + SESSION_LIFETIME.as_secs() as i64;
        self.db
            .execute(
                "DELETE FROM sessions WHERE expires_at < $1",
                &[unix_now().into()],
            )
            .await?;
        self.db
            .execute(
                "INSERT INTO sessions (id_sha256, \"user\", expires_at) VALUES ($1, $2, $3)",
                &[
                    sha256_hex(id.as_bytes()).into(),
                    (&user.name).into(),
                    expires.into(),
                ],
            )
            .await?;
        Ok(Some((id, user)))
    }

    /// Whose unexpired session this is.
    pub async fn by_session(&self, id: &str) -> Result<Option<User>, UserError> {
        let row = self
            .db
            .query_one(
                "SELECT u.name, u.role, u.created_at FROM sessions s
                 JOIN users u ON u.name = s.\"user\"
                 WHERE s.id_sha256 = $1 AND s.expires_at >= $2",
                &[sha256_hex(id.as_bytes()).into(), unix_now().into()],
            )
            .await?;
        Ok(row.map(user_row))
    }

    /// Ends a session.
    pub async fn sign_out(&self, id: &str) -> Result<(), UserError> {
        self.db
            .execute(
                "DELETE FROM sessions WHERE id_sha256 = $1",
                &[sha256_hex(id.as_bytes()).into()],
            )
            .await?;
        Ok(())
    }
}

/// `name, role, created_at`.
fn user_row(row: crate::db::Row) -> User {
    let mut columns = row.into_iter().map(|v| v.text().unwrap_or_default());
    let mut next = || columns.next().unwrap_or_default();
    let (name, role, created_at) = (next(), next(), next());
    User {
        name,
        // The schema allows only the three roles.
        role: role.parse().unwrap_or(Role::Viewer),
        created_at,
    }
}

/// 32 random bytes as hex.
fn random_hex() -> Result<String, UserError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| UserError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open(dir: &std::path::Path) -> Users {
        let url = crate::db::StoreUrl::parse(dir, None).unwrap();
        Users::new(Arc::new(Db::open(&url).await.unwrap()))
    }

    #[tokio::test]
    async fn a_token_finds_its_user_and_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let users = open(dir.path()).await;
        assert!(users.is_empty().await.unwrap());
        let token = users.add("ada", Role::Author).await.unwrap();
        assert!(token.starts_with("qry_") && token.len() == 68, "{token}");
        let ada = users.by_token(&token).await.unwrap().unwrap();
        assert_eq!(ada.role, Role::Author);
        assert_eq!(users.by_token("qry_wrong").await.unwrap(), None);
        assert!(matches!(
            users.add("ada", Role::Admin).await,
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            users.add("a b", Role::Admin).await,
            Err(UserError::BadName(_))
        ));
        drop(users);
        for file in ["quarry.db", "quarry.db-wal"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
        }
    }

    #[tokio::test]
    async fn sessions_end_with_sign_out_and_with_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let users = open(dir.path()).await;
        let token = users.add("grace", Role::Viewer).await.unwrap();
        let (session, user) = users.sign_in(&token).await.unwrap().unwrap();
        assert_eq!(user.name, "grace");
        let found = users.by_session(&session).await.unwrap().unwrap();
        assert_eq!(found.name, "grace");
        users.sign_out(&session).await.unwrap();
        assert_eq!(users.by_session(&session).await.unwrap(), None);
        let (session, _) = users.sign_in(&token).await.unwrap().unwrap();
        users.remove("grace").await.unwrap();
        assert_eq!(users.by_session(&session).await.unwrap(), None);
        assert_eq!(users.by_token(&token).await.unwrap(), None);
        assert!(matches!(
            users.remove("grace").await,
            Err(UserError::Unknown(_))
        ));
        // Reopening keeps the schema and runs no migration twice.
        drop(users);
        open(dir.path()).await;
    }
}
