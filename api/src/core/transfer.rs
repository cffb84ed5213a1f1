//! Moving an organization between databases: `dora-tracker export` writes everything of it as
//! NDJSON (`store::transfer::Record`, one per line: a header, the rows, an end line with the
//! counts), `dora-tracker import` writes a file back into any database, in one transaction,
//! and re-derives the outcomes. Secrets never leave: integrations come back with no delivery
//! secret (deliveries are refused until it is rotated) and deploy hooks with a secret nobody
//! knows (create them anew), webhook subscriptions inactive with no signing secret (rotate it,
//! then re-enable them); tokens are not exported (issue new ones).

use std::io::{BufRead, Write};

use crate::{
    domain::validate_slug,
    store::{
        self, Db,
        transfer::{Counts, FORMAT, Header, Record, VERSION},
    },
};

use super::{Error, hooks, now};

/// The longest line an import reads (a deployment with a long changelog is far below).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// Rows of one kind inserted together.
const BATCH: usize = 2_000;
/// Records between two progress reports.
pub const PROGRESS_EVERY: u64 = 10_000;

/// How an import treats an organization that already has data.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Delete what the organization has (except its tokens) and import in its place; without
    /// it, an organization with data is refused.
    pub replace: bool,
}

/// Writes the organization `slug` (or the only organization, when `None`) to `out`;
/// `progress` sees the counts every [`PROGRESS_EVERY`] records. Answers the counts.
pub async fn export_on_host(
    db: &Db,
    slug: Option<&str>,
    out: &mut impl Write,
    progress: &mut impl FnMut(&Counts),
) -> Result<Counts, Error> {
    let txn = db.begin_snapshot().await?;
    let slug = match slug {
        Some(slug) => {
            validate_slug(slug).map_err(|e| Error::invalid_parameter("org", e))?;
            slug.to_owned()
        }
        None => {
            let slugs = store::transfer::organization_slugs(&txn).await?;
            match slugs.as_slice() {
                [only] => only.clone(),
                [] => return Err(Error::NotFound("organization")),
                _ => {
                    return Err(Error::invalid_parameter(
                        "org",
                        format!(
                            "the database has several organizations ({}): name one",
                            slugs.join(", ")
                        ),
                    ));
                }
            }
        }
    };
    let organization = store::transfer::organization(&txn, &slug)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    let mut counts = Counts::new();
    let mut seen = 0_u64;
    let mut write = |record: &Record| -> Result<(), sea_orm::DbErr> {
        let line =
            serde_json::to_string(record).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
        writeln!(out, "{line}").map_err(|e| sea_orm::DbErr::Custom(format!("writing: {e}")))
    };
    write(&Record::Header(Header {
        format: FORMAT.to_owned(),
        version: VERSION,
        organization: slug.clone(),
        exported_at: now(),
    }))?;
    store::transfer::export(&txn, &organization, &mut |record| {
        let record = without_secrets(record);
        write(&record)?;
        *counts.entry(record.kind().to_owned()).or_default() += 1;
        seen += 1;
        if seen.is_multiple_of(PROGRESS_EVERY) {
            progress(&counts);
        }
        Ok(())
    })
    .await?;
    write(&Record::End(counts.clone()))?;
    txn.commit().await?;
    out.flush()
        .map_err(|e| Error::internal(format!("writing: {e}")))?;
    Ok(counts)
}

/// The record as it may leave the database: no delivery secrets, no hook secret hashes.
fn without_secrets(record: Record) -> Record {
    match record {
        Record::Integration(mut m) => {
            m.secret = String::new();
            m.previous_secret = None;
            m.previous_secret_expires_at = None;
            Record::Integration(m)
        }
        Record::DeployHook(mut m) => {
            m.secret_hash = String::new();
            Record::DeployHook(m)
        }
        // Sealed under this host's key, useless elsewhere: the subscription comes back
        // inactive, to be given a new secret (rotate) and re-enabled.
        Record::WebhookSubscription(mut m) => {
            m.secret = String::new();
            if m.active {
                m.active = false;
                m.disabled_reason = Some(super::outbound::EXPORTED_WITHOUT_SECRET.to_owned());
            }
            Record::WebhookSubscription(m)
        }
        other => other,
    }
}

