//! What a source holds: its tables or collections, their columns or fields and types,
//! keys and indexes. The playground's schema browser and autocomplete read it
//! (`GET /api/sources/{name}/schema`).

use serde::Serialize;

/// A source's tables or collections, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schema {
    /// The tables, views or collections a query may read.
    pub tables: Vec<Table>,
}

/// One table, view or collection.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Table {
    /// Its name, as a query names it.
    pub name: String,
    /// `table`, `view` or `collection`.
    pub kind: &'static str,
    /// Its columns in the table's order; for a collection, the fields found in a sample
    /// of its documents, in the order they were first met.
    pub columns: Vec<Field>,
    /// Its indexes, where the database lists them cheaply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<Index>,
    /// For a collection: how many documents the fields were sampled from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<u64>,
}

/// One column, or one field of a collection's documents.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its type in the database's own words (`INTEGER`, `timestamp with time zone`,
    /// `text`, `objectId`); a sampled field met with several types lists them, `|`-separated.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Its part in the primary key: `primary` (SQL), `partition` or `clustering` (CQL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'static str>,
    /// Whether it may be null, where the database says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
}

/// An index of a table.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Index {
    /// Its name.
    pub name: String,
    /// The columns it covers, in order (empty for an expression the database does not
    /// name by column).
    pub columns: Vec<String>,
    /// Whether it enforces uniqueness.
    pub unique: bool,
}

impl Field {
    /// A column with its type and nothing else known.
    pub fn new(name: impl Into<String>, data_type: impl Into<String>) -> Self {
        Field {
            name: name.into(),
            data_type: data_type.into(),
            key: None,
            nullable: None,
        }
    }
}

impl Schema {
    /// Sorts the tables by name, for a stable listing.
    pub fn sorted(mut self) -> Self {
        self.tables.sort_by(|a, b| a.name.cmp(&b.name));
        self
    }
}
