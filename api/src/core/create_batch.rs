//! The batch write of group commit (`core::group_commit`): the creates of one transaction
//! written together with multi-row statements, each answered as it would be alone.

use std::collections::{BTreeMap, HashMap};

use entity::repositories;
use futures_util::future::BoxFuture;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::{Core, Error, idempotency::Key, now};
use crate::{
    domain::NewDeployment,
    store::{
        self,
        bulk_import::BatchRow,
        deployments::DeploymentRecord,
        idempotency::StoredResponse,
        organizations::{ensure_member, ensure_repository, set_team},
    },
};

/// What became of a create the batch write took.
pub(crate) enum Written {
    /// Written: answer once the transaction has committed.
    Wrote,
    /// Its key's stored answer is its answer (it wrote nothing).
    Replayed,
    /// Refused (its key was used with another request): its error is its answer.
    Refused(Error),
}

/// A create as [`write_batch`] sees it (`core::group_commit` holds its members as trait
/// objects, whatever their response type).
pub(crate) trait BatchCreate: Send + Sync {
    fn org(&self) -> Uuid;
    fn key(&self) -> Option<&Key>;
    fn new_deployment(&self) -> &NewDeployment;
    /// Its number reserved before the transaction (PostgreSQL), if any.
    fn reserved(&self) -> Option<i64>;
    /// Whether the batch write can write it: explicit commits (none to infer from pushes)
    /// and no GitHub-only details.
    fn fits(&self) -> bool;
    fn core(&self) -> &Core;
    /// Forgets the answer of an attempt that was rolled back.
    fn reset(&mut self);
    /// Claims its key as one create does (`idempotency::begin`): `true` when it replays a
    /// stored answer (then set as its answer), `false` when the key is now its own.
    fn claim<'a>(&'a mut self, txn: &'a DatabaseTransaction) -> BoxFuture<'a, Result<bool, Error>>;
    /// Takes the record written for it as its answer; answers the response to store with its
    /// key.
    fn written(&mut self, record: DeploymentRecord) -> StoredResponse;
}

/// Writes the members of a batch that fit ([`BatchCreate::fits`]) together in `txn`, with
/// multi-row statements (`store::bulk_import::insert_batch`, which re-derives the outcomes
/// once per stretch of each stream): the idempotency claims in one statement, the numbers
/// taken at once, the repositories and members once each, the deployments and their commits,
/// the stored answers in one statement. Every answer is the one the member would get alone,
/// run in batch order.
///
/// `creates` are the batch's members that are creates, with their places in the batch.
/// Answers, per place, `Some` outcome for a create this wrote, replayed or refused, `None`
/// for a member left to run alone in a savepoint after it: one that does not fit, or of an organization with an active
/// webhook subscription (its events and changed verdicts are written one create at a time,
/// as today). `Err`: the caller rolls the whole transaction back (and runs the batch the
/// one-by-one way).
pub(crate) async fn write_batch(
    txn: &DatabaseTransaction,
    places: usize,
    creates: Vec<(usize, &mut dyn BatchCreate)>,
) -> Result<Vec<Option<Written>>, Error> {
    let mut results: Vec<Option<Written>> = (0..places).map(|_| None).collect();
    let mut creates: Vec<(usize, &mut dyn BatchCreate)> =
        creates.into_iter().filter(|(_, c)| c.fits()).collect();
    if creates.len() < 2 {
        return Ok(results);
    }
    for (_, create) in creates.iter_mut() {
        create.reset();
    }
    // Organizations with a subscription: their creates emit events, one by one.
    let mut orgs: Vec<Uuid> = creates.iter().map(|(_, c)| c.org()).collect();
    orgs.sort_unstable();
    orgs.dedup();
    let mut quiet = Vec::new();
    for org in orgs {
        if store::outbox::active_subscriptions(txn, org)
            .await?
            .is_empty()
        {
            quiet.push(org);
        }
    }
    creates.retain(|(_, c)| quiet.contains(&c.org()));
    if creates.len() < 2 {
        return Ok(results);
    }
    let now = now();

    // The idempotency claims, fresh keys in one statement.
    let claimed = {
        let keys: Vec<(Uuid, &str, &str)> = creates
            .iter()
            .filter_map(|(_, c)| {
                c.key()
                    .map(|k| (c.org(), k.as_str(), k.request_fingerprint()))
            })
            .collect();
        store::idempotency::claim_fresh(txn, &keys, now).await?
    };
    let mut writing: Vec<(usize, &mut dyn BatchCreate)> = Vec::with_capacity(creates.len());
    for (i, create) in creates {
        let fresh = match create.key() {
            Some(key) => claimed.contains(&(create.org(), key.as_str().to_owned())),
            None => true,
        };
        if fresh {
            writing.push((i, create));
            continue;
        }
        match create.claim(txn).await {
            Ok(false) => writing.push((i, create)),
            Ok(true) => results[i] = Some(Written::Replayed),
            // A database error aborts the transaction on PostgreSQL: the batch is lost.
            Err(e @ (Error::Unavailable(_) | Error::Internal(_) | Error::Contended(_))) => {
                return Err(e);
            }
            Err(e) => results[i] = Some(Written::Refused(e)),
        }
    }

    let mut by_org: BTreeMap<Uuid, Vec<(usize, &mut dyn BatchCreate)>> = BTreeMap::new();
    for (i, create) in writing {
        by_org.entry(create.org()).or_default().push((i, create));
    }
    let mut answers: Vec<(Uuid, String, StoredResponse)> = Vec::new();
    for (org, mut creates) in by_org {
        let wrote = write_organization(txn, org, &mut creates, now).await?;
        for ((i, create), record) in creates.into_iter().zip(wrote) {
            let stored = create.written(record);
            if let Some(key) = create.key() {
                answers.push((org, key.as_str().to_owned(), stored));
            }
            results[i] = Some(Written::Wrote);
        }
    }
    let answers: Vec<(Uuid, &str, StoredResponse)> = answers
        .iter()
        .map(|(org, key, stored)| (*org, key.as_str(), stored.clone()))
        .collect();
    store::idempotency::complete_many(txn, &answers).await?;
    Ok(results)
}