/// Reads an export from `input` into `db` (migrated) in one transaction: nothing is written
/// unless every line is. `progress` sees the counts every [`PROGRESS_EVERY`] records.
/// Answers the organization's slug and the counts.
pub async fn import_on_host(
    db: &Db,
    input: &mut impl BufRead,
    options: ImportOptions,
    progress: &mut impl FnMut(&Counts),
) -> Result<(String, Counts), Error> {
    let mut lines = Lines {
        input,
        number: 0,
        buffer: Vec::new(),
    };
    let header = match lines.next() {
        Ok(Some(Record::Header(header))) => header,
        _ => {
            return Err(lines.error(format!(
                "not a dora-tracker export (the first line is not its `{FORMAT}` header)"
            )));
        }
    };
    if header.format != FORMAT || header.version != VERSION {
        return Err(lines.error(format!(
            "format `{}` version {} is not `{FORMAT}` version {VERSION}",
            header.format, header.version
        )));
    }
    validate_slug(&header.organization).map_err(|e| lines.error(format!("organization: {e}")))?;
    let Some(Record::Organization(mut organization)) = lines.next()? else {
        return Err(lines.error("the organization line must follow the header".to_owned()));
    };
    if organization.slug != header.organization {
        return Err(lines.error("the organization is not the header's".to_owned()));
    }

    let txn = db.begin_write().await?;
    let target = store::transfer::organization(&txn, &organization.slug).await?;
    let last_number = organization.last_deployment_number;
    let organization_id = match target {
        Some(existing) => {
            if store::transfer::has_data(&txn, existing.id).await? {
                if !options.replace {
                    return Err(Error::Conflict {
                        kind: "organization-has-data",
                        detail: format!(
                            "organization `{}` already has data in this database: import \
                             into an empty database, or pass --replace to delete its data \
                             first",
                            existing.slug
                        ),
                    });
                }
                store::transfer::clear(&txn, existing.id).await?;
            }
            existing.id
        }
        None => {
            let id = organization.id;
            organization.last_deployment_number = 0;
            store::transfer::insert(&txn, vec![Record::Organization(organization)]).await?;
            id
        }
    };

    let mut counts = Counts::new();
    counts.insert("organization".to_owned(), 1);
    let mut seen = 1_u64;
    let mut batch: Vec<Record> = Vec::new();
    let end = loop {
        let Some(mut record) = lines.next()? else {
            return Err(lines.error("the file ends before its end line (truncated?)".to_owned()));
        };
        match &record {
            Record::End(expected) => break expected.clone(),
            Record::Header(_) | Record::Organization(_) => {
                return Err(lines.error(format!("a second {} line", record.kind())));
            }
            _ => {}
        }
        record.set_organization(organization_id);
        if let Record::DeployHook(hook) = &mut record {
            // A secret nobody knows: the hook exists (and its history) but triggers nothing
            // until it is created anew.
            hook.secret_hash = hooks::hash_secret(&hooks::new_secret());
        }
        if batch.first().is_some_and(|b| b.kind() != record.kind()) || batch.len() >= BATCH {
            store::transfer::insert(&txn, std::mem::take(&mut batch))
                .await
                .map_err(|e| lines.error(format!("writing: {e}")))?;
        }
        *counts.entry(record.kind().to_owned()).or_default() += 1;
        seen += 1;
        batch.push(record);
        if seen.is_multiple_of(PROGRESS_EVERY) {
            progress(&counts);
        }
    };
    store::transfer::insert(&txn, batch)
        .await
        .map_err(|e| lines.error(format!("writing: {e}")))?;
    if end != counts {
        return Err(lines.error(format!(
            "the end line counts {end:?} but the file holds {counts:?}"
        )));
    }
    if lines.next()?.is_some() {
        return Err(lines.error("lines after the end line".to_owned()));
    }
    store::transfer::set_last_number(&txn, organization_id, last_number).await?;
    store::outcomes::organization_rederived(&txn, organization_id).await?;
    txn.commit().await?;
    Ok((header.organization, counts))
}

/// The records of an export, one per line, with the line number for messages.
struct Lines<'a, R> {
    input: &'a mut R,
    number: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> Lines<'_, R> {
    fn next(&mut self) -> Result<Option<Record>, Error> {
        loop {
            self.buffer.clear();
            let mut limited =
                <&mut R as std::io::Read>::take(&mut *self.input, MAX_LINE_BYTES as u64 + 1);
            let read = limited
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| Error::internal(format!("reading: {e}")))?;
            if read == 0 {
                return Ok(None);
            }
            self.number += 1;
            if self.buffer.len() > MAX_LINE_BYTES {
                return Err(self.error(format!("longer than {MAX_LINE_BYTES} bytes")));
            }
            let line = self.buffer.trim_ascii();
            if line.is_empty() {
                continue;
            }
            return serde_json::from_slice(line)
                .map(Some)
                .map_err(|e| self.error(e.to_string()));
        }
    }

    fn error(&self, message: String) -> Error {
        Error::BadRequest {
            kind: "invalid-export",
            detail: format!("line {}: {message}", self.number),
        }
    }
}
