//! Raw statements for the queries sea-orm's builder does not express, with placeholders in the
//! backend's own spelling (`$n` on PostgreSQL, positional `?` on SQLite). Values are bound in
//! the order their placeholders appear in the text, so both spellings bind the same.

use sea_orm::{DbBackend, Statement, Value};

pub(crate) struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub(crate) fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            text: String::with_capacity(512),
            values: Vec::new(),
        }
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.backend
    }

    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
            _ => self.text.push('?'),
        }
        self
    }

    /// Appends comma-separated placeholders for `values` (the inside of an `IN (…)`).
    pub(crate) fn bind_list<V: Into<Value>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self
    }

    pub(crate) fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// A PostgreSQL array literal of `items` (every element quoted), bound as text and cast
/// (`$n::text[]`, `$n::uuid[]`, …): one parameter whatever the number of items, so the
/// statement's shape stays the same and sqlx's statement cache hits. In a condition, spell
/// it `col = ANY(ARRAY(SELECT unnest($n::text[])))`: the cast from text is not folded at
/// planning (`array_in` is only stable), and a bare `ANY($n::text[])` left as a filter would
/// parse the whole literal again for every row it tests (seen: 90 s for 60,000 rows).
pub(crate) fn pg_array<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut out = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.as_ref().chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// A time as PostgreSQL stores it when sqlx binds it (whole microseconds since 2000-01-01,
/// truncated towards that epoch), in RFC 3339.
pub(crate) fn pg_time(t: chrono::DateTime<chrono::Utc>) -> String {
    let epoch = chrono::DateTime::<chrono::Utc>::from_timestamp(946_684_800, 0).unwrap_or_default();
    let stored = (t - epoch)
        .num_microseconds()
        .map_or(t, |us| epoch + chrono::TimeDelta::microseconds(us));
    stored.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
