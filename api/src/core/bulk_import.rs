//! Bulk import (`POST /api/v1/deployments/import`, scope `ingest`): batches of validated
//! lines, each batch written in one transaction with multi-row statements
//! (`store::bulk_import`). A line is the canonical create body plus an optional `external_id`
//! that makes it idempotent within the organization.
//!
//! What stays as one create by one: the same validated `NewDeployment`, repositories and
//! members created on first use, numbers unique and increasing, commits flagged `shared`, the
//! derived outcomes re-derived in the same transaction (once per stretch of each stream the
//! batch touches, not per line). What differs: no idempotency key (the `external_id` plays its
//! part), and no outbound `deployment` event: an import is history, not news.
//!
//! A line refused for its repository (a repository-restricted credential) is an error line,
//! and the batch goes on without it. When the batch's write fails (a concurrent import stored
//! the same `external_id` first, say), it is rolled back and its lines are written one by
//! one, so one line's failure loses only that line.

use std::collections::HashMap;

use entity::repositories;
use uuid::Uuid;

use super::{
    Core, Error,
    access::{WriteFor, authorize_write},
    now,
};
use crate::{
    auth::{Principal, Scope},
    domain::{FieldError, NewDeployment},
    store::{
        self,
        bulk_import::BatchRow,
        organizations::{ensure_member, ensure_repository, set_team},
    },
};

/// Lines per batch at most: one transaction.
pub const BATCH_LINES: usize = 1000;

/// Commits per batch at most (on PostgreSQL a batch takes one advisory lock per stream and
/// sha, and the server's lock table is shared by every transaction).
pub const BATCH_COMMITS: usize = 4000;

/// A valid line: its deployment and `external_id`.
#[derive(Debug, Clone)]
pub struct ImportLine {
    /// The line's number in the body, from 1.
    pub line: u64,
    pub external_id: Option<String>,
    pub deployment: NewDeployment,
}

/// What became of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineResult {
    Created(Uuid),
    /// Its `external_id` was stored already (by an earlier line or import): nothing recorded.
    Exists(Uuid),
    Error(Vec<FieldError>),
}

/// Whether the principal may import at all (scope `ingest`); checked before the body is read.
pub fn authorize(principal: &Principal) -> Result<(), Error> {
    Ok(principal.require(Scope::Ingest)?)
}

/// Records a batch of valid lines (at most [`BATCH_LINES`]) for the principal's organization
/// and answers what became of each, in order. `Err` only when the database is unreachable.
pub async fn import_batch(
    core: &Core,
    principal: &Principal,
    lines: &[ImportLine],
) -> Result<Vec<(u64, LineResult)>, Error> {
    authorize(principal)?;
    let mut results: Vec<Option<LineResult>> = vec![None; lines.len()];
    // The repository restriction, once per repository of the batch.
    let mut allowed: HashMap<&str, Option<String>> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        let key = line.deployment.repository.key.as_str();
        if !allowed.contains_key(key) {
            let refused = match authorize_write(core.db.read(), principal, WriteFor::Key(key)).await
            {
                Ok(()) => None,
                Err(Error::Forbidden(denied)) => Some(denied.to_string()),
                Err(other) => return Err(other),
            };
            allowed.insert(key, refused);
        }
        if let Some(Some(message)) = allowed.get(key) {
            results[i] = Some(LineResult::Error(vec![FieldError::new(
                "repository_url",
                message.clone(),
            )]));
        }
    }
    // A repeated external id within the batch: the first line writes, the others exist.
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    let mut repeats: Vec<(usize, usize)> = Vec::new();
    let mut to_write: Vec<usize> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if results[i].is_some() {
            continue;
        }
        if let Some(external_id) = line.external_id.as_deref() {
            if let Some(&first) = first_of.get(external_id) {
                repeats.push((i, first));
                continue;
            }
            first_of.insert(external_id, i);
        }
        to_write.push(i);
    }
    let org = principal.organization_id;
    let batch: Vec<&ImportLine> = to_write.iter().map(|&i| &lines[i]).collect();
    match write(core, org, &batch).await {
        Ok(written) => {
            for (&i, result) in to_write.iter().zip(written) {
                results[i] = Some(result);
            }
        }
        Err(e) if store::db::is_unavailable(&e) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, lines = batch.len(), "import batch failed; writing its lines one by one");
            for (&i, line) in to_write.iter().zip(&batch) {
                results[i] = Some(match write(core, org, &[*line]).await {
                    Ok(mut one) => one.pop().unwrap_or_else(not_stored),
                    Err(e) if store::db::is_unavailable(&e) => return Err(e.into()),
                    Err(e) => {
                        tracing::warn!(error = %e, line = line.line, "import line not stored");
                        not_stored()
                    }
                });
            }
        }
    }
    for (i, first) in repeats {
        results[i] = Some(match &results[first] {
            Some(LineResult::Created(id) | LineResult::Exists(id)) => LineResult::Exists(*id),
            Some(LineResult::Error(errors)) => LineResult::Error(errors.clone()),
            None => not_stored(),
        });
    }
    Ok(lines
        .iter()
        .zip(results)
        .map(|(line, result)| (line.line, result.unwrap_or_else(not_stored)))
        .collect())
}

