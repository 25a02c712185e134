//! `quarry users`: the identities `quarry serve --auth token` lets in.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;

use quarry_server::users::{Role, Users};

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user; prints their token once, on the last line (only its hash is kept).
    Add {
        /// A name of letters, digits, `.`, `_`, `-` or `@`.
        name: String,
        /// What they may do: viewer (run stored plugins and saved snippets, read the
        /// library), author (also upload, share, run their own queries), admin (also
        /// delete, manage users, see every run).
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List the users and their roles.
    List,
    /// Remove a user: their token and sessions stop working at once.
    Remove {
        /// The user's name.
        name: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|e: quarry_server::users::UserError| e.to_string())
}

pub(crate) async fn users(
    data_dir: &Path,
    store: Option<&str>,
    command: UsersCommand,
) -> anyhow::Result<ExitCode> {
    let url = quarry_server::StoreUrl::parse(data_dir, store)?;
    let users = Users::new(Arc::new(quarry_server::Db::open(&url).await?));
    match command {
        UsersCommand::Add { name, role } => {
            let token = users.add(&name, role).await?;
            eprintln!(
                "added {name} ({}); their token, shown this once:",
                role.name()
            );
            println!("{token}");
        }
        UsersCommand::List => {
            for user in users.list().await? {
                println!("{}\t{}\t{}", user.name, user.role.name(), user.created_at);
            }
        }
        UsersCommand::Remove { name } => {
            users.remove(&name).await?;
            eprintln!("removed {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