/// The deployments of one organization's creates of a batch, written in `txn` as
/// `store::deployments::insert` writes them one after another: answers their records, in
/// order.
async fn write_organization(
    txn: &DatabaseTransaction,
    org: Uuid,
    creates: &mut [(usize, &mut dyn BatchCreate)],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<DeploymentRecord>, Error> {
    let Some((_, first)) = creates.first() else {
        return Ok(Vec::new());
    };
    let core = first.core().clone();
    let unnumbered = creates
        .iter()
        .filter(|(_, c)| c.reserved().is_none())
        .count();
    let mut next = match unnumbered {
        0 => 0,
        n => store::deployments::take_numbers(txn, org, n).await?,
    };
    // Repositories: each as the create at its turn would see it (a team a create gives is
    // written, and the later ones of the batch see it).
    let mut current: HashMap<String, repositories::Model> = HashMap::new();
    let mut members: HashMap<String, Uuid> = HashMap::new();
    let mut rows_of: Vec<(Uuid, i64, repositories::Model, Option<Uuid>)> = Vec::new();
    for (_, create) in creates.iter() {
        let new = create.new_deployment();
        let key = new.repository.key.as_str();
        let team = new.team.as_deref();
        let repository = match current.get_mut(key) {
            None => {
                let repository = match (core.known.repository(org, key), team) {
                    (Some(stored), Some(team)) => {
                        set_team(txn, stored.id, team).await?;
                        repositories::Model {
                            team: Some(team.to_owned()),
                            ..stored
                        }
                    }
                    _ => ensure_repository(txn, org, &new.repository, team, now).await?,
                };
                current.insert(key.to_owned(), repository.clone());
                repository
            }
            Some(seen) => {
                if let Some(team) = team
                    && seen.team.as_deref() != Some(team)
                {
                    set_team(txn, seen.id, team).await?;
                    seen.team = Some(team.to_owned());
                }
                seen.clone()
            }
        };
        let pusher_id = match new.member_external_id.as_deref() {
            Some(external) => Some(match members.get(external) {
                Some(id) => *id,
                None => {
                    let id = match core.known.member(org, external) {
                        Some(id) => id,
                        None => ensure_member(txn, org, external, now).await?,
                    };
                    members.insert(external.to_owned(), id);
                    id
                }
            }),
            None => None,
        };
        let number = match create.reserved() {
            Some(number) => number,
            None => {
                let number = next;
                next += 1;
                number
            }
        };
        rows_of.push((Uuid::now_v7(), number, repository, pusher_id));
    }
    let rows: Vec<BatchRow<'_>> = creates
        .iter()
        .zip(&rows_of)
        .map(
            |((_, create), (id, number, repository, pusher_id))| BatchRow {
                id: *id,
                number: *number,
                repository_id: repository.id,
                pusher_id: *pusher_id,
                new: create.new_deployment(),
                external_id: None,
            },
        )
        .collect();
    store::bulk_import::insert_batch(txn, org, &rows, now).await?;
    drop(rows);
    let ids: Vec<Uuid> = rows_of.iter().map(|(id, ..)| *id).collect();
    let (mut stored, shared) = store::deployments::written(txn, &ids).await?;
    let mut records = Vec::with_capacity(creates.len());
    for ((_, create), (id, _, repository, _)) in creates.iter().zip(rows_of) {
        let new = create.new_deployment();
        let deployment = stored
            .remove(&id)
            .ok_or_else(|| Error::internal("a deployment of the batch was not stored"))?;
        let commits = new
            .commits
            .iter()
            .map(|c| entity::deployment_commits::Model {
                deployment_id: id,
                sha: c.sha.clone(),
                committed_at: c.committed_at,
                shared: shared.get(&(id, c.sha.clone())).copied().unwrap_or(false),
            })
            .collect();
        records.push(DeploymentRecord {
            deployment,
            repository,
            member_external_id: new.member_external_id.clone(),
            commits,
        });
    }
    Ok(records)
}