fn not_stored() -> LineResult {
    LineResult::Error(vec![FieldError::new("$", "the line could not be stored")])
}

/// Writes `lines` in one transaction.
async fn write(
    core: &Core,
    org: Uuid,
    lines: &[&ImportLine],
) -> Result<Vec<LineResult>, sea_orm::DbErr> {
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let now = now();
    // Before the transaction (see `store::deployments::reserve_number`).
    let reserved = store::deployments::reserve_numbers(&core.db, org, lines.len()).await?;
    let txn = core.db.begin_write().await?;
    let first_number = match reserved {
        Some(first) => first,
        None => store::deployments::take_numbers(&txn, org, lines.len()).await?,
    };
    let external_ids: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.external_id.as_deref())
        .collect();
    let existing = store::bulk_import::existing_external_ids(&txn, org, &external_ids).await?;

    // Repositories and members, once per batch.
    let mut teams: HashMap<&str, Option<&str>> = HashMap::new();
    for line in lines {
        let team = teams
            .entry(line.deployment.repository.key.as_str())
            .or_default();
        if let Some(t) = line.deployment.team.as_deref() {
            *team = Some(t);
        }
    }
    let mut repositories: HashMap<&str, repositories::Model> = HashMap::new();
    for line in lines {
        let reference = &line.deployment.repository;
        if repositories.contains_key(reference.key.as_str()) {
            continue;
        }
        let team = teams.get(reference.key.as_str()).copied().flatten();
        let repository = match (core.known.repository(org, &reference.key), team) {
            (Some(stored), Some(team)) => {
                set_team(&txn, stored.id, team).await?;
                stored
            }
            (Some(stored), None) => stored,
            (None, _) => ensure_repository(&txn, org, reference, team, now).await?,
        };
        repositories.insert(reference.key.as_str(), repository);
    }
    let mut members: HashMap<&str, Uuid> = HashMap::new();
    for line in lines {
        if let Some(external) = line.deployment.member_external_id.as_deref()
            && !members.contains_key(external)
        {
            let id = match core.known.member(org, external) {
                Some(id) => id,
                None => ensure_member(&txn, org, external, now).await?,
            };
            members.insert(external, id);
        }
    }

    let mut results = Vec::with_capacity(lines.len());
    let mut rows: Vec<BatchRow<'_>> = Vec::new();
    let mut one_by_one: Vec<(usize, i64)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(id) = line.external_id.as_deref().and_then(|e| existing.get(e)) {
            results.push(LineResult::Exists(*id));
            continue;
        }
        let number = first_number + i as i64;
        let new = &line.deployment;
        if new.commits.is_empty() {
            // Its commits come from the recorded pushes, as for one create.
            one_by_one.push((i, number));
            results.push(LineResult::Error(Vec::new()));
            continue;
        }
        let id = Uuid::now_v7();
        rows.push(BatchRow {
            id,
            number,
            repository_id: repositories[new.repository.key.as_str()].id,
            pusher_id: new
                .member_external_id
                .as_deref()
                .and_then(|m| members.get(m).copied()),
            new,
            external_id: line.external_id.as_deref(),
        });
        results.push(LineResult::Created(id));
    }
    store::bulk_import::insert_batch(&txn, org, &rows, now).await?;
    for (i, number) in one_by_one {
        let line = lines[i];
        // An import tells nobody (no events): the verdicts it changed are not passed on.
        let (record, _changes) =
            store::deployments::insert(&txn, org, &line.deployment, now, &core.known, Some(number))
                .await?;
        if let Some(external_id) = line.external_id.as_deref() {
            store::bulk_import::set_external_id(&txn, record.deployment.id, external_id).await?;
        }
        results[i] = LineResult::Created(record.deployment.id);
    }
    txn.commit().await?;
    remember(core, &repositories, &members);
    Ok(results)
}

/// Remembers the batch's repositories and members (after its commit).
fn remember(
    core: &Core,
    repositories: &HashMap<&str, repositories::Model>,
    members: &HashMap<&str, Uuid>,
) {
    let Some(any) = repositories.values().next() else {
        return;
    };
    for repository in repositories.values() {
        core.known.remember(repository, None);
    }
    for (external, id) in members {
        core.known.remember(any, Some((*id, external)));
    }
}
